"""StreamBrowser: page through a stream, a page at a time from the server."""

from __future__ import annotations

import html as h

import ipywidgets as w
import pandas as pd

from ..analysis import cell_text
from ..client import Lift
from ..errors import ErrNoSuchStream, LiftbridgeError, did_you_mean, no_such
from ..frames import read_stream
from ..planning import first_offset_at, high_watermark
from ._common import check_client, error_html, hexdump, pretty, preview, table

ALL = "all"
MODES = ("earliest", "newest", "offset", "time")
TIME_EXAMPLE = "2026-11-30T08:00"


class StreamBrowser(w.VBox):  # type: ignore[misc]
    """Browse a stream page by page: pick stream, partition and start, filter, inspect a message.

    Each page is read from the server (``page_size`` offsets of each chosen
    partition), never the whole stream. ``to_dataframe()`` returns what the
    page shows; ``code`` holds the ``read_stream(...)`` line that reads it.
    """

    def __init__(self, client: Lift, stream: str | None = None, *, page_size: int = 20) -> None:
        check_client(client, "StreamBrowser")
        if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= 10_000:
            raise ValueError(f"page_size must be an int from 1 to 10000, not {page_size!r}")
        self.client = client
        self.stream = w.Dropdown(description="stream")
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.partition = w.Dropdown(description="partition", options=[ALL])
        self.mode = w.Dropdown(description="start", options=list(MODES), value="earliest")
        self.start_offset = w.IntText(description="offset", value=0)
        self.newest = w.IntText(description="newest N", value=page_size)
        self.start_time = w.Text(
            description="time", placeholder=TIME_EXAMPLE, tooltip="ISO 8601; local unless it names a zone"
        )
        self.page_size = w.BoundedIntText(description="page size", value=page_size, min=1, max=10_000)
        self.go_button = w.Button(description="read", button_style="primary")
        self.prev_button = w.Button(description="previous page", icon="arrow-left")
        self.next_button = w.Button(description="next page", icon="arrow-right")
        self.filter = w.Text(description="filter", placeholder="text in key or value")
        self.status = w.HTML()
        self.table = w.HTML()
        self.message = w.Dropdown(description="message", options=[])
        self.detail = w.HTML()
        self.code = w.Text(description="code", layout=w.Layout(width="100%"))
        self._starts: dict[int, int] = {}
        self._page = pd.DataFrame()
        self._shown = pd.DataFrame()
        self.refresh_button.on_click(lambda _: self.refresh_streams())
        self.go_button.on_click(lambda _: self.first_page())
        self.next_button.on_click(lambda _: self.next_page())
        self.prev_button.on_click(lambda _: self.previous_page())
        self.stream.observe(lambda _: self._stream_changed(), names="value")
        self.filter.observe(lambda _: self._render(), names="value")
        self.message.observe(lambda _: self._show_detail(), names="value")
        super().__init__(
            [
                w.HBox([self.stream, self.refresh_button, self.partition]),
                w.HBox([self.mode, self.start_offset, self.newest, self.start_time]),
                w.HBox([self.page_size, self.go_button, self.prev_button, self.next_button]),
                self.filter,
                self.status,
                self.table,
                self.message,
                self.detail,
                self.code,
            ]
        )
        self.refresh_streams()
        if stream is not None:
            if stream not in self.stream.options:
                self._unknown(stream)
            else:
                self.stream.value = stream
                self.first_page()

    def _unknown(self, stream: str) -> None:
        """Say that ``stream`` does not exist, and show no other stream in its place."""
        error = no_such(stream, 0, None)
        suggestion = did_you_mean(stream, self.stream.options)
        if suggestion:
            error = ErrNoSuchStream(f"{error}{suggestion}")
        self.stream.value = None
        self.partition.options = [ALL]
        self.status.value = error_html(error)

    # -- actions -------------------------------------------------------------------------------

    def refresh_streams(self) -> None:
        """Reload the stream list from the server."""
        try:
            names = sorted(self.client.fetch_metadata().streams)
        except LiftbridgeError as exc:
            self.status.value = error_html(exc)
            return
        current = self.stream.value
        self.stream.options = names
        self.stream.value = current if current in names else (names[0] if names else None)

    def _stream_changed(self) -> None:
        name = self.stream.value
        if name is None:
            return
        try:
            count = self.client.partition_count(name)
        except LiftbridgeError as exc:
            self.status.value = error_html(exc)
            return
        self.partition.options = [ALL, *range(count)]
        self.partition.value = ALL

    def _partitions(self) -> list[int]:
        if self.partition.value == ALL:
            return [p for p in self.partition.options if p != ALL]
        return [int(self.partition.value)]

    def first_page(self) -> None:
        """Read the first page from the chosen start position."""
        try:
            self._starts = {p: self._start_of(p) for p in self._partitions()}
        except (LiftbridgeError, ValueError) as exc:
            self.status.value = error_html(exc)
            return
        self._load()

    def next_page(self) -> None:
        """Read the page after the one shown (never past a partition's next offset)."""
        name, size = self.stream.value, self.page_size.value
        if name is None or not self._starts:
            return
        try:
            t = self.client.options.timeout
            ends = {p: high_watermark(self.client, name, p, t) + 1 for p in self._starts}
        except LiftbridgeError as exc:
            self.status.value = error_html(exc)
            return
        self._starts = {p: min(s + size, max(s, ends[p])) for p, s in self._starts.items()}
        self._load()

    def previous_page(self) -> None:
        """Read the page before the one shown."""
        self._starts = {p: max(0, s - self.page_size.value) for p, s in self._starts.items()}
        self._load()

    def _start_of(self, partition: int) -> int:
        name = self.stream.value
        hw = high_watermark(self.client, name, partition, self.client.options.timeout)
        mode = self.mode.value
        if mode == "earliest":
            return 0
        if mode == "newest":
            return max(0, hw + 1 - max(1, int(self.newest.value)))
        if mode == "offset":
            if self.start_offset.value < 0:
                raise ValueError("the start offset must be >= 0")
            return int(self.start_offset.value)
        text = self.start_time.value.strip()
        try:
            when = pd.Timestamp(text)  # naive means local time, as everywhere
        except ValueError as exc:
            raise ValueError(
                f"not a time: {text!r} (ISO 8601, e.g. {TIME_EXAMPLE}: local time unless it names a zone)"
            ) from exc
        if pd.isna(when):
            raise ValueError(f"give a start time, e.g. {TIME_EXAMPLE}")
        return first_offset_at(self.client, name, partition, when, hw) if hw >= 0 else 0

    def _load(self) -> None:
        name, size = self.stream.value, self.page_size.value
        if name is None or not self._starts:
            return
        frames = []
        # Partitions that start at the same offset are read together: an offset past the end of
        # them all is an error, past the end of only some (shorter partitions) is their empty share.
        by_start: dict[int, list[int]] = {}
        for partition, start in self._starts.items():
            by_start.setdefault(start, []).append(partition)
        try:
            for start, partitions in by_start.items():
                frames.append(
                    read_stream(
                        name, start, start + size, partitions=partitions, client=self.client,
                        value="bytes", key="bytes", progress=False,
                    )
                )  # fmt: skip
        except (LiftbridgeError, ValueError) as exc:
            self.status.value = error_html(exc)
            return
        page = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        self._page = page.sort_values(["timestamp", "partition", "offset"], kind="stable").reset_index(
            drop=True
        )
        starts = ", ".join(f"{p}: {s}" for p, s in self._starts.items())
        parts = list(self._starts)
        self.code.value = (
            f"read_stream({name!r}, {min(self._starts.values())}, {max(self._starts.values()) + size}, "
            f"partitions={parts})"
            if len(set(self._starts.values())) == 1
            else f"read_stream({name!r}, partitions={parts})  # page starts {starts}"
        )
        self._render()

    def _render(self) -> None:
        page = self._page
        needle = self.filter.value.strip()
        shown = page.lift.grep(needle) if needle and not page.empty else page
        self._shown = shown.reset_index(drop=True)
        self.status.value = f"{len(page)} scanned, {len(self._shown)} matched" + (
            f" — page starts {dict(self._starts)}" if self._starts else ""
        )
        if self._shown.empty:
            self.table.value = "<i>no messages</i>"
            self.message.options = []
            self.detail.value = ""
            return
        view = pd.DataFrame(
            {
                "partition": self._shown["partition"],
                "offset": self._shown["offset"],
                "time": self._shown["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "key": self._shown["key"].map(preview),
                "value": self._shown["value"].map(preview),
                "headers": self._shown["headers"].map(
                    lambda h: ", ".join(f"{k}={preview(v, 20)}" for k, v in h.items())
                ),
            }
        )
        self.table.value = table(view)
        self.message.options = [
            (f"{p}/{o}", i) for i, (p, o) in enumerate(zip(view["partition"], view["offset"], strict=True))
        ]
        self.message.value = 0
        self._show_detail()

    def _show_detail(self) -> None:
        i = self.message.value
        if i is None or self._shown.empty:
            self.detail.value = ""
            return
        row = self._shown.iloc[i]
        headers = "\n".join(f"{k}: {cell_text(v)}" for k, v in row["headers"].items()) or "(none)"
        self.detail.value = (
            f"<b>partition {row['partition']} offset {row['offset']}</b> at {row['timestamp']}<br>"
            f"<b>key</b> <pre>{h.escape(cell_text(row['key']))}</pre>"
            f"<b>value</b><pre class='lift-pretty'>{h.escape(pretty(row['value']))}</pre>"
            f"<b>headers</b><pre>{h.escape(headers)}</pre>"
            f"<b>raw value</b><pre class='lift-hex'>{h.escape(hexdump(row['value']))}</pre>"
        )

    def to_dataframe(self) -> pd.DataFrame:
        """The messages shown (after the filter), as read_stream returns them (raw bytes)."""
        return self._shown.copy()
