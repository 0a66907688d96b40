"""read_stream: what a stream held between two points, as a DataFrame."""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import pyarrow as pa

from . import analysis  # noqa: F401  (registers the df.lift accessor)
from ._core import check_partition
from ._decode import Decoder, check_decoder, decode, decode_headers
from .client import Lift, Subscription
from .config import default_address
from .errors import (
    ApiError,
    ErrDecode,
    ErrNoSuchPartition,
    ErrOutOfRange,
    ErrPartitionPaused,
    ReadInterrupted,
    no_such,
)
from .models import Start, Stop, to_unix_ns

Position = int | datetime | pd.Timestamp | str | timedelta | None
Piece = tuple[int, int, int]  # partition, first offset, end offset (exclusive)
Engine = Literal["pandas", "arrow", "polars", "dask"]

HINTS = {
    "decode": "errors='coerce' keeps the raw bytes and records why in a decode_error column",
    "past_end": "give an offset up to the next one, or start='earliest' or 'latest'",
    "start_after_end": "give start <= end (the end is exclusive)",
    "paused": "resume it (subscribe with resume=True, or publish to it), or leave it out with "
    "partitions=[...]",
}
"""What to do about read_stream's errors, in its keyword arguments; in one place, so that the magics can
say it in their flags instead (each message quotes its hint as it is here)."""

LEAD = ["partition", "offset", "timestamp", "key"]
"""read_stream's first columns; the ``value.<field>`` columns of JSON objects follow, then :data:`TRAIL`."""
TRAIL = ["value", "headers", "stream", "subject", "reply_subject"]
"""read_stream's last columns (``decode_error``, with ``errors="coerce"``, follows ``value``)."""
COLUMNS = LEAD + TRAIL
"""The columns of a frame without JSON fields (or decode errors)."""


@dataclass
class _Range:
    """One partition's share of the read: where it starts, and the first offset it must not read."""

    partition: int
    start: Start
    end: int  # exclusive
    first: int | None  # the start offset when known up front (for progress and emptiness)
    next: int = 0  # the partition's next offset (high watermark + 1) when planned

    @property
    def empty(self) -> bool:
        return self.end <= 0 or (self.first is not None and self.first >= self.end)


@dataclass
class _Tally:
    """How far a read got, for the one line that Ctrl-C prints."""

    most: int = 0  # the ranges' offsets: at most this many (the oldest may be gone)
    total: int | None = None  # exactly this many, once known
    count: Callable[[], int] = lambda: 0  # read so far

    def measure(self, total: Callable[[], int]) -> int:
        """The exact total, ``total()`` called the first time only."""
        if self.total is None:
            self.total = total()
        return self.total

    def interrupted(self) -> ReadInterrupted:
        n = self.count()
        of = f"{self.total:,}" if self.total is not None else f"at most {self.most:,}"
        return ReadInterrupted(f"read_stream interrupted after {n:,} of {of} messages", n, self.total)


def _as_time(position: Position) -> datetime | None:
    if isinstance(position, timedelta):
        return datetime.now(UTC) - position
    if isinstance(position, datetime):  # pandas.Timestamp included
        return position
    if isinstance(position, str) and position not in ("earliest", "latest"):
        try:
            stamp = pd.Timestamp(position)
        except ValueError as exc:
            raise ValueError(
                f"not a position: {position!r} (an offset, a time, 'earliest' or 'latest')"
            ) from exc
        return stamp.to_pydatetime() if stamp.nanosecond == 0 else stamp
    return None


def _check_position(position: Position, what: str) -> None:
    if isinstance(position, timedelta) and position < timedelta(0):
        raise ValueError(f"{what}={position!r} is a time to come: a timedelta is how long ago, so >= 0")
    if isinstance(position, datetime):
        try:
            to_unix_ns(position)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
    if position is None or isinstance(position, timedelta | datetime) or position in ("earliest", "latest"):
        return
    if isinstance(position, bool) or not isinstance(position, int | str):
        raise TypeError(
            f"{what} takes an offset, a datetime, an ISO string, a timedelta, 'earliest' or 'latest'"
        )
    if isinstance(position, int) and position < 0:
        raise ValueError(f"{what} offset must be >= 0, not {position}")
    if isinstance(position, str):
        _as_time(position)


def _first_offset_at(client: Lift, stream: str, partition: int, when: datetime, last: int) -> int:
    """The first offset received at or after ``when`` (``last + 1`` if none)."""
    sub = client.subscribe(stream, partition, start=Start.at_time(when), stop=Stop.at_offset(last))
    with sub:
        for m in sub:
            return m.offset
    return last + 1


def _high_watermark(client: Lift, stream: str, partition: int, timeout: float) -> int:
    try:
        return client.fetch_partition_metadata(stream, partition, timeout=timeout).high_watermark
    except ApiError as exc:
        if isinstance(exc, ErrNoSuchPartition):
            raise
        # A paused partition has no active leader to answer: say so, rather than the server's riddle.
        info = client.fetch_metadata([stream], timeout=timeout).streams.get(stream)
        if info is None or partition not in info.partitions or not info.partitions[partition].paused:
            raise
        raise ErrPartitionPaused(
            f"partition {partition} of {stream!r} is paused and read_stream does not resume it: "
            f"{HINTS['paused']}",
            exc.code,
            exc.details,
        ) from exc


def _plan(
    client: Lift, stream: str, partition: int, start: Position, end: Position, timeout: float
) -> _Range:
    hw = _high_watermark(client, stream, partition, timeout)
    if hw < 0:
        return _Range(partition, Start.earliest(), 0, 0, next=0)
    if end is None or end == "latest":
        stop = hw + 1
    elif end == "earliest":
        stop = 0
    elif isinstance(end, int):
        stop = min(end, hw + 1)
    else:
        when = _as_time(end)
        assert when is not None
        stop = _first_offset_at(client, stream, partition, when, hw)
    first: int | None
    if start is None or start == "earliest":
        begin, first = Start.earliest(), None
    elif start == "latest":
        begin, first = Start.at_offset(hw), hw
    elif isinstance(start, int):
        begin, first = Start.at_offset(start), start
    else:
        when = _as_time(start)
        assert when is not None
        begin, first = Start.at_time(when), None
    return _Range(partition, begin, stop, first, next=hw + 1)


def _open(client: Lift, stream: str, r: _Range, timeout: float) -> Subscription:
    """A range's subscription, read in large batches: once open, it reads on while others are taken."""
    return client._subscribe(
        stream, r.partition, start=r.start, stop=Stop.at_offset(r.end - 1), timeout=timeout, bulk=True
    )


_EMPTY = pa.table(
    {
        "offset": pa.array([], pa.int64()),
        "timestamp": pa.array([], pa.timestamp("ns", "UTC")),
        "key": pa.array([], pa.binary()),
        "value": pa.array([], pa.binary()),
        "headers": pa.array([], pa.map_(pa.string(), pa.binary())),
        "subject": pa.array([], pa.string()),
        "reply": pa.array([], pa.string()),
    }
)
"""A partition's columns as the native reader gives them, without a row."""


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches) if batches else _EMPTY


def _frame(
    stream: str,
    parts: Sequence[tuple[int, pa.Table]],
    *,
    value: Decoder,
    key: Decoder,
    flatten: bool,
    errors: str,
) -> pd.DataFrame:
    n = sum(len(t) for _, t in parts)

    def numbers(name: str) -> np.ndarray:
        arrays = [t.column(name).cast(pa.int64()).to_numpy() for _, t in parts]
        return np.concatenate(arrays) if arrays else np.empty(0, "int64")

    offsets, stamps = numbers("offset"), numbers("timestamp")
    partition = np.concatenate(
        [np.full(len(t), p, dtype="int32") for p, t in parts] or [np.empty(0, "int32")]
    )

    def column(name: str) -> list[Any]:
        return [x for _, t in parts for x in t.column(name).to_pylist()]

    raw_values, raw_keys = column("value"), column("key")
    values = decode(raw_values, value, flatten=flatten, prefix="value")
    keys = decode(raw_keys, key, flatten=False, prefix="key")
    failures = {
        **{i: f"key {why}" for i, why in keys.failures.items()},
        **{i: f"value {why}" for i, why in values.failures.items()},
    }
    if failures and errors == "raise":
        i = min(failures)
        raise ErrDecode(
            f"cannot decode partition {int(partition[i])} offset {int(offsets[i])}: {failures[i]} "
            f"({HINTS['decode']})",
            int(partition[i]),
            int(offsets[i]),
        )
    lead = pd.DataFrame(
        {
            "partition": partition,
            "offset": offsets,
            "timestamp": pd.to_datetime(stamps, unit="ns", utc=True).astype("datetime64[ns, UTC]"),
            "key": pd.Series(keys.values, dtype="object"),
        }
    )
    trail = pd.DataFrame(
        {
            "value": pd.Series(values.values, dtype="object"),
            **(
                {"decode_error": pd.Series([failures.get(i) for i in range(n)], dtype="object")}
                if errors == "coerce"
                else {}
            ),
            "headers": pd.Series(decode_headers([dict(h) for h in column("headers")], value), dtype="object"),
            "stream": pd.Series([stream] * n, dtype="object"),
            "subject": pd.Series(column("subject"), dtype="object"),
            "reply_subject": pd.Series(column("reply"), dtype="object"),
        }
    )
    frame = pd.concat([lead, trail] if values.fields is None else [lead, values.fields, trail], axis=1)
    if n < 2 or _in_order(partition, offsets, stamps):
        return frame  # one partition read in order, as is common: the sort would only copy
    order = np.lexsort((offsets, partition, stamps))
    return frame.take(order).reset_index(drop=True)


def _in_order(partition: np.ndarray, offsets: np.ndarray, stamps: np.ndarray) -> bool:
    """Whether rows are already by (timestamp, partition, offset): one partition, both ascending."""
    return bool(
        (partition == partition[0]).all() and (np.diff(offsets) > 0).all() and (np.diff(stamps) >= 0).all()
    )


def _progress(
    progress: bool | None, stream: str, ranges: list[_Range], tally: _Tally, total: Callable[[], int]
) -> Any:
    """A tqdm bar of ``total()`` messages, or None.

    ``total()`` is called for a bar, or when the ranges' offsets give it (then it asks the server
    nothing); ``tally`` keeps it.
    """
    if all(r.first is not None for r in ranges):
        tally.measure(total)
    if progress is None:
        progress = os.environ.get("TQDM_DISABLE", "") in ("", "0")
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    # disable=False: asked for (progress=True), it shows even where $TQDM_DISABLE would hide it.
    return tqdm(total=tally.measure(total), desc=f"read {stream}", unit="msg", disable=False)


def _total(lift: Lift, stream: str, ranges: list[_Range], timeout: float, each: int | None = None) -> int:
    """How many messages the ranges hold (at most ``each`` of each), for a progress bar.

    A start the offsets do not give (the oldest retained, a time) is looked up: one short subscription.
    """
    sizes = [end - first for _, first, end in _spans(lift, stream, ranges, timeout)]
    return sum(sizes if each is None else (min(n, each) for n in sizes))


@overload
def read_stream(
    stream: str,
    start: Position = None,
    end: Position = None,
    *,
    partitions: Sequence[int] | None = None,
    client: Lift | None = None,
    address: str | None = None,
    value: Decoder = "auto",
    key: Decoder = "utf8",
    flatten: bool = True,
    max_messages: int | None = None,
    chunksize: int | None = None,
    progress: bool | None = None,
    errors: Literal["raise", "coerce"] = "raise",
    engine: Literal["dask"],
    timeout: float | None = None,
) -> Any: ...


@overload
def read_stream(
    stream: str,
    start: Position = None,
    end: Position = None,
    *,
    partitions: Sequence[int] | None = None,
    client: Lift | None = None,
    address: str | None = None,
    value: Decoder = "auto",
    key: Decoder = "utf8",
    flatten: bool = True,
    max_messages: int | None = None,
    chunksize: None = None,
    progress: bool | None = None,
    errors: Literal["raise", "coerce"] = "raise",
    engine: Literal["pandas"] = "pandas",
    timeout: float | None = None,
) -> pd.DataFrame: ...


@overload
def read_stream(
    stream: str,
    start: Position = None,
    end: Position = None,
    *,
    partitions: Sequence[int] | None = None,
    client: Lift | None = None,
    address: str | None = None,
    value: Decoder = "auto",
    key: Decoder = "utf8",
    flatten: bool = True,
    max_messages: int | None = None,
    chunksize: int,
    progress: bool | None = None,
    errors: Literal["raise", "coerce"] = "raise",
    engine: Literal["pandas", "arrow", "polars"] = "pandas",
    timeout: float | None = None,
) -> Iterator[Any]: ...


@overload
def read_stream(
    stream: str,
    start: Position = None,
    end: Position = None,
    *,
    partitions: Sequence[int] | None = None,
    client: Lift | None = None,
    address: str | None = None,
    value: Decoder = "auto",
    key: Decoder = "utf8",
    flatten: bool = True,
    max_messages: int | None = None,
    chunksize: int | None = None,
    progress: bool | None = None,
    errors: Literal["raise", "coerce"] = "raise",
    engine: Engine = "pandas",
    timeout: float | None = None,
) -> Any: ...


def read_stream(
    stream: str,
    start: Position = None,
    end: Position = None,
    *,
    partitions: Sequence[int] | None = None,
    client: Lift | None = None,
    address: str | None = None,
    value: Decoder = "auto",
    key: Decoder = "utf8",
    flatten: bool = True,
    max_messages: int | None = None,
    chunksize: int | None = None,
    progress: bool | None = None,
    errors: Literal["raise", "coerce"] = "raise",
    engine: Engine = "pandas",
    timeout: float | None = None,
) -> Any:
    """Read ``[start, end)`` of every (or each chosen) partition of ``stream`` into a DataFrame.

    ``start`` and ``end`` take an offset, a ``datetime``/``pandas.Timestamp``/ISO
    string (naive means local time), a ``timedelta`` (that long before now),
    ``"earliest"`` or ``"latest"``. ``start=None`` is the oldest retained
    message, ``end=None`` the newest at call time; nothing newer is waited for. A start
    offset beyond the next offset of every partition read, or a start after the end, raises
    :class:`ErrOutOfRange`; an unknown partition raises :class:`ErrNoSuchPartition` and a
    paused one :class:`ErrPartitionPaused` (read_stream never resumes it).

    Every partition is read at once by the native data plane (its own threads, outside the
    GIL), each ended by a server-side stop offset; rows are ordered by (timestamp,
    partition, offset). Columns, in this order: ``partition``
    (int32), ``offset`` (int64), ``timestamp`` (datetime64[ns, UTC]), ``key``, then with
    ``flatten=True`` the fields of JSON object values as ``value.<field>`` (an integer field
    some rows lack is nullable ``Int64``), then the raw ``value``, ``headers`` (values
    decoded as text unless ``value="bytes"``), ``stream``, ``subject``, ``reply_subject``.

    Decoders (``value``, ``key``): ``"auto"`` (JSON, else text, else bytes),
    ``"json"``, ``"utf8"``, ``"bytes"`` or a function of bytes. A value that
    fails raises :class:`ErrDecode` naming its partition and offset, or with
    ``errors="coerce"`` stays raw and a ``decode_error`` column says why.

    ``chunksize=N`` returns an iterator of
    DataFrames of N rows in the same order; ``engine="arrow"`` returns a ``pyarrow.Table`` and ``"polars"`` a
    polars DataFrame. A ``tqdm`` bar shows progress (``progress=False`` or
    ``TQDM_DISABLE`` turns it off). Ctrl-C stops every partition read and raises
    :class:`ReadInterrupted` (a ``KeyboardInterrupt``), shown as one line: how many messages were read.
    """
    _check_position(start, "start")
    _check_position(end, "end")
    check_decoder(value, "value")
    check_decoder(key, "key")
    if errors not in ("raise", "coerce"):
        raise ValueError(f"errors must be 'raise' or 'coerce', not {errors!r}")
    if engine not in ("pandas", "arrow", "polars", "dask"):
        raise ValueError(f"engine must be pandas, arrow, polars or dask, not {engine!r}")
    if partitions is not None and not isinstance(partitions, Sequence | set | range):
        raise TypeError(f"partitions takes a list of partition numbers (partitions=[0]), not {partitions!r}")
    chosen = None if partitions is None else [check_partition(p) for p in partitions]
    if chosen is not None and len(set(chosen)) < len(chosen):
        twice = min(p for p in chosen if chosen.count(p) > 1)
        raise ValueError(f"partitions lists partition {twice} more than once (list each once): {partitions}")
    if client is not None and address is not None:
        raise ValueError("give client= or address=, not both (the client already has its address)")
    for name, n in (("max_messages", max_messages), ("chunksize", chunksize)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"{name} must be a positive int, not {n!r}")
    if isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool) and start > end:
        raise ErrOutOfRange(f"start offset {start} is after end offset {end}: {HINTS['start_after_end']}")
    t_start, t_end = _as_time(start), _as_time(end)
    if t_start is not None and t_end is not None and to_unix_ns(t_start) > to_unix_ns(t_end):
        utc = [pd.Timestamp(to_unix_ns(t), unit="ns", tz="UTC").floor("s") for t in (t_start, t_end)]
        raise ErrOutOfRange(
            f"start {utc[0]:%Y-%m-%d %H:%M:%S} UTC is after end {utc[1]:%Y-%m-%d %H:%M:%S} UTC "
            "(naive times are local time): give a start before the end"
        )

    owned = client is None
    lift = client or Lift(default_address(address), timeout=timeout)
    t = lift._timeout(timeout)
    options = {"value": value, "key": key, "flatten": flatten, "errors": errors}
    tally = _Tally()
    try:
        count = lift.partition_count(stream, timeout=t)
        if chosen is None:
            chosen = list(range(count))
        for p in chosen:
            if p >= count:
                raise no_such(stream, p, count)
        plans = [_plan(lift, stream, p, start, end, t) for p in chosen]
        if isinstance(start, int) and plans and all(start > r.next for r in plans):
            ends = ", ".join(f"{r.partition}: {r.next}" for r in plans)
            raise ErrOutOfRange(
                f"start offset {start} is past the end of {stream!r} (next offset by partition: {ends}); "
                f"{HINTS['past_end']}"
            )
        ranges = [r for r in plans if not r.empty]
        tally.most = sum(r.end - (r.first or 0) for r in ranges)
        if engine == "dask":
            return _read_dask(lift, stream, ranges, chunksize or DASK_CHUNK, options, t)
        if chunksize is not None:
            chunks = _chunks(
                lift, stream, ranges, chunksize, max_messages, progress, options, t, tally, owned
            )
            owned = False  # the generator closes the client when it is done
            return (_convert(c, engine) for c in chunks)
        return _convert(_read_all(lift, stream, ranges, max_messages, progress, options, t, tally), engine)
    except KeyboardInterrupt as exc:  # Ctrl-C: one line that says how far the read got, no traceback
        if isinstance(exc, ReadInterrupted):
            raise
        raise tally.interrupted() from None
    finally:
        if owned:
            lift.close()


def _read_all(
    lift: Lift,
    stream: str,
    ranges: list[_Range],
    max_messages: int | None,
    progress: bool | None,
    options: dict[str, Any],
    timeout: float,
    tally: _Tally,
) -> pd.DataFrame:
    """Every range at once: each subscription reads in the native runtime while the others are taken."""
    bar = _progress(
        progress, stream, ranges, tally, lambda: _total(lift, stream, ranges, timeout, max_messages)
    )
    parts: list[tuple[int, list[pa.RecordBatch]]] = [(r.partition, []) for r in ranges]
    read = [0]
    tally.count = lambda: read[0]
    subs: list[Subscription] = []
    try:
        subs.extend(_open(lift, stream, r, timeout) for r in ranges)
        for sub, (_, batches) in zip(subs, parts, strict=True):
            got = 0
            for native in iter(sub.next_batch, None):
                batch = pa.record_batch(native)
                if max_messages is not None and got + len(batch) >= max_messages:
                    batch = batch.slice(0, max_messages - got)
                batches.append(batch)
                got += len(batch)
                read[0] += len(batch)
                if bar is not None:
                    bar.update(len(batch))
                if got == max_messages:
                    break
            sub.close()
    finally:
        for sub in subs:
            sub.close()
        if bar is not None:
            bar.close()
    frame = _frame(stream, [(p, _table(batches)) for p, batches in parts], **options)
    return frame.head(max_messages) if max_messages is not None else frame


def _chunks(
    lift: Lift,
    stream: str,
    ranges: list[_Range],
    chunksize: int,
    max_messages: int | None,
    progress: bool | None,
    options: dict[str, Any],
    timeout: float,
    tally: _Tally,
    owned: bool,
) -> Iterator[pd.DataFrame]:
    """Merge the partitions by (timestamp, partition, offset) and cut the result every ``chunksize`` rows."""
    total = functools.partial(_total, lift, stream, ranges, timeout)
    emitted = taken = 0
    tally.count = lambda: emitted + taken
    subs: list[Subscription] = []
    bar = None

    def keyed(partition: int, sub: Subscription) -> Iterator[tuple[int, int, int, pa.RecordBatch, int]]:
        for native in iter(sub.next_batch, None):
            batch = pa.record_batch(native)
            stamps = batch.column("timestamp").cast(pa.int64()).to_pylist()
            for row, (stamp, offset) in enumerate(
                zip(stamps, batch.column("offset").to_pylist(), strict=True)
            ):
                yield stamp, partition, offset, batch, row

    try:
        bar = _progress(
            progress,
            stream,
            ranges,
            tally,
            lambda: total() if max_messages is None else min(total(), max_messages),
        )
        subs.extend(_open(lift, stream, r, timeout) for r in ranges)
        merged = heapq.merge(*(keyed(r.partition, s) for r, s in zip(ranges, subs, strict=True)))
        while max_messages is None or emitted < max_messages:
            want = chunksize if max_messages is None else min(chunksize, max_messages - emitted)
            # Each partition's rows of the chunk as runs of rows of its batches: [batch, first, end).
            runs: dict[int, list[list[Any]]] = {}
            for _, partition, _, batch, row in merged:
                mine = runs.setdefault(partition, [])
                if mine and mine[-1][0] is batch and mine[-1][2] == row:
                    mine[-1][2] = row + 1
                else:
                    mine.append([batch, row, row + 1])
                taken += 1
                if taken >= want:
                    break
            if not taken:
                return
            if bar is not None:
                bar.update(taken)
            emitted, taken = emitted + taken, 0
            tables = {p: _table([b.slice(lo, hi - lo) for b, lo, hi in mine]) for p, mine in runs.items()}
            yield _frame(stream, sorted(tables.items()), **options)
    except KeyboardInterrupt as exc:  # Ctrl-C while this generator reads (not in the caller's loop)
        if isinstance(exc, ReadInterrupted):
            raise
        raise tally.interrupted() from None
    finally:
        for sub in subs:
            sub.close()
        if bar is not None:
            bar.close()
        if owned:
            lift.close()


DASK_CHUNK = 100_000
"""Offsets each Dask task reads unless ``chunksize`` says otherwise."""


def _first_offset(lift: Lift, stream: str, r: _Range, timeout: float) -> int | None:
    """The first offset a range's start position reaches (None if nothing is there)."""
    with lift.subscribe(
        stream, r.partition, start=r.start, stop=Stop.at_offset(r.end - 1), timeout=timeout
    ) as sub:
        for m in sub:
            return m.offset
    return None


def _spans(lift: Lift, stream: str, ranges: list[_Range], timeout: float) -> list[Piece]:
    """Each non-empty range as (partition, first offset, end), its first offset looked up when not known."""
    spans: list[Piece] = []
    for r in ranges:
        first = r.first if r.first is not None else _first_offset(lift, stream, r, timeout)
        if first is not None and first < r.end:
            spans.append((r.partition, first, r.end))
    return spans


def _cut(spans: list[Piece], size: int) -> list[Piece]:
    """The spans cut into stretches of at most ``size`` offsets."""
    return [(p, lo, min(lo + size, end)) for p, first, end in spans for lo in range(first, end, size)]


def _read_task(
    seeds: list[str], tls: Any, client_options: Any, stream: str, partition: int, lo: int, hi: int,
    options: dict[str, Any], columns: list[str],
) -> pd.DataFrame:  # fmt: skip
    """One Dask task: offsets [lo, hi) of one partition, over the task's own connection."""
    with Lift(addresses=seeds, tls=tls, options=client_options) as lift:
        frame: pd.DataFrame = read_stream(
            stream, lo, hi, partitions=[partition], client=lift, progress=False, **options
        )
    return frame.reindex(columns=columns)


def _read_dask(
    lift: Lift, stream: str, ranges: list[_Range], chunk: int, options: dict[str, Any], timeout: float
) -> Any:
    """A dask DataFrame of delayed tasks, one per (partition, ``chunk`` offsets)."""
    try:
        import dask.config
        import dask.dataframe as dd
        from dask.delayed import delayed
    except ImportError as exc:
        raise ImportError("engine='dask' needs dask: pip install 'liftbridge-nb[dask]'") from exc
    pieces = _cut(_spans(lift, stream, ranges, timeout), chunk)
    # The columns come from a small sample (JSON fields included); every task returns exactly these.
    sample = (
        read_stream(stream, pieces[0][1], min(pieces[0][1] + 100, pieces[0][2]), partitions=[pieces[0][0]],
                    client=lift, progress=False, **options)
        if pieces else _frame(stream, [], **options)
    )  # fmt: skip
    columns = list(sample.columns)
    meta = sample.iloc[:0]
    seeds, tls, client_options = lift._cache.seeds, lift.tls, lift.options
    tasks = [
        delayed(_read_task)(seeds, tls, client_options, stream, p, lo, hi, options, columns)
        for p, lo, hi in pieces
    ]
    # Keep read_stream's dtypes (object columns), not Dask's default conversion to Arrow strings.
    with dask.config.set({"dataframe.convert-string": False}):
        if not tasks:
            return dd.from_pandas(meta, npartitions=1)  # type: ignore[no-untyped-call]
        return dd.from_delayed(tasks, meta=meta, verify_meta=False)


def _convert(frame: pd.DataFrame, engine: Engine) -> pd.DataFrame | pa.Table | Any:
    if engine == "pandas":
        return frame
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if engine == "arrow":
        return table
    try:
        import polars as pl
    except ImportError as exc:
        raise ImportError("engine='polars' needs polars: pip install 'liftbridge-nb[polars]'") from exc
    return pl.from_arrow(table)
