"""Building read_stream's frames from the native reader's Arrow batches, and the other engines' results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ._decode import Decoder, decode, decode_headers
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
    if n < 2 or in_order(partition, offsets, stamps):
        return frame  # one partition read in order, as is common: the sort would only copy
    order = np.lexsort((offsets, partition, stamps))
    return frame.take(order).reset_index(drop=True)


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
