"""Columns: filled from messages, packed to cross a process boundary and unpacked as they were."""

from __future__ import annotations

from liftbridge_nb._columns import Columns
from liftbridge_nb._proto import api_pb2


def _message(i: int, **fields: object) -> api_pb2.Message:
    headers = {"subject": b"s", "reply": b""}
    headers.update(fields.pop("headers", {}))  # type: ignore[call-overload]
    fields.setdefault("subject", "s")
    return api_pb2.Message(offset=i, timestamp=1000 + i, headers=headers, **fields)  # type: ignore[arg-type]


def test_pack_unpack_round_trip() -> None:
    cols = Columns()
    add = cols.adder()
    add(_message(0, value=b"a"))
    add(_message(1, value=b"", key=b"k", headers={"h": b"1"}, replySubject="r"))
    add(_message(2, value=b"\xff" * 300, subject="other"))
    back = Columns.unpack(cols.pack())
    assert list(back.offset) == [0, 1, 2] and list(back.timestamp) == [1000, 1001, 1002]
    assert back.value == [b"a", b"", b"\xff" * 300]
    assert back.key == [None, b"k", None]
    assert back.headers == [{}, {"h": b"1"}, {}]  # the server's own headers are left out
    assert back.subject == ["s", "s", "other"] and back.reply == ["", "r", ""]
    assert back.headers[0] is not back.headers[2]  # each row its own dict


def test_empty_and_keyless() -> None:
    empty = Columns.unpack(Columns().pack())
    assert (list(empty.offset), empty.value, empty.key, empty.headers) == ([], [], [], [])
    cols = Columns()
    for i in range(3):
        cols.adder()(_message(i, value=b"v"))
    packed = cols.pack()
    assert packed["key"] == 3  # no keys: only how many
    assert Columns.unpack(packed).key == [None, None, None]
