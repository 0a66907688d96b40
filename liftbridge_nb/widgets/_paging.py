"""Pages of a stream for the stream browser: N rows in all, merged by time across partitions.

A page is a set of offset ranges, one per partition (``[start, end)``), and the rows shown are
what ``read_stream(stream, starts, ends)`` returns for them (``.lift.grep(text)`` with a filter):
the code line reproduces the page exactly. The pager reads chunks of each partition until the
page is certain: a row is placed once every partition still being read has been read past its
time, so the first (or, reading backwards, the last) N rows are the merge's, whatever the rates
of the partitions. With a filter it keeps reading until N rows match or ``scan_limit`` rows
were read (or ``stop`` is set), and says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..client import Lift
from ..frames import read_stream
from ..models import Start
from ..planning import PartitionRange, first_offset, first_offset_at, high_watermark

ORDER = ["timestamp", "partition", "offset"]

Key = tuple[int, int, int]
"""Where a row falls in the merge: (timestamp in ns, partition, offset)."""


@dataclass(frozen=True)
class Bounds:
    """A partition's retained offsets when the pager looked: ``[first, next)``."""

    first: int
    next: int

    @property
    def count(self) -> int:
        """How many offsets it holds (compaction may have removed some)."""
        return self.next - self.first


@dataclass(frozen=True)
class Page:
    """The rows of a page, the offset ranges they come from, and how they were found."""

    stream: str
    rows: pd.DataFrame
    """The rows shown, as read_stream gives them (raw bytes), in merge order."""
    starts: dict[int, int]
    ends: dict[int, int]
    """Each partition's range is ``[starts[p], ends[p])``."""
    text: str | None
    scanned: int
    """Rows read to find the page (with a filter, rows that did not match too)."""
    full: bool
    """Whether the page has all the rows it may show: False when a filter's scan stopped at the
    limit (or was stopped) first."""
    bounds: dict[int, Bounds] = field(repr=False)

    @property
    def at_start(self) -> bool:
        """Whether nothing comes before the page."""
        return all(self.starts[p] <= b.first for p, b in self.bounds.items())

    @property
    def at_end(self) -> bool:
        """Whether nothing came after the page when it was read."""
        return all(self.ends[p] >= b.next for p, b in self.bounds.items())

    @property
    def total(self) -> int:
        """Offsets the partitions hold."""
        return sum(b.count for b in self.bounds.values())

    @property
    def before(self) -> int:
        """Offsets before the page."""
        return sum(max(0, self.starts[p] - b.first) for p, b in self.bounds.items())

    def code(self) -> str:
        """The ``read_stream(...)`` line that returns the page's rows."""
        line = f"read_stream({self.stream!r}, {self.starts}, {self.ends})"
        return line if self.text is None else f"{line}.lift.grep({self.text!r})"


class Pager:
    """Pages of ``partitions`` of ``stream``: :meth:`first`, :meth:`last`, :meth:`after`, :meth:`before`.

    ``size`` rows a page; a chunk read from one partition is ``chunk`` offsets at most (at least
    ``size``); a filtered page stops after ``scan_limit`` rows read.
    """

    def __init__(
        self,
        client: Lift,
        stream: str,
        partitions: list[int],
        *,
        size: int = 100,
        chunk: int = 2000,
        scan_limit: int = 100_000,
    ) -> None:
        if not partitions:
            raise ValueError("a pager needs at least one partition")
        self.client = client
        self.stream = stream
        self.partitions = sorted(partitions)
        self.size = size
        self.chunk = max(chunk, size)
        self.scan_limit = scan_limit

    def bounds(self) -> dict[int, Bounds]:
        """Each partition's retained offsets, now."""
        t = self.client.options.timeout
        out = {}
        for p in self.partitions:
            hw = high_watermark(self.client, self.stream, p, t)
            whole = PartitionRange(p, Start.earliest(), hw + 1, None)
            first = first_offset(self.client, self.stream, whole, t) if hw >= 0 else None
            out[p] = Bounds(hw + 1 if first is None else first, hw + 1)
        return out

    # -- the moves ----------------------------------------------------------------------------

    def first(self, text: str | None = None, stop: threading.Event | None = None) -> Page:
        """The first page: the oldest retained rows."""
        bounds = self.bounds()
        return self._walk({p: b.first for p, b in bounds.items()}, bounds, text, stop, 1)

    def last(self, text: str | None = None, stop: threading.Event | None = None) -> Page:
        """The last page: the newest rows."""
        bounds = self.bounds()
        return self._walk({p: b.next for p, b in bounds.items()}, bounds, text, stop, -1)

    def at_time(
        self, when: pd.Timestamp, text: str | None = None, stop: threading.Event | None = None
    ) -> Page:
        """The page that starts with the first row received at or after ``when``."""
        bounds = self.bounds()
        starts = {
            p: first_offset_at(self.client, self.stream, p, when, b.next - 1) if b.count else b.first
            for p, b in bounds.items()
        }
        return self._walk(starts, bounds, text, stop, 1)

    def at_offsets(
        self, starts: dict[int, int], text: str | None = None, stop: threading.Event | None = None
    ) -> Page:
        """The page that starts at these offsets (each kept within its partition's retained range)."""
        bounds = self.bounds()
        clamped = {p: min(max(starts.get(p, b.first), b.first), b.next) for p, b in bounds.items()}
        return self._walk(clamped, bounds, text, stop, 1)

    def after(self, page: Page, stop: threading.Event | None = None) -> Page:
        """The page after ``page`` (with its filter)."""
        bounds = self.bounds()
        return self._walk(dict(page.ends), bounds, page.text, stop, 1)

    def before(self, page: Page, stop: threading.Event | None = None) -> Page:
        """The page before ``page`` (with its filter)."""
        bounds = self.bounds()
        return self._walk(dict(page.starts), bounds, page.text, stop, -1)

    # -- reading -------------------------------------------------------------------------------

    def _read(self, partition: int, lo: int, hi: int) -> pd.DataFrame:
        """Offsets ``[lo, hi)`` of one partition, in offset order, raw."""
        return read_stream(
            self.stream, {partition: lo}, {partition: hi}, client=self.client,
            value="bytes", key="bytes", progress=False,
        ).sort_values("offset", kind="stable")  # fmt: skip

    def _walk(
        self,
        edge: dict[int, int],
        bounds: dict[int, Bounds],
        text: str | None,
        stop: threading.Event | None,
        sign: int,
    ) -> Page:
        """Read from ``edge`` on (``sign`` 1: forward from each start; -1: back from each end).

        Going back is going forward in negated keys: one walk serves both ways.
        """
        reach = dict(edge)  # forward: the first offset not read; back: the lowest offset read
        read: dict[int, pd.DataFrame] = {}
        step = self.size if text is None else self.chunk
        scanned = 0

        def more(p: int) -> bool:
            return reach[p] < bounds[p].next if sign > 0 else reach[p] > bounds[p].first

        while True:
            frontier = _frontier(read, [p for p in self.partitions if more(p)], sign)
            for p in self.partitions:
                last = _edge_key(read.get(p), sign)
                if more(p) and (last is None or frontier is None or last <= frontier):
                    lo, hi = (
                        (reach[p], min(reach[p] + step, bounds[p].next)) if sign > 0
                        else (max(reach[p] - step, bounds[p].first), reach[p])
                    )  # fmt: skip
                    chunk = self._read(p, lo, hi)
                    if p in read:
                        read[p] = pd.concat([read[p], chunk] if sign > 0 else [chunk, read[p]])
                    else:
                        read[p] = chunk
                    scanned += len(chunk)
                    reach[p] = hi if sign > 0 else lo
                    if text is not None:
                        break  # one chunk at a time: the page may be full already
            frontier = _frontier(read, [p for p in self.partitions if more(p)], sign)
            merged = _merged(read, sign)
            certain = merged if frontier is None else merged[_at_most(merged, frontier, sign)]
            shown = certain if text is None or certain.empty else certain.lift.grep(text)
            if frontier is None or len(shown) >= self.size:
                full = True
                break
            if scanned >= self.scan_limit or (stop is not None and stop.is_set()):
                full = False
                break
        # The page ends (going back: begins) at its size-th row, else where the merge is certain.
        bound = _key_of(shown.iloc[self.size - 1], sign) if len(shown) >= self.size else frontier
        far = {}
        for p in self.partitions:
            rows = read.get(p)
            if bound is None or rows is None or rows.empty:
                far[p] = reach[p]
                continue
            beyond = rows[~_at_most(rows, bound, sign)]
            if sign > 0:
                far[p] = int(beyond["offset"].iloc[0]) if len(beyond) else reach[p]
            else:
                far[p] = int(beyond["offset"].iloc[-1]) + 1 if len(beyond) else reach[p]
        near = {p: edge.get(p, reach[p]) for p in self.partitions}
        starts, ends = (near, far) if sign > 0 else (far, near)
        kept = {p: r[(r["offset"] >= starts[p]) & (r["offset"] < ends[p])] for p, r in read.items()}
        rows = _merged(kept, 1)
        rows = rows if text is None or rows.empty else rows.lift.grep(text)
        return Page(self.stream, rows.reset_index(drop=True), starts, ends, text, scanned, full, bounds)


def _key_of(row: pd.Series, sign: int) -> Key:
    """A row's merge key; negated going back."""
    return (sign * int(row["timestamp"].value), sign * int(row["partition"]), sign * int(row["offset"]))


def _edge_key(rows: pd.DataFrame | None, sign: int) -> Key | None:
    """The key of the row read furthest (forward: the last; back: the first), None if none."""
    if rows is None or rows.empty:
        return None
    return _key_of(rows.iloc[-1] if sign > 0 else rows.iloc[0], sign)


def _at_most(rows: pd.DataFrame, key: Key, sign: int) -> np.ndarray:
    """Which rows' keys (negated going back) are at most ``key``, compared as tuples."""
    t = sign * rows["timestamp"].array.asi8
    p = sign * rows["partition"].to_numpy(dtype=np.int64)
    o = sign * rows["offset"].to_numpy(dtype=np.int64)
    kt, kp, ko = key
    result: np.ndarray = (t < kt) | ((t == kt) & ((p < kp) | ((p == kp) & (o <= ko))))
    return result


def _frontier(read: dict[int, pd.DataFrame], reading: list[int], sign: int) -> Key | None:
    """How far the merge is certain, None when nothing is left to read (all is).

    The least key among the furthest rows read of the partitions that have more to read: a row
    beyond it could still come after one not read yet.
    """
    edges = [_edge_key(read.get(p), sign) for p in reading]
    if not edges:
        return None
    if any(e is None for e in edges):
        return _NOTHING  # a partition not read yet: nothing is certain
    return min(e for e in edges if e is not None)


_NOTHING: Key = (-(2**63), -(2**31), -(2**63))
"""A key before every row's (negated or not)."""


def _merged(read: dict[int, pd.DataFrame], sign: int) -> pd.DataFrame:
    """The rows read, in merge order (reversed going back)."""
    if not read:
        return pd.DataFrame(columns=ORDER)
    merged = pd.concat(read.values()).sort_values(ORDER, kind="stable")
    return merged if sign > 0 else merged.iloc[::-1]
