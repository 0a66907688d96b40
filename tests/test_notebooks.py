"""The notebooks are stored clean: outputs only where nbval compares them, no execution counts or noise."""

from __future__ import annotations

from tests.tooling import ROOT, load_tool

notebook_tools = load_tool("notebooks")


def test_notebooks_are_stored_clean() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "the notebooks are part of the tests"
    assert [p for path in notebooks for p in notebook_tools.problems(path)] == []


def test_checked_cells_have_outputs_to_compare() -> None:
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and notebook_tools.CHECK in cell.source:
                assert cell.outputs, f"{path.name} cell {i} is compared by nbval but stores no output"
