"""The notebooks are stored clean: outputs only where nbval compares them, no execution counts or noise."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("notebook_tools", ROOT / "tools" / "notebooks.py")
assert spec and spec.loader
notebook_tools = importlib.util.module_from_spec(spec)
sys.modules["notebook_tools"] = notebook_tools
spec.loader.exec_module(notebook_tools)


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
