"""JupyterLab as `make lab` starts it (scripts/lab.py's command line), and Debian's Chromium driven by
Playwright: what the browser tests share."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from liftbridge_nb.server._process import free_port
from tests.polling import wait_for
from tests.tooling import ROOT, load_script

SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = os.environ.get("LIFTBRIDGE_NB_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextlib.contextmanager
def running_lab(root: Path, state: Path, server_address: str) -> Iterator[str]:
    """JupyterLab serving ``root`` (its workspace, settings and log in ``state``), kernels talking to
    ``server_address``; yields the base URL, ending in ``?token=...`` parts to append paths before."""
    lab = load_script("lab")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "LIFTBRIDGE_ADDRESS": server_address,
        "TQDM_DISABLE": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": str(ROOT),  # the kernels import this tree's liftbridge_nb
    }
    extra = (
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
        "--ServerApp.open_browser=False",
    )  # fmt: skip
    command = lab.lab_command(root, port=port, state=state, extra=extra)
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "lab.log"
    log = log_path.open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool | None:
        try:
            with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=2) as resp:
                return resp.status == 200 or None
        except OSError:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            return None

    try:
        wait_for(answers, timeout=120, what="JupyterLab to answer", interval=0.5)
        yield f"{base}/lab/tree/{{}}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of headless Debian Chromium, 1400 x 1000."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def open_notebook(page: Page, url: str) -> None:
    """Open the notebook at ``url``, wait for its idle kernel, make it current and clear its outputs."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.click(".jp-Notebook .jp-Cell")  # make the notebook the current widget: run commands act on it
    # Execution counts saved in the file would read as cells that ran.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")


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


def run_every_cell(page: Page, timeout: float = 180) -> None:
    """Run the current notebook's code cells in order; fail on the first cell that fails."""

    def ran() -> bool | None:
        state: str = page.evaluate(RUN_THE_REST)
        assert not state.startswith("error"), state
        return state == "done" or None

    wait_for(ran, timeout=timeout, what="every code cell to run", interval=2)


def dismiss_news(page: Page) -> None:
    """Answer JupyterLab's "Jupyter news?" question, kept out of the pictures."""
    for answer in page.get_by_role("button", name="No", exact=True).all():
        with contextlib.suppress(PlaywrightError):  # gone already: nothing to keep out of the picture
            answer.click(timeout=5_000, force=True)  # it slides in: do not wait for it to settle
