"""Decoding keys and values in bulk: JSON through pyarrow, text, bytes, or a function."""

from __future__ import annotations

import io
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Decoder = Literal["auto", "json", "utf8", "bytes"] | Callable[[bytes], Any]
DECODERS = ("auto", "json", "utf8", "bytes")


@dataclass
class Decoded:
    """A decoded column, the flattened JSON fields (``prefix.field``), and the rows that failed."""

    values: list[Any]
    fields: pd.DataFrame | None = None
    failures: dict[int, str] = field(default_factory=dict)


def check_decoder(decoder: object, what: str) -> None:
    """Refuse a decoder that is neither a known name nor a callable."""
    if not (callable(decoder) or decoder in DECODERS):
        names = ", ".join(DECODERS)
        raise ValueError(f"{what} must be one of {names} or a function of bytes, not {decoder!r}")


def decode(raw: Sequence[bytes | None], decoder: Decoder, *, flatten: bool, prefix: str) -> Decoded:
    """Decode every item of ``raw`` (None stays None); failures keep the raw bytes and say why."""
    if decoder == "bytes":
        return Decoded(list(raw))
    if decoder == "utf8":
        return _per_row(raw, bytes.decode)
    if decoder in ("json", "auto"):
        return _json(raw, strict=decoder == "json", flatten=flatten, prefix=prefix)
    assert callable(decoder)
    return _per_row(raw, decoder)


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
            frames.append(pd.json_normalize(list(rows.values())).set_axis(list(rows)))
        if frames:
            merged = pd.concat(frames) if len(frames) > 1 else frames[0]
            merged = merged.reindex(range(len(raw))) if len(merged) != len(raw) else merged.sort_index()
            merged.columns = [f"{prefix}.{c}" for c in merged.columns]
            return Decoded(out, merged.reset_index(drop=True), failures)
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
    import pyarrow as pa

    chosen = raw if len(rows) == len(raw) else [raw[i] for i in rows]
    try:
        blob = b"\n".join(chosen)  # type: ignore[arg-type]
    except TypeError:  # a None among them
        return None
    table = _read_json(blob, 1 << 20)  # blocks of 1 MiB are parsed in parallel
    if table is None and max(map(len, chosen)) >= 1 << 19:  # type: ignore[arg-type]
        table = _read_json(blob, 2 * max(map(len, chosen)) + 1)  # type: ignore[arg-type]
    if table is None:
        return None  # invalid JSON somewhere, or a field whose type changes: row by row instead
    if table.num_rows != len(rows):
        return None
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _read_json(blob: bytes, block: int) -> Any:
    """A pyarrow Table of the JSON lines in ``blob``, or None if pyarrow cannot read them."""
    import pyarrow as pa
    import pyarrow.json as pj

    options = pj.ParseOptions(newlines_in_values=False)
    try:
        return pj.read_json(
            io.BytesIO(blob), read_options=pj.ReadOptions(block_size=block), parse_options=options
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
