"""Replay and analysis helpers: publish_dataframe, and the ``df.lift`` accessor on read_stream frames."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .client import Lift
from .models import Ack, AckPolicy, Message

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ValueSpec = str | Callable[[pd.Series], Any] | None


def _encode(cell: Any) -> bytes | str:
    if isinstance(cell, bytes | str):
        return cell
    if isinstance(cell, np.generic):
        cell = cell.item()
    return json.dumps(cell, default=str)


def _cells(df: pd.DataFrame, spec: ValueSpec, what: str) -> list[Any] | None:
    if spec is None:
        return None
    if callable(spec):
        return [spec(row) for _, row in df.iterrows()]
    if spec not in df.columns:
        raise KeyError(
            f"{what}={spec!r} is not a column of the frame (columns: {', '.join(map(str, df.columns))})"
        )
    return df[spec].tolist()


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
    messages = [
        Message(
            values[i],
            key=None if keys is None or keys[i] is None else _encode(keys[i]),
            stream=stream,
            headers=None if header_cells is None else header_cells[i],
            partition=parts[i],
            partitioner=partitioner,  # type: ignore[arg-type]
            ack_policy=ack_policy,  # type: ignore[arg-type]
        )
        for i in range(len(df))
    ]
    owned = client is None
    lift = client or Lift(address or os.environ.get("LIFTBRIDGE_ADDRESS") or "localhost:9292")
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

    def rate(self, freq: str = "1s") -> pd.DataFrame:
        """Messages per ``freq`` interval (rows) and partition (columns), zero-filled."""
        df = self._df
        if df.empty:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
        counts = (
            df.groupby([pd.Grouper(key="timestamp", freq=freq), "partition"]).size().unstack(fill_value=0)
        )
        full = pd.date_range(counts.index.min(), counts.index.max(), freq=freq, name="timestamp")
        return counts.reindex(full, fill_value=0)

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

    def plot_rate(self, freq: str = "1s", ax: Any = None) -> Figure:
        """A matplotlib figure of messages per interval, one line per partition."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("plot_rate needs matplotlib: pip install 'liftbridge-nb[plot]'") from exc
        rate = self.rate(freq)
        if ax is None:
            fig, ax = plt.subplots(figsize=(8, 3))
        else:
            fig = ax.figure
        for partition in rate.columns:
            ax.plot(rate.index, rate[partition], label=f"partition {partition}")
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(f"messages per {freq}")
        if len(rate.columns):
            ax.legend()
        fig.tight_layout()
        return fig
