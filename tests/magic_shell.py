"""Helpers of the magics' tests: an in-process IPython shell (for parsing) and a connected kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.kernel import Cell, Kernel


@pytest.fixture
def fresh_shell() -> Iterator[InteractiveShell]:
    """A new IPython shell for each test: no magics, settings or namespace left by another."""
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def ip(
    fresh_shell: InteractiveShell, server_address: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    """A shell with the extension loaded and connected to the shared server as ``test``."""
    monkeypatch.chdir(tmp_path)  # no pyproject.toml settings leak in
    shell = fresh_shell
    shell.run_line_magic("load_ext", "liftbridge_nb")
    with capture_output():
        shell.run_line_magic("lift_connect", f"{server_address} --alias test")
    yield shell
    shell.run_line_magic("unload_ext", "liftbridge_nb")


@pytest.fixture(scope="module")
def lift_kernel(kernel: Kernel, server_address: str) -> Kernel:
    """The module's real Jupyter kernel with the extension loaded and connected to the shared server."""
    cell = kernel.run(f"%load_ext liftbridge_nb\n%lift_connect {server_address}")
    assert cell.status == "ok", cell.shown
    return kernel


def run(ip: InteractiveShell, magic: str, line: str = "", cell: str | None = None) -> tuple[object, str]:
    """Run a magic; its result and what it printed."""
    with capture_output() as out:
        cell_magic: Any = ip.run_cell_magic
        result = cell_magic(magic, line, cell) if cell is not None else ip.run_line_magic(magic, line)
    return result, out.stdout


def completions(shell: InteractiveShell, text: str) -> list[str]:
    """The lines the kernel's completions make of ``text`` (the API front ends use)."""
    with provisionalcompleter():
        return [text[: c.start] + c.text for c in shell.Completer.completions(text, len(text))]


def one_line_error(cell: Cell) -> str:
    """The cell's error as the user sees it, asserting it is one line and fails the cell."""
    assert cell.status == "error" and cell.error is not None, cell.shown
    lines = cell.error["traceback"]
    assert len(lines) == 1, "\n".join(lines)
    assert cell.shown == lines[0], cell.shown  # nothing else under the cell
    return str(lines[0])
