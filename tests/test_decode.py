"""Bulk decoding of keys and values: the JSON fields' columns and their dtypes (no server needed)."""

from __future__ import annotations

import json

import pandas as pd

from liftbridge_nb._decode import decode, decode_headers


def _fields(*values: object) -> pd.DataFrame:
    raw = [v if isinstance(v, bytes) else json.dumps(v).encode() for v in values]
    fields = decode(raw, "auto", flatten=True, prefix="value").fields
    assert fields is not None
    return fields


def test_integer_fields_some_rows_lack_stay_integers() -> None:
    bulk = _fields({"a": 1, "b": {"c": 2}}, {"a": 2}, {"b": {"c": 3}, "s": "x"})  # pyarrow, in one pass
    assert {c: str(t) for c, t in bulk.dtypes.items() if c != "value.s"} == {
        "value.a": "Int64",
        "value.b.c": "Int64",
    }
    assert bulk["value.a"].tolist() == [1, 2, pd.NA] and bulk["value.b.c"].tolist() == [2, pd.NA, 3]
    # Text among the objects, an object over two lines, a field whose type changes: row by row.
    mixed = _fields({"a": 1}, b"text", b'{"a": 3,\n"n": {"d": 4}}', {"a": 2, "z": 5}, {"f": 1.5}, {"f": "x"})
    assert list(mixed.columns) == ["value.a", "value.n.d", "value.z", "value.f"], "as first seen"
    assert {c: str(t) for c, t in mixed.dtypes.items() if c != "value.f"} == {
        "value.a": "Int64", "value.z": "Int64", "value.n.d": "Int64"
    }  # fmt: skip
    assert mixed["value.a"].tolist() == [1, pd.NA, 3, 2, pd.NA, pd.NA]
    # The one-line objects through pyarrow, the rest row by row, merged.
    merged = _fields({"a": 1}, b"text", {"a": 2, "z": 5}, b'{"a": 3,\n"n": {"d": 4}}')
    assert merged["value.a"].tolist() == [1, pd.NA, 2, 3] and merged["value.z"].tolist() == [
        pd.NA,
        pd.NA,
        5,
        pd.NA,
    ]
    assert {str(t) for t in merged.dtypes} == {"Int64"}
    whole = _fields({"a": 1, "f": 1.0}, {"a": 2, "f": None})
    assert str(whole["value.a"].dtype) == "int64" and str(whole["value.f"].dtype) == "float64", (
        "as pandas has it"
    )
    huge = _fields({"a": 2**64}, b"text", {"b": 1})
    assert huge["value.a"].tolist()[0] == 2**64, "too large for Int64: kept as it is"


def test_headers_decode_as_the_values() -> None:
    headers = [{"source": b"notebook", "raw": b"\xff"}, {}]
    assert decode_headers(headers, "auto") == [{"source": "notebook", "raw": b"\xff"}, {}]
    assert decode_headers(headers, len) == [{"source": "notebook", "raw": b"\xff"}, {}]
    assert decode_headers(headers, "bytes") == headers
