"""Building read_stream's frames from the native reader's Arrow batches, and the other engines' results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._decode import POOL, Decoder, decode, decode_headers, numbers, text_series
from .errors import ErrDecode
from .planning import HINTS

Engine = Literal["pandas", "arrow", "polars", "dask"]

LEAD = ["partition", "offset", "timestamp", "key"]
"""read_stream's first columns; the ``value.<field>`` columns of JSON objects follow, then :data:`TRAIL`."""


TRAIL = ["value", "headers", "stream", "subject", "reply_subject"]
"""read_stream's last columns (``decode_error``, with ``errors="coerce"``, follows ``value``)."""


COLUMNS = LEAD + TRAIL
"""The columns of a frame without JSON fields (or decode errors)."""


EMPTY = pa.table(
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


def table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches) if batches else EMPTY


def frame(
    stream: str,
    parts: Sequence[tuple[int, pa.Table]],
    *,
    value: Decoder,
    key: Decoder,
    flatten: bool,
    errors: str,
) -> pd.DataFrame:
    """The frame of partitions' columns (partition, its Arrow table), rows by time, partition, offset.

    Columns stay in Arrow where the data allows (text as pandas' Arrow-backed ``str``, bytes as
    ``binary[pyarrow]``): a Python object per row only for what needs one (JSON that is not one
    object per value, a decoder function, headers).
    """
    whole = pa.concat_tables([t for _, t in parts], memory_pool=POOL) if parts else EMPTY
    n = len(whole)
    offsets = numbers(whole.column("offset"))
    stamps = numbers(whole.column("timestamp").cast(pa.int64()))
    partition = np.concatenate(
        [np.full(len(t), p, dtype="int32") for p, t in parts] or [np.empty(0, "int32")]
    )
    if n > 1 and not in_order(partition, offsets, stamps):  # one partition read in order is common
        order = np.lexsort((offsets, partition, stamps))
        whole = pc.take(whole, pa.array(order, memory_pool=POOL), memory_pool=POOL)
        offsets, stamps, partition = offsets[order], stamps[order], partition[order]
    values = decode(whole.column("value"), value, flatten=flatten, prefix="value")
    keys = decode(whole.column("key"), key, flatten=False, prefix="key")
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
            "key": _series(keys.values),
        }
    )
    trail = pd.DataFrame(
        {
            "value": _series(values.values),
            **(
                {"decode_error": pd.Series([failures.get(i) for i in range(n)], dtype="object")}
                if errors == "coerce"
                else {}
            ),
            "headers": pd.Series(decode_headers(_headers(whole.column("headers")), value), dtype="object"),
            "stream": text_series(pa.chunked_array([pa.repeat(pa.scalar(stream, pa.string()), n, POOL)])),
            "subject": text_series(whole.column("subject")),
            "reply_subject": text_series(whole.column("reply")),
        }
    )
    return pd.concat([lead, trail] if values.fields is None else [lead, values.fields, trail], axis=1)


def _series(values: list[Any] | pd.Series) -> pd.Series:
    """A decoded column as a Series: an Arrow-backed one as it is, a list of objects as ``object``."""
    return values if isinstance(values, pd.Series) else pd.Series(values, dtype="object")


def _headers(column: pa.ChunkedArray) -> list[dict[str, bytes]]:
    """Each row's headers as a dict: only the rows that have some are converted (most have none)."""
    sizes = np.concatenate([np.diff(c.offsets.to_numpy()) for c in column.chunks] or [np.empty(0, "int32")])
    out: list[dict[str, bytes]] = [{} for _ in range(len(column))]
    some = np.flatnonzero(sizes)
    if some.size:
        chosen = column.take(pa.array(some, memory_pool=POOL)).to_pylist()
        for i, pairs in zip(some.tolist(), chosen, strict=True):
            out[i] = dict(pairs)
    return out


def in_order(partition: np.ndarray, offsets: np.ndarray, stamps: np.ndarray) -> bool:
    """Whether rows are already by (timestamp, partition, offset): one partition, both ascending."""
    return bool(
        (partition == partition[0]).all() and (np.diff(offsets) > 0).all() and (np.diff(stamps) >= 0).all()
    )


def convert(frame: pd.DataFrame, engine: Engine) -> pd.DataFrame | pa.Table | Any:
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
