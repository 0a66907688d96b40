"""Models: time conversions, validation, start positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from liftbridge_nb import AckPolicy, Message, Start, Stop, Stream
from liftbridge_nb.models import StartKind, from_unix_ns, to_unix_ns


def test_times_are_exact_nanoseconds() -> None:
    aware = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert to_unix_ns(aware) == 1704164645123456000
    assert to_unix_ns(aware.astimezone(timezone(timedelta(hours=5)))) == 1704164645123456000
    naive = datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert (
        to_unix_ns(naive) == int(naive.timestamp()) * 10**9 + 123456000
    )  # local time, as timestamp() reads it
    assert to_unix_ns(pd.Timestamp("2024-01-02T03:04:05.123456789Z")) == 1704164645123456789
    assert from_unix_ns(1704164645123456789) == aware
    with pytest.raises(TypeError, match="expected a datetime, not str"):
        to_unix_ns("2024-01-01")  # type: ignore[arg-type]


def test_start_positions_and_stream_copies() -> None:
    s = Stream(subject="a.b", name="s")
    assert s.start == Start.new_only()
    assert s.start_at_offset(0).start == Start(StartKind.OFFSET, offset=0)
    assert s.start_at_earliest_received().start.kind == StartKind.EARLIEST
    assert s.start_at_latest_received().start.kind == StartKind.LATEST
    assert s.start.kind == StartKind.NEW_ONLY, "the original is unchanged"
    delta = s.start_at_time_delta(timedelta(days=1)).start
    assert abs(delta.timestamp_ns - to_unix_ns(datetime.now(UTC) - timedelta(days=1))) < 5 * 10**9
    assert Stop.at_offset(0).offset == 0
    with pytest.raises(ValueError, match="stop offset must be >= 0, not -2"):
        Stop.at_offset(-2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"partitions": 0},
        {"replication_factor": 0},
        {"retention_max_age": timedelta(seconds=-1)},
        {"min_isr": 0},
        {"retention_max_bytes": -5},
    ],
)
def test_stream_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=f"^{next(iter(kwargs))} must"):
        Stream(subject="a", name="s", **kwargs)  # type: ignore[arg-type]


def test_message_normalizes_to_bytes() -> None:
    m = Message("v", key="k", stream="s", headers={"h": "x"}, ack_policy="all")
    assert (m.value, m.key, m.headers, m.ack_policy) == (b"v", b"k", {"h": b"x"}, AckPolicy.ALL)
    assert Message(b"raw").key is None and Message().value == b""
    with pytest.raises(TypeError, match="header 'h' must be str or bytes, not int"):
        Message(stream="s", headers={"h": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="partition must be an int >= 0, not -1"):
        Message(stream="s", partition=-1)
    with pytest.raises(ValueError, match=r"partitioner must be .*'random'"):
        Message(stream="s", partitioner="random")  # type: ignore[arg-type]
