"""Planning a read: where each partition's read starts and ends, from offsets, times or names.

Public, for what reads a stream in its own way (the widgets' stream browser): :func:`plan_range`
turns ``start``/``end`` positions into a :class:`PartitionRange`, :func:`high_watermark` and
:func:`first_offset_at` answer the two questions a plan asks the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from .client import Lift
from .errors import ApiError, ErrNoSuchPartition, ErrOutOfRange, ErrPartitionPaused
from .models import Start, Stop, to_unix_ns

Position = int | datetime | pd.Timestamp | str | timedelta | None
"""Where a read starts or ends: an offset, a time (a datetime, pandas.Timestamp or ISO string; naive
is local), a timedelta (that long ago), ``"earliest"``, ``"latest"``, or None (the default end)."""

Positions = Position | Mapping[int, Position]
"""A position for every partition read, or one for each: ``{0: 120, 2: 80}`` (then the partitions read
are its keys)."""

Piece = tuple[int, int, int]  # partition, first offset, end offset (exclusive)


HINTS = {
    "decode": "errors='coerce' keeps the raw bytes and records why in a decode_error column",
    "past_end": "give an offset up to the next one, or start='earliest' or 'latest'",
    "start_after_end": "give start <= end (the end is exclusive)",
    "paused": "resume it (subscribe with resume=True, or publish to it), or leave it out with "
    "partitions=[...]",
}
"""What to do about read_stream's errors, in its keyword arguments; in one place, so that the magics can
say it in their flags instead (each message quotes its hint as it is here)."""


@dataclass
class PartitionRange:
    """One partition's share of a read: where it starts, and the first offset it must not read."""

    partition: int
    start: Start
    end: int  # exclusive
    first: int | None  # the start offset when known up front (for progress and emptiness)
    next: int = 0  # the partition's next offset (high watermark + 1) when planned

    @property
    def empty(self) -> bool:
        """Whether the range holds no offset."""
        return self.end <= 0 or (self.first is not None and self.first >= self.end)


def as_time(position: Position) -> datetime | None:
    """The time a position names (a timedelta: that long before now), None for an offset or a name."""
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


def check_position(position: Position, what: str) -> None:
    """Raise what is wrong with a position (``what`` names the argument): a clear TypeError or ValueError."""
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
        as_time(position)


def by_partition(positions: Positions, what: str) -> dict[int, Position] | None:
    """A per-partition mapping's positions, checked (``what`` names the argument); None for one position."""
    if not isinstance(positions, Mapping):
        check_position(positions, what)
        return None
    if not positions:
        raise ValueError(f"{what} is an empty mapping: give a position for each partition to read")
    out: dict[int, Position] = {}
    for partition, position in positions.items():
        if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
            raise TypeError(f"{what} maps partition numbers (ints >= 0) to positions, not {partition!r}")
        check_position(position, f"{what}[{partition}]")
        out[partition] = position
    return out


def position_of(positions: Positions, partition: int) -> Position:
    """Where ``positions`` (one position, or one per partition) puts ``partition``."""
    return positions[partition] if isinstance(positions, Mapping) else positions


def check_order(start: Position, end: Position, where: str = "") -> None:
    """Raise ErrOutOfRange when ``start`` is after ``end`` (two offsets, or two times); ``where``: whose."""
    if isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool) and start > end:
        raise ErrOutOfRange(
            f"start offset {start}{where} is after end offset {end}: {HINTS['start_after_end']}"
        )
    t_start, t_end = as_time(start), as_time(end)
    if t_start is not None and t_end is not None and to_unix_ns(t_start) > to_unix_ns(t_end):
        utc = [pd.Timestamp(to_unix_ns(t), unit="ns", tz="UTC").floor("s") for t in (t_start, t_end)]
        raise ErrOutOfRange(
            f"start {utc[0]:%Y-%m-%d %H:%M:%S} UTC{where} is after end {utc[1]:%Y-%m-%d %H:%M:%S} UTC "
            "(naive times are local time): give a start before the end"
        )


def first_offset_at(client: Lift, stream: str, partition: int, when: datetime, last: int) -> int:
    """The first offset received at or after ``when`` (``last + 1`` if none)."""
    sub = client.subscribe(stream, partition, start=Start.at_time(when), stop=Stop.at_offset(last))
    with sub:
        for m in sub:
            return m.offset
    return last + 1


def high_watermark(client: Lift, stream: str, partition: int, timeout: float) -> int:
    """The partition's newest offset (-1 when empty); a paused partition raises ErrPartitionPaused."""
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


def plan_range(
    client: Lift, stream: str, partition: int, start: Position, end: Position, timeout: float
) -> PartitionRange:
    """Where a read of ``[start, end)`` of one partition starts and ends, as the server has it now."""
    hw = high_watermark(client, stream, partition, timeout)
    if hw < 0:
        return PartitionRange(partition, Start.earliest(), 0, 0, next=0)
    if end is None or end == "latest":
        stop = hw + 1
    elif end == "earliest":
        stop = 0
    elif isinstance(end, int):
        stop = min(end, hw + 1)
    else:
        when = as_time(end)
        assert when is not None
        stop = first_offset_at(client, stream, partition, when, hw)
    first: int | None
    if start is None or start == "earliest":
        begin, first = Start.earliest(), None
    elif start == "latest":
        begin, first = Start.at_offset(hw), hw
    elif isinstance(start, int):
        begin, first = Start.at_offset(start), start
    else:
        when = as_time(start)
        assert when is not None
        begin, first = Start.at_time(when), None
    return PartitionRange(partition, begin, stop, first, next=hw + 1)


def first_offset(lift: Lift, stream: str, r: PartitionRange, timeout: float) -> int | None:
    """The first offset a range's start position reaches (None if nothing is there)."""
    with lift.subscribe(
        stream, r.partition, start=r.start, stop=Stop.at_offset(r.end - 1), timeout=timeout
    ) as sub:
        for m in sub:
            return m.offset
    return None


def spans(lift: Lift, stream: str, ranges: list[PartitionRange], timeout: float) -> list[Piece]:
    """Each non-empty range as (partition, first offset, end), its first offset looked up when not known."""
    spans: list[Piece] = []
    for r in ranges:
        first = r.first if r.first is not None else first_offset(lift, stream, r, timeout)
        if first is not None and first < r.end:
            spans.append((r.partition, first, r.end))
    return spans


def cut(spans: list[Piece], size: int) -> list[Piece]:
    """The spans cut into stretches of at most ``size`` offsets."""
    return [(p, lo, min(lo + size, end)) for p, first, end in spans for lo in range(first, end, size)]


def total(
    lift: Lift, stream: str, ranges: list[PartitionRange], timeout: float, each: int | None = None
) -> int:
    """How many messages the ranges hold (at most ``each`` of each), for a progress bar.

    A start the offsets do not give (the oldest retained, a time) is looked up: one short subscription.
    """
    sizes = [end - first for _, first, end in spans(lift, stream, ranges, timeout)]
    return sum(sizes if each is None else (min(n, each) for n in sizes))
