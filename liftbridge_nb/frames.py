"""read_stream: what a stream held between two points, as a DataFrame."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import pandas as pd

from . import analysis  # noqa: F401  (registers the df.lift accessor)
from ._building import COLUMNS, LEAD, TRAIL, Engine, convert
from ._core import check_partition
from ._decode import Decoder, check_decoder
from ._reading import DASK_CHUNK, Tally, chunks, read_all, read_dask
from .client import Lift
from .config import default_address
from .errors import (
    ErrOutOfRange,
    ReadInterrupted,
    no_such,
)
from .planning import HINTS, Position, Positions, by_partition, check_order, plan_range, position_of

__all__ = ["COLUMNS", "HINTS", "LEAD", "TRAIL", "Position", "Positions", "read_stream"]


@overload
def read_stream(
    stream: str,
    start: Positions = None,
    end: Positions = None,
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
    start: Positions = None,
    end: Positions = None,
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
    start: Positions = None,
    end: Positions = None,
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
    start: Positions = None,
    end: Positions = None,
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
    start: Positions = None,
    end: Positions = None,
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
    ``"earliest"`` or ``"latest"``; or a mapping of partitions to those (``{0: 120, 2: 80}``), which
    reads those partitions, each from (or to) its own position. ``start=None`` is the oldest retained
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
    starts, ends = by_partition(start, "start"), by_partition(end, "end")
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
    chosen = _mapped_partitions(chosen, starts, ends)
    if client is not None and address is not None:
        raise ValueError("give client= or address=, not both (the client already has its address)")
    for name, n in (("max_messages", max_messages), ("chunksize", chunksize)):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"{name} must be a positive int, not {n!r}")
    if isinstance(start, Mapping) or isinstance(end, Mapping):
        for p in chosen or ():
            check_order(position_of(start, p), position_of(end, p), f" of partition {p}")
    else:
        check_order(start, end)

    owned = client is None
    lift = client or Lift(default_address(address), timeout=timeout)
    t = lift._timeout(timeout)
    options = {"value": value, "key": key, "flatten": flatten, "errors": errors}
    tally = Tally()
    try:
        count = lift.partition_count(stream, timeout=t)
        if chosen is None:
            chosen = list(range(count))
        for p in chosen:
            if p >= count:
                raise no_such(stream, p, count)
        plans = [plan_range(lift, stream, p, position_of(start, p), position_of(end, p), t) for p in chosen]
        if starts is not None:
            for r in plans:
                if isinstance(first := starts[r.partition], int) and first > r.next:
                    raise ErrOutOfRange(
                        f"start offset {first} of partition {r.partition} is past its end (next offset "
                        f"{r.next}) in {stream!r}: {HINTS['past_end']}"
                    )
        elif isinstance(start, int) and plans and all(start > r.next for r in plans):
            nexts = ", ".join(f"{r.partition}: {r.next}" for r in plans)
            raise ErrOutOfRange(
                f"start offset {start} is past the end of {stream!r} (next offset by partition: {nexts}); "
                f"{HINTS['past_end']}"
            )
        ranges = [r for r in plans if not r.empty]
        tally.most = sum(r.end - (r.first or 0) for r in ranges)
        if engine == "dask":
            return read_dask(lift, stream, ranges, chunksize or DASK_CHUNK, options, t)
        if chunksize is not None:
            frames = chunks(lift, stream, ranges, chunksize, max_messages, progress, options, t, tally, owned)
            owned = False  # the generator closes the client when it is done
            return (convert(c, engine) for c in frames)
        return convert(read_all(lift, stream, ranges, max_messages, progress, options, t, tally), engine)
    except KeyboardInterrupt as exc:  # Ctrl-C: one line that says how far the read got, no traceback
        if isinstance(exc, ReadInterrupted):
            raise
        raise tally.interrupted() from None
    finally:
        if owned:
            lift.close()


def _mapped_partitions(
    chosen: list[int] | None, starts: dict[int, Position] | None, ends: dict[int, Position] | None
) -> list[int] | None:
    """The partitions to read when ``start`` or ``end`` maps partitions to positions: its keys."""
    mapped = [m for m in (starts, ends) if m is not None]
    if not mapped:
        return chosen
    keys = sorted(mapped[0])
    if len(mapped) == 2 and sorted(mapped[1]) != keys:
        raise ValueError(
            f"start maps partitions {keys} but end maps {sorted(mapped[1])}: map the same partitions"
        )
    if chosen is not None and sorted(chosen) != keys:
        raise ValueError(
            f"partitions={sorted(chosen)} but the positions map partitions {keys}: leave partitions= out "
            "(a mapping names the partitions it reads)"
        )
    return keys
