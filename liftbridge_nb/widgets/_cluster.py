"""ClusterView: brokers and partitions, under-replicated ones marked, refreshed on demand or on a timer."""

from __future__ import annotations

import threading

import ipywidgets as w

from ..client import Lift
from ..errors import LiftbridgeError
from ._common import check_client, count, error_html, table


class ClusterView(w.VBox):  # type: ignore[misc]
    """Brokers and every partition's leader, replicas, ISR, offsets, paused and readonly flags.

    Partitions whose ISR is smaller than their replica set are highlighted.
    ``auto_refresh`` (seconds) refreshes in the background until :meth:`close`.
    """

    def __init__(self, client: Lift, *, auto_refresh: float | None = None) -> None:
        check_client(client, "ClusterView")
        if auto_refresh is not None and (
            isinstance(auto_refresh, bool)
            or not isinstance(auto_refresh, int | float)
            or not 0.5 <= auto_refresh <= 3600
        ):
            raise ValueError(
                "auto_refresh must be seconds from 0.5 to 3600 (None: refresh on demand), "
                f"not {auto_refresh!r}"
            )
        self.client = client
        self.brokers = w.HTML()
        self.partitions = w.HTML()
        self.status = w.HTML()
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.auto = w.Checkbox(description="auto-refresh", value=auto_refresh is not None)
        self.interval = w.BoundedFloatText(
            description="every (s)", value=auto_refresh or 2.0, min=0.5, max=3600
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        self.auto.observe(lambda _: self._schedule(), names="value")
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.under_replicated: list[tuple[str, int]] = []
        super().__init__(
            [
                w.HBox([self.refresh_button, self.auto, self.interval]),
                self.status,
                self.brokers,
                self.partitions,
            ]
        )
        self.refresh()
        self._schedule()

    def refresh(self) -> None:
        """Fetch metadata and redraw."""
        try:
            meta = self.client.fetch_metadata()
        except LiftbridgeError as exc:
            self.status.value = error_html(exc)
            return
        frame = meta.to_dataframe()
        self.under_replicated = [
            (s, int(p)) for s, p in frame.loc[frame["under_replicated"], ["stream", "partition"]].values
        ]
        self.brokers.value = table(meta.brokers_dataframe())
        shown = frame.drop(columns=["subject"])
        self.partitions.value = table(shown, highlight=frame["under_replicated"])
        warn = f", {len(self.under_replicated)} under-replicated" if self.under_replicated else ""
        self.status.value = f"{count(len(meta.brokers), 'broker')}, {count(len(frame), 'partition')}{warn}"

    def _schedule(self) -> None:
        self._stop.set()
        if self.auto.value:
            self._stop = threading.Event()
            stop = self._stop
            self._timer = threading.Thread(target=self._loop, args=(stop,), daemon=True)
            self._timer.start()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval.value):
            self.refresh()

    def close(self) -> None:
        """Stop auto-refresh and close the widget."""
        stop = getattr(self, "_stop", None)  # None when __init__ refused its arguments
        if stop is not None:
            stop.set()
        super().close()
