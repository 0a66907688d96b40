"""The notebooks: stored clean (nbval's checks as cell tags, no stale run-specific values), and each
runs twice in a row against one real server with the same checked outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from tests.tooling import ROOT, load_script, load_tool

notebook_tools = load_tool("notebooks")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_stored_clean() -> None:
    assert NOTEBOOKS, "the notebooks are part of the tests"
    assert [p for path in NOTEBOOKS for p in notebook_tools.problems(path)] == []


def test_checked_cells_have_outputs_to_compare() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        for i, cell in enumerate(nb.cells):
            if notebook_tools.checked(cell):
                assert cell.outputs, f"{path.name} cell {i} is compared by nbval but stores no output"
                assert cell.execution_count is not None, f"{path.name} cell {i}: nbval skips an unrun cell"


def test_the_check_finds_scaffolding_and_run_specific_values(tmp_path: Path) -> None:
    """What a reader must not see: nbval comments in the code, a past run's address in an output."""
    v4 = nbformat.v4
    nb = v4.new_notebook(  # type: ignore[no-untyped-call]
        cells=[
            v4.new_code_cell("# NBVAL_CHECK_OUTPUT\n1 + 1"),  # type: ignore[no-untyped-call]
            v4.new_code_cell(  # type: ignore[no-untyped-call]
                "%lift_connect --list",
                execution_count=1,
                metadata={"tags": ["nbval-check-output"]},
                outputs=[v4.new_output("stream", name="stdout", text="* nb: 127.0.0.1:40855\n")],  # type: ignore[no-untyped-call]
            ),
        ]
    )
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]
    found = notebook_tools.problems(path)
    assert any("cell 0 has an nbval comment" in p for p in found), found
    assert any("cell 1 stores a run-specific value" in p for p in found), found
    cleaned = notebook_tools.clean(nbformat.read(path, as_version=4))  # type: ignore[no-untyped-call]
    assert cleaned.cells[1].outputs[0].text == "* nb: HOST:PORT\n"  # stored as nbval compares it
    assert cleaned.cells[1].metadata == {"tags": ["nbval-check-output"]}


def _checked_outputs(nb: nbformat.NotebookNode) -> list[tuple[int, list[str]]]:
    """What nbval compares, as it compares it: the checked cells' text outputs, sanitized; and the
    error of each cell meant to fail."""
    patterns = notebook_tools.sanitizers()
    shown = []
    for i, cell in enumerate(nb.cells):
        if notebook_tools.checked(cell) or notebook_tools.RAISES in notebook_tools.tags(cell):
            texts = [t for output in cell.outputs for t in notebook_tools.output_texts(output)]
            shown.append((i, [notebook_tools.sanitize(t, patterns) for t in texts]))
    return shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_twice_in_a_row_against_one_server(path: Path, server_address: str, tmp_path: Path) -> None:
    """ "Restart Kernel and Run All", twice: no cell fails the second time, and what nbval compares is
    the same both times (a fresh kernel each run, as nbval and nbclient start one)."""
    execute = load_script("notebook_server").execute
    env = {
        **os.environ,
        "LIFTBRIDGE_ADDRESS": server_address,
        "TQDM_DISABLE": "1",
        "PYTHONPATH": str(ROOT),  # this tree's liftbridge_nb
    }
    runs = []
    for _ in range(2):
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        execute(nb, tmp_path, env=env)  # a failing cell (not tagged raises-exception) raises
        runs.append(_checked_outputs(nb))
    assert runs[0], "nothing compared"
    assert runs[1] == runs[0]
