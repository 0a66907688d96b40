"""Replay and analysis helpers: publish_dataframe, and the ``df.lift`` accessor on read_stream frames."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._core import PAUSE
from .client import Lift
from .config import default_address
from .models import Ack, AckPolicy, Message

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ValueSpec = str | Callable[[pd.Series], Any] | None

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINES = ("-", "--", "-.", ":")
_MARKED_BINS = 200
"""Up to this many intervals, each point of plot_rate has a marker (more would blot the lines out)."""


def _encode(cell: Any) -> bytes | str:
    if isinstance(cell, bytes | str):
        return cell
    if isinstance(cell, np.generic):
        cell = cell.item()
    return json.dumps(cell, default=str)


def cell_text(data: Any) -> str:
    """A key or value as it reads: text if it decodes, else ``0x`` and its hex; JSON data as JSON text."""
    if data is None or data is pd.NA:  # no key (Arrow-backed columns hold NA)
        return ""
    if isinstance(data, bytes):
        try:
            return data.decode()
        except UnicodeDecodeError:
            return "0x" + data.hex()
    if isinstance(data, dict | list):
        return json.dumps(data, ensure_ascii=False, default=str)
    return str(data)


def _cells(df: pd.DataFrame, spec: ValueSpec, what: str) -> list[Any] | None:
    if spec is None:
        return None
    if callable(spec):
        return [spec(row) for _, row in df.iterrows()]
    return _column(df, spec, what).tolist()


def _column(df: pd.DataFrame, name: str, what: str) -> pd.Series:
    """``df[name]``, or a KeyError that says which argument named a missing column."""
    if name not in df.columns:
        raise KeyError(
            f"{what}={name!r} is not a column of the frame (columns: {', '.join(map(str, df.columns))})"
        )
    return df[name]


def publish_dataframe(
    df: pd.DataFrame,
    stream: str,
    *,
    value: ValueSpec = None,
    key: ValueSpec = None,
    headers: str | None = None,
    partition: str | int | None = None,
    partitioner: str | None = None,
    ack_policy: AckPolicy | str = AckPolicy.LEADER,
    client: Lift | None = None,
    address: str | None = None,
    ack_timeout: float | None = None,
) -> pd.DataFrame:
    """Publish one message per row of ``df`` to ``stream`` (pipelined) and return the acks as a frame.

    ``value`` is a column or a function of the row; by default the whole row
    becomes a JSON object. Dicts, lists and numbers are JSON-encoded; ``str``
    and ``bytes`` go as they are. ``key`` likewise (a column or a function),
    ``headers`` a column of dicts, ``partition`` a column or one partition for
    all, ``partitioner`` ``"key"`` or ``"round_robin"``. With neither, a row
    with a key goes to the key's partition (CRC-32 of the key, as every
    publishing path chooses: see :class:`Message`), one without to 0. The result has the
    frame's index and columns ``partition``, ``offset``, ``timestamp`` (the
    leader's reception time). Nothing is published if an argument is wrong.
    """
    if value is None:
        lines = df.to_json(
            orient="records", lines=True, date_format="iso", date_unit="ns", default_handler=str
        )
        values: list[Any] = lines.splitlines() if len(df) else []
    else:
        values = [_encode(v) for v in _cells(df, value, "value") or []]
    keys = _cells(df, key, "key")
    header_cells = _cells(df, headers, "headers")
    if isinstance(partition, str):
        parts: list[Any] = [int(p) for p in _cells(df, partition, "partition") or []]
    else:
        parts = [partition] * len(df)
    shared = Message(stream=stream, partitioner=partitioner, ack_policy=ack_policy)  # type: ignore[arg-type]
    with PAUSE:  # a message and an ack per row: see CollectorPause
        messages = [
            shared._row(
                values[i],
                None if keys is None or keys[i] is None else _encode(keys[i]),
                None if header_cells is None else header_cells[i],
                parts[i],
            )
            for i in range(len(df))
        ]
        owned = client is None
        lift = client or Lift(default_address(address))
        try:
            acks: list[Ack | None] = lift.publish_many(messages, ack_timeout=ack_timeout)
        finally:
            if owned:
                lift.close()
    out = pd.DataFrame(
        {
            "partition": pd.array([a.partition if a else None for a in acks], dtype="Int32"),
            "offset": pd.array([a.offset if a else None for a in acks], dtype="Int64"),
            "timestamp": pd.Series(
                [a.reception_timestamp if a else None for a in acks], dtype="Int64", index=df.index
            )
            .astype("datetime64[ns]")
            .dt.tz_localize("UTC"),
        },
        index=df.index,
    )
    return out


@pd.api.extensions.register_dataframe_accessor("lift")
class LiftAccessor:
    """``df.lift``: analyses of a frame from :func:`read_stream`."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = {"partition", "offset", "timestamp"} - set(frame.columns)
        if missing:
            raise AttributeError(f"df.lift needs the columns of read_stream; missing {sorted(missing)}")
        self._df = frame

    def rate(self, freq: str = "1s", *, time: str = "timestamp") -> pd.DataFrame:
        """Messages per ``freq`` interval (rows) and partition (columns), zero-filled.

        ``time`` names the column of times to count by: ``"timestamp"`` (when
        the partition leader received each message) or a column of event times
        (datetimes, or ISO 8601 text such as ``"value.at"``; text without an
        offset is taken as UTC). Rows without a time are left out.
        """
        times = self._times(time)
        counts = (
            pd.DataFrame({time: times, "partition": self._df["partition"]})
            .groupby([pd.Grouper(key=time, freq=freq), "partition"])
            .size()
            .unstack(fill_value=0)
        )
        if counts.empty:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name=time))
        full = pd.date_range(counts.index.min(), counts.index.max(), freq=freq, name=time)
        return counts.reindex(full, fill_value=0)

    def _times(self, time: str) -> pd.Series:
        """The column ``time`` as UTC datetimes; ValueError/KeyError naming it if it holds no times."""
        column = _column(self._df, time, "time")
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            return pd.to_datetime(column, utc=True)
        if not (pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_object_dtype(column.dtype)):
            raise ValueError(
                f"time={time!r} holds {column.dtype} values, not times: convert it first, "
                f"e.g. df[{time!r}] = pd.to_datetime(df[{time!r}], unit='ms', utc=True)"
            )
        try:
            return pd.to_datetime(column, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"time={time!r} holds text that is not an ISO 8601 time ({exc}); "
                "convert it with pd.to_datetime first"
            ) from None

    def grep(
        self, text: str, *, columns: Sequence[str] = ("key", "value"), case: bool = True
    ) -> pd.DataFrame:
        """The rows whose ``columns`` (by default key and value) contain ``text``, in their order.

        Each cell is searched as it reads: text as it is, bytes decoded as UTF-8
        (or as ``0x`` and their hex, when they do not decode), a decoded JSON value as
        JSON text; ``case=False`` ignores case. The stream browser's filter is this.
        """
        if not isinstance(text, str) or not text:
            raise ValueError(f"grep takes the text to look for, not {text!r}")
        if isinstance(columns, str):
            columns = [columns]
        needle = text if case else text.casefold()
        found = np.zeros(len(self._df), dtype=bool)
        for name in columns:
            column = _column(self._df, name, "columns")
            cells = (cell_text(v) for v in column)
            found |= np.fromiter(
                (needle in (c if case else c.casefold()) for c in cells), dtype=bool, count=len(column)
            )
        return self._df[found]

    def gaps(self) -> pd.DataFrame:
        """Offsets missing between each partition's first and last row (compaction, retention or loss)."""
        rows: list[tuple[Hashable, int, int, int]] = []
        for partition, offsets in self._df.groupby("partition")["offset"]:
            ordered = np.sort(offsets.to_numpy())
            steps = np.diff(ordered)
            for at in np.nonzero(steps > 1)[0]:
                rows.append((partition, int(ordered[at] + 1), int(ordered[at + 1] - 1), int(steps[at] - 1)))
        return pd.DataFrame(rows, columns=["partition", "first_missing", "last_missing", "missing"])

    def latest_by_key(self) -> pd.DataFrame:
        """The newest row per key (what log compaction keeps); rows without a key are left out."""
        keyed = self._df[self._df["key"].notna()]
        newest = keyed.sort_values(["partition", "offset"], kind="stable").drop_duplicates("key", keep="last")
        return newest.sort_values(["timestamp", "partition", "offset"], kind="stable").reset_index(drop=True)

    def plot_rate(self, freq: str = "1s", ax: Axes | None = None, *, time: str = "timestamp") -> Axes:
        """A matplotlib chart of messages per ``freq`` interval, one line per partition; returns its Axes.

        ``time`` picks what is counted, as in :meth:`rate`: ``"timestamp"``, when
        the messages arrived, or a column of event times such as ``"value.at"``.
        The title names the stream(s) and what is plotted. Each partition has its
        own marker and line style, so one partition's line does not hide
        another's; a single interval shows as points on an axis one interval
        either side. Returning the Axes (as ``DataFrame.plot`` does) lets Jupyter
        show the chart once, whether the call ends the cell or is assigned.
        """
        try:
            import matplotlib.dates as mdates
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("plot_rate needs matplotlib: pip install 'liftbridge-nb[plot]'") from exc
        rate = self.rate(freq, time=time)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3), layout="tight")
        marker = len(rate) <= _MARKED_BINS
        for i, partition in enumerate(rate.columns):
            ax.plot(
                rate.index, rate[partition], label=f"partition {partition}", alpha=0.85,
                linestyle=_LINES[i % len(_LINES)], marker=_MARKERS[i % len(_MARKERS)] if marker else None,
            )  # fmt: skip
        if len(rate):
            step = pd.tseries.frequencies.to_offset(freq)
            ax.set_xlim(rate.index[0] - step, rate.index[-1] + step)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside: it hides no line
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_ylim(0, max(1, int(rate.to_numpy().max(initial=0))) * 1.1)
        what = "arrival time" if time == "timestamp" else time
        ax.set_title(
            f"{self._stream_names()}: messages per {freq} by {what}" + ("" if len(rate) else " (none)")
        )
        ax.set_xlabel(f"{what} (UTC)")
        ax.set_ylabel(f"messages per {freq}")
        return ax

    def _stream_names(self) -> str:
        """The frame's stream name(s), for a title."""
        if "stream" not in self._df.columns:
            return "messages"
        names = sorted(map(str, self._df["stream"].dropna().unique()))
        return ", ".join(names) if names else "messages"
