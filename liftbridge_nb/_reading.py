"""Reading planned ranges: every partition at once (a frame), merged in chunks, or as Dask tasks."""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from ._building import frame, table
from .client import Lift, Subscription
from .errors import ReadInterrupted
from .models import Stop
from .planning import PartitionRange, cut, spans, total


@dataclass
class Tally:
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


def open_range(client: Lift, stream: str, r: PartitionRange, timeout: float) -> Subscription:
    """A range's subscription, read in large batches: once open, it reads on while others are taken."""
    return client._subscribe(
        stream, r.partition, start=r.start, stop=Stop.at_offset(r.end - 1), timeout=timeout, bulk=True
    )


def progress_bar(
    progress: bool | None, stream: str, ranges: list[PartitionRange], tally: Tally, total: Callable[[], int]
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


def read_all(
    lift: Lift,
    stream: str,
    ranges: list[PartitionRange],
    max_messages: int | None,
    progress: bool | None,
    options: dict[str, Any],
    timeout: float,
    tally: Tally,
) -> pd.DataFrame:
    """Every range at once: each subscription reads in the native runtime while the others are taken."""
    bar = progress_bar(
        progress, stream, ranges, tally, lambda: total(lift, stream, ranges, timeout, max_messages)
    )
    parts: list[tuple[int, list[pa.RecordBatch]]] = [(r.partition, []) for r in ranges]
    read = [0]
    tally.count = lambda: read[0]
    subs: list[Subscription] = []
    try:
        subs.extend(open_range(lift, stream, r, timeout) for r in ranges)
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
    result = frame(stream, [(p, table(batches)) for p, batches in parts], **options)
    return result.head(max_messages) if max_messages is not None else result


def chunks(
    lift: Lift,
    stream: str,
    ranges: list[PartitionRange],
    chunksize: int,
    max_messages: int | None,
    progress: bool | None,
    options: dict[str, Any],
    timeout: float,
    tally: Tally,
    owned: bool,
) -> Iterator[pd.DataFrame]:
    """Merge the partitions by (timestamp, partition, offset) and cut the result every ``chunksize`` rows."""
    everything = functools.partial(total, lift, stream, ranges, timeout)
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
        bar = progress_bar(
            progress,
            stream,
            ranges,
            tally,
            lambda: everything() if max_messages is None else min(everything(), max_messages),
        )
        subs.extend(open_range(lift, stream, r, timeout) for r in ranges)
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
            tables = {p: table([b.slice(lo, hi - lo) for b, lo, hi in mine]) for p, mine in runs.items()}
            yield frame(stream, sorted(tables.items()), **options)
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


def read_task(
    seeds: list[str], tls: Any, client_options: Any, stream: str, partition: int, lo: int, hi: int,
    options: dict[str, Any], columns: list[str],
) -> pd.DataFrame:  # fmt: skip
    """One Dask task: offsets [lo, hi) of one partition, over the task's own connection."""
    from .frames import read_stream

    with Lift(addresses=seeds, tls=tls, options=client_options) as lift:
        frame: pd.DataFrame = read_stream(
            stream, lo, hi, partitions=[partition], client=lift, progress=False, **options
        )
    return frame.reindex(columns=columns)


def read_dask(
    lift: Lift, stream: str, ranges: list[PartitionRange], chunk: int, options: dict[str, Any], timeout: float
) -> Any:
    """A dask DataFrame of delayed tasks, one per (partition, ``chunk`` offsets)."""
    from .frames import read_stream

    try:
        import dask.config
        import dask.dataframe as dd
        from dask.delayed import delayed
    except ImportError as exc:
        raise ImportError("engine='dask' needs dask: pip install 'liftbridge-nb[dask]'") from exc
    pieces = cut(spans(lift, stream, ranges, timeout), chunk)
    # The columns come from a small sample (JSON fields included); every task returns exactly these.
    sample = (
        read_stream(stream, pieces[0][1], min(pieces[0][1] + 100, pieces[0][2]), partitions=[pieces[0][0]],
                    client=lift, progress=False, **options)
        if pieces else frame(stream, [], **options)
    )  # fmt: skip
    columns = list(sample.columns)
    meta = sample.iloc[:0]
    seeds, tls, client_options = lift._cache.seeds, lift.tls, lift.options
    tasks = [
        delayed(read_task)(seeds, tls, client_options, stream, p, lo, hi, options, columns)
        for p, lo, hi in pieces
    ]
    # Keep read_stream's dtypes (object columns), not Dask's default conversion to Arrow strings.
    with dask.config.set({"dataframe.convert-string": False}):
        if not tasks:
            return dd.from_pandas(meta, npartitions=1)  # type: ignore[no-untyped-call]
        return dd.from_delayed(tasks, meta=meta, verify_meta=False)
