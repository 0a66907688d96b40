"""LiveTail: follow new messages in the background while the notebook keeps working."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import ipywidgets as w
import pandas as pd

from ..client import Lift, Subscription
from ..errors import LiftbridgeError
from ..models import Message, Start
from ._common import check_client, error_html, preview, table


class LiveTail(w.VBox):  # type: ignore[misc]
    """The newest messages of a stream, as they arrive, in a bounded rolling window.

    Reading runs in background threads (one per partition), so other cells run
    meanwhile. It shows messages per second, can be paused (messages keep being
    counted, the view freezes), resumed and stopped, and stops by itself after
    ``max_seconds`` or ``max_messages``. Subscriptions follow leader changes.
    """

    def __init__(
        self,
        client: Lift,
        stream: str,
        *,
        partitions: list[int] | None = None,
        window: int = 50,
        max_seconds: float = 600.0,
        max_messages: int = 100_000,
        start: bool = True,
    ) -> None:
        check_client(client, "LiveTail")
        for name, value, low in (("window", window, 1), ("max_messages", max_messages, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be positive: a whole number of messages, not {value!r}")
        if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) or not max_seconds > 0:
            raise ValueError(f"max_seconds must be positive: how long to follow, not {max_seconds!r}")
        self.client = client
        self.stream_name = stream
        self.window = window
        self.max_seconds = max_seconds
        self.max_messages = max_messages
        self.partitions = partitions
        self.messages: collections.deque[Message] = collections.deque(maxlen=window)
        self.received = 0
        self.paused = False
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._started = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=10_000)
        self.status = w.HTML()
        self.rate = w.Label()
        self.table = w.HTML()
        self.pause_button = w.Button(description="pause", icon="pause")
        self.stop_button = w.Button(description="stop", icon="stop", button_style="danger")
        self.pause_button.on_click(lambda _: self.toggle_pause())
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__([w.HBox([self.pause_button, self.stop_button, self.rate]), self.status, self.table])
        if start:
            self.start()

    @property
    def running(self) -> bool:
        """Whether the tail is following the stream."""
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        """Subscribe to new messages of every chosen partition."""
        try:
            chosen = self.partitions or list(range(self.client.partition_count(self.stream_name)))
            self._subs = [self.client.subscribe(self.stream_name, p, start=Start.new_only()) for p in chosen]
        except LiftbridgeError as exc:
            self.status.value = error_html(exc)
            return
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._follow, args=(s,), daemon=True) for s in self._subs]
        for t in self._threads:
            t.start()
        threading.Thread(target=self._watch, daemon=True).start()
        self.status.value = f"following {self.stream_name!r} partitions {chosen}"

    def _follow(self, sub: Subscription) -> None:
        try:
            for message in sub:
                with self._lock:
                    self.received += 1
                    self._recent.append(time.monotonic())
                    self.messages.append(message)
                    done = self.received >= self.max_messages
                if not self.paused:
                    self._render()
                if done:
                    self.stop(f"stopped after {self.max_messages} messages")
                    return
        except LiftbridgeError as exc:
            if not self._stop.is_set():
                self.status.value = error_html(exc)

    def _watch(self) -> None:
        # The time bound, and the rate shown even when nothing arrives.
        while not self._stop.wait(1.0):
            self._update_rate()
            if time.monotonic() - self._started >= self.max_seconds:
                self.stop(f"stopped after {self.max_seconds:g} s")

    def _update_rate(self) -> None:
        now = time.monotonic()
        with self._lock:
            recent = sum(1 for t in self._recent if now - t <= 5.0)
        self.rate.value = f"{recent / 5.0:.1f} msg/s, {self.received} received"

    def _render(self) -> None:
        # One render at a time, each from the window as it is then: a slow render from one partition's
        # thread cannot overwrite a newer one from another's.
        with self._render_lock:
            self._render_now()

    def _render_now(self) -> None:
        with self._lock:
            rows = list(self.messages)
        view = pd.DataFrame(
            {
                "partition": [m.partition for m in rows],
                "offset": [m.offset for m in rows],
                "time": [m.time.strftime("%H:%M:%S.%f") for m in rows],
                "key": [preview(m.key) for m in rows],
                "value": [preview(m.value) for m in rows],
            }
        )
        self.table.value = table(view.iloc[::-1])  # newest first
        self._update_rate()

    def toggle_pause(self) -> None:
        """Freeze or unfreeze the view (messages keep being received)."""
        self.paused = not self.paused
        self.pause_button.description = "resume" if self.paused else "pause"
        if not self.paused:
            self._render()

    def stop(self, why: str = "stopped") -> None:
        """Stop following: close the subscriptions."""
        self._stop.set()
        for sub in self._subs:
            sub.close()
        self.status.value = why
        self.pause_button.disabled = self.stop_button.disabled = True

    def to_dataframe(self) -> pd.DataFrame:
        """The messages in the window, oldest first."""
        with self._lock:
            rows: list[Any] = list(self.messages)
        return pd.DataFrame(
            {
                "partition": [m.partition for m in rows],
                "offset": [m.offset for m in rows],
                "timestamp": pd.to_datetime([m.timestamp for m in rows], unit="ns", utc=True),
                "key": [m.key for m in rows],
                "value": [m.value for m in rows],
            }
        )
