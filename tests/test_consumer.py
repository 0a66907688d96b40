"""Consumer groups on the real server: assignment, checkpoints, rebalancing when a member leaves."""

from __future__ import annotations

import contextlib

import pytest

from liftbridge_nb import Consumer, ErrNoCheckpoint, ErrNoSuchStream, Lift, Message, Stream
from liftbridge_nb.server import LocalServer
from tests.polling import wait_for


def _drain(consumer: Consumer, into: list[Message], until: int) -> bool | None:
    with contextlib.suppress(TimeoutError):
        into.append(consumer.next(timeout=0.2))
    return True if len(into) >= until else None


def test_group_splits_partitions_and_hands_over_on_leave(
    cursors_server: LocalServer, stream_name: str
) -> None:
    group = f"g-{stream_name}"
    with Lift(cursors_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=4))
        a = client.consumer(
            group, [stream_name], consumer_id="a", auto_offset="earliest", checkpoint_interval=0.5
        )
        b = client.consumer(
            group, [stream_name], consumer_id="b", auto_offset="earliest", checkpoint_interval=0.5
        )

        def split() -> bool | None:
            got_a, got_b = a.assignments.get(stream_name, []), b.assignments.get(stream_name, [])
            return True if sorted(got_a + got_b) == [0, 1, 2, 3] and got_a and got_b else None

        wait_for(split, timeout=60, what="both members to share the four partitions")
        assert a.epoch == b.epoch
        for i in range(40):
            client.publish(Message(stream=stream_name, value=f"m{i}", partition=i % 4))
        seen_a: list[Message] = []
        seen_b: list[Message] = []

        def both() -> bool | None:
            _drain(a, seen_a, 1000)
            _drain(b, seen_b, 1000)
            return True if len(seen_a) + len(seen_b) >= 40 else None

        wait_for(both, timeout=60, what="the group to read all 40 messages")
        assert {m.partition for m in seen_a}.isdisjoint({m.partition for m in seen_b})
        assert sorted(m.value for m in seen_a + seen_b) == sorted(f"m{i}".encode() for i in range(40))

        a_partitions = sorted(a.assignments[stream_name])
        a.close()  # checkpoints and leaves: b takes over a's partitions from the checkpoint
        for i in range(40, 48):
            client.publish(Message(stream=stream_name, value=f"m{i}", partition=i % 4))
        wait_for(lambda: sorted(b.assignments.get(stream_name, [])) == [0, 1, 2, 3] or None,
                 timeout=60, what="b to get every partition")  # fmt: skip
        later: list[Message] = []
        wait_for(lambda: _drain(b, later, 8), timeout=60, what="the 8 later messages")
        assert sorted(m.value for m in later) == sorted(f"m{i}".encode() for i in range(40, 48)), "no repeats"
        b.close()
        assert a_partitions
        assert [client.fetch_cursor(f"__group:{group}", stream_name, p) for p in range(4)] == [11] * 4


def test_consumer_arguments_are_checked(cursors_server: LocalServer) -> None:
    with Lift(cursors_server.address) as client:
        with pytest.raises(ValueError, match="streams takes a non-empty list"):
            client.consumer("g", [])
        with pytest.raises(ValueError, match=r"auto_offset .*'sometimes'"):
            client.consumer("g", ["s"], auto_offset="sometimes")  # type: ignore[arg-type]


def test_what_stops_a_member_reaches_the_reader(
    cursors_server: LocalServer, stream_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Lift(cursors_server.address) as client:
        with pytest.raises(ErrNoSuchStream, match="does not exist"):
            client.consumer(f"g-{stream_name}", [stream_name])
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        with client.consumer(f"g-{stream_name}", [stream_name], auto_offset="error") as member:
            with pytest.raises(ErrNoCheckpoint, match=r"no checkpoint .*auto_offset is 'error'"):
                wait_for(lambda: _drain(member, [], 1), timeout=30, what="the member's failure")
            with pytest.raises(ErrNoCheckpoint, match="no checkpoint"):
                next(member)  # and again, not a silent end
    assert len([r for r in caplog.records if "no checkpoint" in r.getMessage()]) <= 1, "not once a heartbeat"
