"""`make lab` (scripts/lab.py): a scratch copy of the notebooks under build/, and what a user sees in
JupyterLab in a real browser (Debian's Chromium, Playwright): one screenshot per case in CASES."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page

from tests.browser import SHOTS, chromium_page, dismiss_news, open_notebook, running_lab
from tests.polling import wait_for
from tests.tooling import ROOT, load_script

lab = load_script("lab")


def test_make_lab_serves_a_scratch_copy_under_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make lab` runs: Lab's root is a copy under build/, never notebooks/, and it says so."""
    started: list[list[str]] = []

    def call(command: list[str]) -> int:
        started.append(command)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    assert lab.main() == 0  # a real server starts and stops; JupyterLab's command is recorded
    (command,) = started
    (root,) = [Path(arg.split("=", 1)[1]) for arg in command if arg.startswith("--ServerApp.root_dir=")]
    assert root == ROOT / "build" / "lab" / "notebooks"
    stored = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert stored <= {p.name for p in root.glob("*.ipynb")}  # and any notebook you made there
    printed = capsys.readouterr().out
    assert "build/lab/notebooks/, a scratch copy of notebooks/" in printed
    assert all(f"={ROOT / 'notebooks'}" not in arg for arg in command)


def test_sync_copies_without_outputs_and_keeps_your_edits(tmp_path: Path) -> None:
    source, target = tmp_path / "notebooks", tmp_path / "lab"
    source.mkdir()
    v4 = nbformat.v4
    result = v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)  # type: ignore[no-untyped-call]
    cell = v4.new_code_cell("1 + 1", execution_count=1, outputs=[result])  # type: ignore[no-untyped-call]
    for name in ("a", "b"):
        nbformat.write(v4.new_notebook(cells=[cell]), source / f"{name}.ipynb")  # type: ignore[no-untyped-call]
    assert lab.sync(source, target) == lab.Synced(["a.ipynb", "b.ipynb"], [])
    copy = nbformat.read(target / "a.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    assert copy.cells[0].outputs == [] and copy.cells[0].execution_count is None  # no stale results

    # You change a in Lab; the repository's b changes: a is kept, b is refreshed.
    copy.cells[0].source = "my work"
    nbformat.write(copy, target / "a.ipynb")  # type: ignore[no-untyped-call]
    changed = v4.new_notebook(cells=[v4.new_code_cell("2 + 2")])  # type: ignore[no-untyped-call]
    nbformat.write(changed, source / "b.ipynb")  # type: ignore[no-untyped-call]
    assert lab.sync(source, target) == lab.Synced(["b.ipynb"], ["a.ipynb"])
    assert nbformat.read(target / "a.ipynb", as_version=4).cells[0].source == "my work"  # type: ignore[no-untyped-call]
    assert nbformat.read(target / "b.ipynb", as_version=4).cells[0].source == "2 + 2"  # type: ignore[no-untyped-call]
    assert set(json.loads((target / lab.COPIES).read_text())) == {"a.ipynb", "b.ipynb"}

    (target / "a.ipynb").unlink()  # deleting a copy brings a fresh one
    assert lab.sync(source, target) == lab.Synced(["a.ipynb", "b.ipynb"], [])


@dataclass(frozen=True)
class Case:
    """One cell as a user types it in JupyterLab, and a text its output must show before the picture."""

    name: str  # the screenshot: build/screenshots/cells/NAME.png
    code: str
    shows: str


STREAM = "screenshots"
SETUP = (
    f"%load_ext liftbridge_nb\n%lift_connect --alias lab\n%lift_create {STREAM} --partitions 3 --exist-ok\n"
    f"%lift_create {STREAM}-wide --partitions 24 --exist-ok"
)
# Add a case here to get its picture; each runs in its own cell, in this order, after SETUP.
CASES = [
    Case("magic-error", "%lift_delete no-such-stream", "ErrNoSuchStream"),
    Case("lift-create-exist-ok", f"%lift_create {STREAM} --exist-ok", "exists already"),
    Case(
        "lift-publish-lines",
        f'%%lift_publish {STREAM} --lines --json --partition 0\n{{"order": 1, "customer": "ada"}}\n'
        f'{{"order": 2, "customer": "bob"}}',
        "published 2 message(s)",
    ),
    Case("lift-streams", f"%lift_streams {STREAM}*", STREAM),
    Case("lift-read", f"%lift_read {STREAM} --partition 0 --no-progress", "value.customer"),
    # Issue 15's fixed cases, as a user sees them.
    Case(  # a display limit of 5, so that the whole table and its note fit in the picture
        "streams-all-rows",
        "%config LiftMagics.display_limit = 5\n"
        f"streams = %lift_streams {STREAM}-wide\nprint(len(streams))\nstreams",
        "showing 5 of 24",
    ),
    Case("streams-nothing-matched", "%lift_streams nothing-by-that-name*", "no stream matches"),
    Case(
        "publish-verbatim",
        f'%lift_publish {STREAM} --partition 1 --key bob {{"order": 99, "who": "bob"}}',
        "published 1",
    ),
    Case(
        "publish-template",
        f"amount = 21\n%lift_publish {STREAM} --partition 1 {{{{ amount * 2 }}}}",
        "published 1",
    ),
    Case(
        "publish-template-refused",
        f"%lift_publish {STREAM} {{{{ nobody_defined_this }}}}",
        "nobody_defined_this",
    ),
    Case("read-duration-refused", f"%lift_read {STREAM} --from -2h", "1h30m"),
    Case("read-compound-duration", f"%lift_read {STREAM} --from 1h30m --no-progress", "value.order"),
    Case("read-help", "%lift_read --help", "--limit"),
]

# Runs code cell INDEX alone (as shift-enter does) once the kernel is idle; 'done' once it has run.
RUN_CELL = """(index) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cell = panel.content.widgets[index];
    if (cell.model.executionCount !== null && cell.model.executionState !== 'running') return 'done';
    if (!panel.context.isReady || panel.sessionContext.session?.kernel?.status !== 'idle') return 'busy';
    if (cell.model.executionState === 'running') return 'busy';
    panel.content.activeCellIndex = index;
    window.jupyterapp.commands.execute('notebook:run-cell');
    return 'started';
}"""


def _run_cell(page: Page, index: int, name: str) -> None:
    wait_for(
        lambda: page.evaluate(RUN_CELL, index) == "done" or None,
        timeout=120,
        what=f"cell {index} ({name}) to run",
        interval=0.5,
    )


def test_screenshots_of_cells_in_a_real_browser(server_address: str, tmp_path: Path) -> None:
    cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(c.code) for c in CASES]  # type: ignore[no-untyped-call]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb = nbformat.v4.new_notebook(cells=cells, metadata=kernel)  # type: ignore[no-untyped-call]
    (tmp_path / "root").mkdir()
    nbformat.write(nb, tmp_path / "root" / "cases.ipynb")  # type: ignore[no-untyped-call]
    shots = SHOTS / "cells"
    shots.mkdir(parents=True, exist_ok=True)
    with running_lab(tmp_path / "root", tmp_path / "lab", server_address) as url, chromium_page() as page:
        open_notebook(page, url.format("cases.ipynb"))
        cell = page.locator(".jp-Notebook .jp-Cell")
        for index, case in enumerate([Case("setup", SETUP, f"{STREAM!r}"), *CASES]):
            _run_cell(page, index, case.name)
            cell.nth(index).get_by_text(case.shows).first.wait_for(timeout=30_000)
            if case.name != "setup":
                dismiss_news(page)
                cell.nth(index).screenshot(path=str(shots / f"{case.name}.png"))
        page.screenshot(path=str(shots / "all.png"), full_page=True)
