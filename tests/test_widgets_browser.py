"""End to end in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

Opens notebooks/browsing.ipynb, runs it, clicks "next page" in the stream browser and checks that
the offsets shown changed. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from liftbridge_nb.server._process import free_port
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("LIFTBRIDGE_NB_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def lab(server_address: str, tmp_path: Path) -> Iterator[str]:
    """JupyterLab serving a copy of the notebook, its kernels talking to the test server."""
    shutil.copy(ROOT / "notebooks" / "browsing.ipynb", tmp_path / "browsing.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "LIFTBRIDGE_ADDRESS": server_address,
        "PYTHONPATH": str(ROOT),  # the kernels import this tree's liftbridge_nb, not an installed one
        "TQDM_DISABLE": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    log = (tmp_path / "lab.log").open("w")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--ServerApp.open_browser=False",
        # A fresh workspace and settings each time: nothing restored from an earlier run gets in the way.
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool | None:
        try:
            with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=2) as resp:
                return resp.status == 200 or None
        except OSError:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
            return None

    try:
        wait_for(answers, timeout=120, what="JupyterLab to answer", interval=0.5)
        yield f"{base}/lab/tree/browsing.ipynb?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Runs the notebook's code cells, each once and in order, a step per call. A run issued while the
# kernel is still starting skips the cells it reaches before the kernel is there, so while the kernel
# is idle and no cell runs, it runs again from the first code cell that has not run. Not awaited: the
# command's promise settles only once every cell has run.
RUN_THE_REST = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel.context.isReady) return 'busy';  // the cells are not all there yet
    const cells = panel.content.widgets.filter(  // an empty code cell never gets an execution count
        c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
    const failed = cells.findIndex(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
    if (failed >= 0) return `error in code cell ${failed + 1}`;  // running on would hide it
    const rest = cells.findIndex(c => c.model.executionCount === null);
    if (rest < 0) return 'done';
    if (panel.sessionContext.session?.kernel?.status !== 'idle') return 'busy';
    if (cells.some(c => c.model.executionState === 'running')) return 'busy';  // "[*]": queued or running
    panel.content.activeCellIndex = panel.content.widgets.indexOf(cells[rest]);
    window.jupyterapp.commands.execute('notebook:run-all-below');
    return 'started';
}"""


def _offsets(page: Page) -> list[str]:
    """The offsets column of the stream browser's table, as shown."""
    offsets: list[str] = page.evaluate(
        """() => {
            const table = document.querySelector('.jp-OutputArea-output table.lift-table');
            if (!table) return [];
            return Array.from(table.querySelectorAll('tbody tr')).map(r => r.cells[1].textContent.trim());
        }"""
    )
    return offsets


def _dismiss_news(page: Page) -> None:
    """Answer JupyterLab's "Jupyter news?" question, kept out of the pictures."""
    for answer in page.get_by_role("button", name="No", exact=True).all():
        with contextlib.suppress(PlaywrightError):  # gone already: nothing to keep out of the picture
            answer.click(timeout=5_000, force=True)  # it slides in: do not wait for it to settle


def test_next_page_in_a_real_browser(lab: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.click(".jp-Notebook .jp-Cell")  # make the notebook the current widget: run-all acts on it
            # Execution counts saved in the file would read as cells that ran.
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")

            def ran() -> bool | None:
                state: str = page.evaluate(RUN_THE_REST)
                assert not state.startswith("error"), state
                return state == "done" or None

            wait_for(ran, timeout=180, what="every code cell to run", interval=2)
            next_page = page.locator("button", has_text="next page").first
            try:
                next_page.wait_for(timeout=120_000)
            except Exception:
                page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                raise
            wait_for(
                lambda: _offsets(page) == ["0", "1", "2", "3", "4"] or None, timeout=60, what="the first page"
            )
            first = _offsets(page)
            assert first == ["0", "1", "2", "3", "4"]
            _dismiss_news(page)
            page.screenshot(path=str(SHOTS / "browsing-first-page.png"), full_page=True)
            next_page.click()
            wait_for(lambda: (_offsets(page) != first) or None, timeout=60, what="the offsets to change")
            assert _offsets(page) == ["5", "6", "7", "8", "9"]
            _dismiss_news(page)
            widget = page.locator(".jp-OutputArea-output").filter(
                has=page.locator("button", has_text="next page")
            )
            widget.first.screenshot(path=str(SHOTS / "stream-browser.png"))
            page.screenshot(path=str(SHOTS / "browsing-next-page.png"), full_page=True)
            # The time box, in the format its placeholder shows (naive: the kernel's local time).
            widget.first.locator(".widget-dropdown", has_text="start").locator("select").select_option("time")
            when = widget.first.get_by_placeholder("2026-11-30T08:00")
            read = widget.first.locator("button", has_text=re.compile("^read$"))
            when.fill("2000-01-01T00:00")
            read.click()
            wait_for(lambda: _offsets(page) == first or None, timeout=60, what="the page from that time")
            _dismiss_news(page)
            widget.first.screenshot(path=str(SHOTS / "stream-browser-time.png"))
            when.fill("around noon")
            read.click()
            error = widget.first.locator(".lift-error")
            error.wait_for(timeout=60_000)
            assert "not a time: 'around noon'" in error.inner_text(), "the error shows in the widget"
            _dismiss_news(page)
            widget.first.screenshot(path=str(SHOTS / "stream-browser-bad-time.png"))
            # The other widgets for the README, each found by a label only it has.
            for name, label in (
                ("cluster-view", page.get_by_text("auto-refresh")),
                ("live-tail", page.locator("button", has_text="pause")),
                ("publish-form", page.locator("button", has_text="publish")),
            ):
                shown = page.locator(".jp-OutputArea-output").filter(has=label)
                shown.first.wait_for(timeout=60_000)
                if name == "live-tail":  # the messages the notebook publishes after starting it
                    shown.first.get_by_text("3 received").wait_for(timeout=60_000)
                shown.first.screenshot(path=str(SHOTS / f"{name}.png"))
        finally:
            browser.close()
