"""End to end in a real browser: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

Opens notebooks/browsing.ipynb, runs it, clicks "next page" in the stream browser and checks that
the offsets shown changed. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser import SHOTS, chromium_page, dismiss_news, open_notebook, run_every_cell, running_lab
from tests.polling import wait_for
from tests.tooling import ROOT


@pytest.fixture
def lab(server_address: str, tmp_path: Path) -> Iterator[str]:
    """JupyterLab serving a copy of the notebook, its kernels talking to the test server."""
    (tmp_path / "root").mkdir()
    shutil.copy(ROOT / "notebooks" / "browsing.ipynb", tmp_path / "root" / "browsing.ipynb")
    with running_lab(tmp_path / "root", tmp_path / "lab", server_address) as url:
        yield url.format("browsing.ipynb")


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


def test_next_page_in_a_real_browser(lab: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        open_notebook(page, lab)
        run_every_cell(page)
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
        dismiss_news(page)
        page.screenshot(path=str(SHOTS / "browsing-first-page.png"), full_page=True)
        next_page.click()
        wait_for(lambda: (_offsets(page) != first) or None, timeout=60, what="the offsets to change")
        assert _offsets(page) == ["5", "6", "7", "8", "9"]
        dismiss_news(page)
        widget = page.locator(".jp-OutputArea-output").filter(
            has=page.locator("button", has_text="next page")
        )
        widget.first.screenshot(path=str(SHOTS / "stream-browser.png"))
        page.screenshot(path=str(SHOTS / "browsing-next-page.png"), full_page=True)
        # The time box, in the format its placeholder shows (naive: the kernel's local time).
        widget.first.get_by_label("start", exact=True).select_option("time")
        when = widget.first.get_by_placeholder("2026-11-30T08:00")
        read = widget.first.locator("button", has_text=re.compile("^read$"))
        when.fill("2000-01-01T00:00")
        read.click()
        wait_for(lambda: _offsets(page) == first or None, timeout=60, what="the page from that time")
        dismiss_news(page)
        widget.first.screenshot(path=str(SHOTS / "stream-browser-time.png"))
        when.fill("around noon")
        read.click()
        error = widget.first.locator(".lift-error")
        error.wait_for(timeout=60_000)
        assert "not a time: 'around noon'" in error.inner_text(), "the error shows in the widget"
        dismiss_news(page)
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
