"""Decoding keys and values in bulk: JSON through pyarrow, text, bytes, or a function."""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Decoder = Literal["auto", "json", "utf8", "bytes"] | Callable[[bytes], Any]
DECODERS = ("auto", "json", "utf8", "bytes")

POOL = pa.system_memory_pool()
"""Where frames' Arrow buffers are allocated: malloc, not pyarrow's default mimalloc, which keeps the
pages it was given back for reuse (a read of 1M rows peaked 34 MiB higher, and kept 80 MiB after)."""


@dataclass
class Decoded:
    """A decoded column, the flattened JSON fields (``prefix.field``), and the rows that failed.

    ``values`` is a list (a Python object per row), or, decoded in Arrow, a Series of pandas'
    Arrow-backed ``str`` (text; missing: NaN) or ``binary[pyarrow]`` (bytes).
    """

    values: list[Any] | pd.Series
    fields: pd.DataFrame | None = None
    failures: dict[int, str] = field(default_factory=dict)


def check_decoder(decoder: object, what: str) -> None:
    """Refuse a decoder that is neither a known name nor a callable."""
    if not (callable(decoder) or decoder in DECODERS):
        names = ", ".join(DECODERS)
        raise ValueError(f"{what} must be one of {names} or a function of bytes, not {decoder!r}")


def decode(
    raw: Sequence[bytes | None] | pa.ChunkedArray, decoder: Decoder, *, flatten: bool, prefix: str
) -> Decoded:
    """Decode every item of ``raw`` (None stays None); failures keep the raw bytes and say why.

    An Arrow column of binary is decoded in Arrow where every row allows it (bytes; text; text
    that cannot be JSON, with ``"auto"``; one-line JSON objects, flattened), without a Python
    object per row; otherwise row by row.
    """
    if isinstance(raw, pa.ChunkedArray):
        whole = _in_arrow(raw, decoder, flatten=flatten, prefix=prefix)
        if whole is not None:
            return whole
        raw = raw.to_pylist()
    if decoder == "bytes":
        return Decoded(list(raw))
    if decoder == "utf8":
        return _per_row(raw, bytes.decode)
    if decoder in ("json", "auto"):
        return _json(raw, strict=decoder == "json", flatten=flatten, prefix=prefix)
    assert callable(decoder)
    return _per_row(raw, decoder)


def _in_arrow(raw: pa.ChunkedArray, decoder: Decoder, *, flatten: bool, prefix: str) -> Decoded | None:
    """``raw`` decoded by Arrow's kernels; None when some row needs Python (see :func:`decode`)."""
    if decoder == "bytes":
        return Decoded(pd.Series(pd.arrays.ArrowExtensionArray(raw), copy=False))
    if decoder == "utf8":
        return _as_text(raw)
    if decoder not in ("json", "auto") or not len(raw):
        return None
    if raw.null_count:
        return None
    firsts = set(pc.unique(pc.binary_slice(raw, 0, 1, memory_pool=POOL), memory_pool=POOL).to_pylist())
    if flatten and firsts == {b"{"}:
        longest = pc.max(pc.binary_length(raw, memory_pool=POOL), memory_pool=POOL).as_py()
        fields = _objects_frame(_lines(raw), longest)
        if fields is not None and len(fields) == len(raw):
            fields.columns = [f"{prefix}.{c}" for c in fields.columns]
            text = _as_text(raw)
            return None if text is None else Decoded(text.values, fields)
    if decoder == "auto" and not firsts & _MAY_START:
        return _as_text(raw)  # no value can be JSON: all text (the common case of plain values)
    return None


def _as_text(raw: pa.ChunkedArray) -> Decoded | None:
    """``raw`` as pandas' Arrow-backed ``str``; None if a value is not UTF-8."""
    try:
        text = pc.cast(raw, pa.string(), memory_pool=POOL)
    except pa.ArrowInvalid:
        return None
    return Decoded(text_series(text))


def text_series(column: pa.ChunkedArray) -> pd.Series:
    """Arrow text as a Series of pandas' Arrow-backed ``str``, its buffers from :data:`POOL`.

    (pandas would widen the offsets to 64 bits itself, in pyarrow's default pool.)
    """
    series: pd.Series = pc.cast(column, pa.large_string(), memory_pool=POOL).to_pandas()
    return series


def numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A column of numbers as one numpy array (see :func:`_joined`)."""
    if not column.num_chunks:
        return np.empty(0, column.type.to_pandas_dtype())
    joined: np.ndarray = _joined(column).to_numpy()
    return joined


def _joined(column: pa.ChunkedArray) -> pa.Array:
    """A column's chunks as one array, in :data:`POOL` (``combine_chunks`` ignores a pool)."""
    return pa.concat_arrays(column.chunks, memory_pool=POOL)


def _lines(raw: pa.ChunkedArray) -> pa.Buffer:
    """The values one per line, in one buffer (Arrow copies them once; no Python object per row)."""
    values = _joined(pc.cast(raw, pa.large_binary(), memory_pool=POOL))
    empty, newline = (pa.scalar(b, pa.large_binary()) for b in (b"", b"\n"))
    joined = pc.binary_join_element_wise(values, empty, newline, memory_pool=POOL)  # each, then a newline
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[
        joined.offset : joined.offset + len(joined) + 1
    ]
    return joined.buffers()[2][int(offsets[0]) : int(offsets[-1])]


def decode_headers(headers: Sequence[dict[str, bytes]], decoder: Decoder) -> list[dict[str, Any]]:
    """Header values as text (bytes if not UTF-8), as the values are decoded; raw with ``"bytes"``."""
    if decoder == "bytes":
        return list(headers)
    out: list[dict[str, Any]] = list(headers)  # most rows have none: only the others are looked at
    seen: dict[tuple[tuple[str, bytes], ...], dict[str, Any]] = {}  # the same few headers, row after row
    for i in itertools.compress(range(len(headers)), headers):
        items = tuple(headers[i].items())
        if (text := seen.get(items)) is None:
            text = seen[items] = {k: _text(v) for k, v in items}
        out[i] = dict(text)  # each row its own dict
    return out


def _text(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: {exc.reason} at byte {exc.start}"
    return f"{type(exc).__name__}: {exc}"


def _per_row(raw: Sequence[bytes | None], fn: Callable[[bytes], Any]) -> Decoded:
    out: list[Any] = []
    failures: dict[int, str] = {}
    for i, item in enumerate(raw):
        if item is None:
            out.append(None)
            continue
        try:
            out.append(fn(item))
        except Exception as exc:
            failures[i] = _why(exc)
            out.append(item)
    return Decoded(out, failures=failures)


_JSON_STARTS = frozenset(bytes([c]) for c in b'{["-0123456789tfn')
"""The bytes a JSON text can start with, after white space."""
_SPACE = frozenset(bytes([c]) for c in b" \t\r\n")
_NOT_JSON = object()
_MAY_START = _JSON_STARTS | _SPACE
_FIRST = operator.itemgetter(slice(0, 1))


def _json(raw: Sequence[bytes | None], *, strict: bool, flatten: bool, prefix: str) -> Decoded:
    """JSON objects go through pyarrow in one pass; other JSON, and what pyarrow refuses, row by row."""
    if flatten and raw and raw[0] is not None and raw[0][:1] == b"{":  # else it cannot be all objects
        whole = _all_objects(raw, prefix)
        if whole is not None:
            return whole
    if not strict and raw and None not in raw and not set(map(_FIRST, raw)) & _MAY_START:  # type: ignore[arg-type]
        try:  # no value can be JSON: all text, decoded in one go (the common case of plain values)
            return Decoded([v.decode() for v in raw])  # type: ignore[union-attr]
        except UnicodeDecodeError:
            pass  # some are not text: row by row below
    out: list[Any] = [None] * len(raw)
    failures: dict[int, str] = {}
    # Mixed values: the one-line JSON objects parsed by pyarrow in one go, the rest row by row.
    objects = (
        [i for i, v in enumerate(raw) if v is not None and v[:1] == b"{" and b"\n" not in v]
        if flatten
        else []
    )
    fields = _bulk_objects(raw, objects) if objects else None
    bulk: set[int] = set()
    if fields is not None:
        bulk = set(objects)
        for i in objects:
            out[i] = raw[i].decode()  # type: ignore[union-attr]
    rows: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(raw):
        if item is None or (bulk and i in bulk):
            continue
        parsed: Any = _NOT_JSON
        # Only what can start JSON goes to json.loads: plain text is spared the attempt (and its exception).
        if (
            strict
            or (first := item[:1]) in _JSON_STARTS
            or (first in _SPACE and item.lstrip()[:1] in _JSON_STARTS)
        ):
            try:
                parsed = json.loads(item)
            except (ValueError, UnicodeDecodeError) as exc:
                if strict:
                    failures[i] = f"not JSON: {exc}"
                    out[i] = item
                    continue
        if parsed is _NOT_JSON:
            try:
                out[i] = item.decode()
            except UnicodeDecodeError:
                out[i] = item
            continue
        if isinstance(parsed, dict) and flatten:
            rows[i] = parsed
            out[i] = item.decode()
        else:
            out[i] = parsed
    if flatten:
        frames = []
        if fields is not None:
            frames.append(fields.set_axis(objects))
        if rows:
            frames.append(_records(list(rows.values())).set_axis(list(rows)))
        if frames:
            # Integers as nullable Int64 while rows are added (a field some rows lack), not floats.
            merged = pd.concat(map(_nullable, frames)) if len(frames) > 1 else _nullable(frames[0])
            merged = merged.reindex(range(len(raw))) if len(merged) != len(raw) else merged.sort_index()
            merged.columns = [f"{prefix}.{c}" for c in merged.columns]
            return Decoded(out, _plain(merged.reset_index(drop=True)), failures)
    return Decoded(out, None, failures)


def _all_objects(raw: Sequence[bytes | None], prefix: str) -> Decoded | None:
    """The common case, tried first: every value is a one-line JSON object (None if not so)."""
    fields = _bulk_objects(raw, range(len(raw)))  # fails unless each line is exactly one object
    if fields is None:
        return None
    fields.columns = [f"{prefix}.{c}" for c in fields.columns]
    return Decoded([v.decode() for v in raw], fields)  # type: ignore[union-attr]


def _bulk_objects(raw: Sequence[bytes | None], rows: Sequence[int]) -> pd.DataFrame | None:
    """Parse one-line JSON objects with pyarrow, nested fields flattened; None if pyarrow refuses."""
    chosen = raw if len(rows) == len(raw) else [raw[i] for i in rows]
    try:
        blob = b"\n".join(chosen)  # type: ignore[arg-type]
    except TypeError:  # a None among them
        return None
    frame = _objects_frame(pa.py_buffer(blob), max(map(len, chosen)))  # type: ignore[arg-type]
    return frame if frame is not None and len(frame) == len(rows) else None


def _objects_frame(blob: pa.Buffer, longest: int) -> pd.DataFrame | None:
    """One-line JSON objects as columns, nested fields flattened; None if they are not so.

    ``blob`` has an object per line, the longest ``longest`` bytes.
    """
    table = _read_json(blob, 1 << 20)  # blocks of 1 MiB are parsed in parallel
    if table is None and longest >= 1 << 19:  # perhaps an object longer than a block
        table = _read_json(blob, 2 * longest + 1)
    if table is None:
        return None  # invalid JSON somewhere, or a field whose type changes: row by row instead
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    # An integer field some objects lack is Int64 (<NA> where missing), not float64 as pandas would make it.
    frame: pd.DataFrame = table.to_pandas(
        types_mapper=lambda t: _INT64 if pa.types.is_integer(t) and t != pa.uint64() else None,
        memory_pool=POOL,
    )
    return _plain(frame)


_INT64 = pd.Int64Dtype()
_KEPT = ("Int64", "uint64")  # already nullable, or may not fit


def _nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its numpy integer columns as Int64: rows added by concat or reindex are then <NA>."""
    ints = {c: _INT64 for c, t in frame.dtypes.items() if t.kind in "iu" and str(t) not in _KEPT}
    return frame.astype(ints) if ints else frame


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its Int64 columns that miss nothing back as numpy int64."""
    whole = {
        c: "int64" for c, t in frame.dtypes.items() if isinstance(t, pd.Int64Dtype) and not frame[c].hasnans
    }
    return frame.astype(whole) if whole else frame


def _records(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """JSON objects as columns, nested fields dotted (as ``pandas.json_normalize`` does).

    None where a row lacks a field; an integer field some rows lack is Int64.
    """
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for name, value in _flat(row, ""):
            if (column := columns.get(name)) is None:
                column = columns[name] = [None] * len(rows)
            column[i] = value
    return pd.DataFrame({name: _column(values) for name, values in columns.items()}, index=range(len(rows)))


def _flat(obj: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for name, value in obj.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _column(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if (
        present
        and len(present) < len(values)
        and all(type(v) is int and -(2**63) <= v < 2**63 for v in present)
    ):
        return pd.array(values, dtype=_INT64)
    return pd.Series(values, dtype=None if present else object)


def _read_json(blob: pa.Buffer, block: int) -> Any:
    """A pyarrow Table of the JSON lines in ``blob``, or None if pyarrow cannot read them."""
    import pyarrow.json as pj

    options = pj.ParseOptions(newlines_in_values=False)
    try:
        return pj.read_json(
            pa.BufferReader(blob),
            read_options=pj.ReadOptions(block_size=block),
            parse_options=options,
            memory_pool=POOL,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
