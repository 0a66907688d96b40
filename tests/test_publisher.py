"""AsyncPublisher: its bookkeeping against a plain iterator (ack timeouts, a broken stream), and the
publishing paths that go through it against the real server."""

from __future__ import annotations

import dataclasses
import math
import queue

import pytest

from liftbridge_nb import (
    Ack,
    AckPolicy,
    ErrAckTimeout,
    ErrAckUncertain,
    ErrConnection,
    ErrIncorrectOffset,
    ErrMessageTooLarge,
    ErrNoSuchStream,
    Lift,
    Message,
    Start,
    Stop,
    Stream,
)
from liftbridge_nb._proto import api_pb2
from liftbridge_nb.client._publisher import STEP_DOWN_GRACE, AsyncPublisher, LeaderDoubts, Routes
from liftbridge_nb.server import LocalCluster, LocalServer
from tests import faults
from tests.polling import wait_for


class _Responses:
    """Stands in for a native PublishAsync call: keeps what is sent, answers what the test feeds it."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[api_pb2.PublishResponse | None] = queue.SimpleQueue()
        self.requests: list[api_pb2.PublishRequest] = []

    def open(self, timeout: float | None) -> tuple[_Responses, str]:
        return self, "fake:1"

    def send(self, request: bytes) -> None:
        self.requests.append(api_pb2.PublishRequest.FromString(request))

    def responses(self, timeout: float | None = None) -> list[bytes] | None:
        item = self.queue.get()
        return None if item is None else [item.SerializeToString()]

    def close(self) -> None:
        """The requests end (nothing to do here)."""

    def cancel(self) -> None:
        """The call ends (nothing to do here)."""


def _request(cid: str, policy: api_pb2.AckPolicy.ValueType = api_pb2.LEADER) -> api_pb2.PublishRequest:
    return api_pb2.PublishRequest(
        stream="s", value=b"v", correlationId=cid, ackPolicy=policy, expectedOffset=-1
    )


def test_acks_match_by_correlation_id_and_time_out() -> None:
    fake = _Responses()
    publisher = AsyncPublisher(fake.open)  # type: ignore[arg-type]
    first = publisher.submit(_request("a"), 0, ack_timeout=5)
    late = publisher.submit(_request("b"), 1, ack_timeout=0.2)
    bad = publisher.submit(_request("c"), 0, ack_timeout=5)
    none = publisher.submit(_request("d", api_pb2.NONE), 0, ack_timeout=5)
    assert none.result(timeout=1) is None
    fake.queue.put(api_pb2.PublishResponse(correlationId="c", asyncError=api_pb2.PublishAsyncError(
        code=api_pb2.PublishAsyncError.INCORRECT_OFFSET, message="incorrect expected offset")))  # fmt: skip
    fake.queue.put(
        api_pb2.PublishResponse(correlationId="a", ack=api_pb2.Ack(stream="s", offset=7, correlationId="a"))
    )
    ack = first.result(timeout=5)
    assert ack is not None and (ack.offset, ack.partition) == (7, 0)
    with pytest.raises(ErrIncorrectOffset):
        bad.result(timeout=5)
    with pytest.raises(ErrAckTimeout):
        late.result(timeout=5)
    fake.queue.put(api_pb2.PublishResponse(correlationId="b", ack=api_pb2.Ack(offset=8)))  # too late: ignored
    publisher.close()


def test_a_broken_stream_fails_what_is_pending() -> None:
    fake = _Responses()
    publisher = AsyncPublisher(fake.open)  # type: ignore[arg-type]
    pending = publisher.submit(_request("x"), 0, ack_timeout=30)
    fake.queue.put(None)  # the stream ends without an ack
    with pytest.raises(ErrConnection, match="fake:1"):
        pending.result(timeout=5)
    publisher.close()


def test_an_absurd_deadline_does_not_kill_the_sweeper() -> None:
    # Validation keeps these from the clients; the sweeper must survive them regardless.
    fake = _Responses()
    publisher = AsyncPublisher(fake.open)  # type: ignore[arg-type]
    publisher.submit(_request("far"), 0, ack_timeout=1e10)
    near = publisher.submit(_request("near"), 0, ack_timeout=0.2)
    with pytest.raises(ErrAckTimeout):
        near.result(timeout=5)
    publisher.close()


def _log(client: Lift, stream: str) -> list[Message]:
    return list(client.subscribe(stream, start=Start.earliest(), stop=Stop.latest()))


def test_a_batchs_acks_are_those_a_lone_publish_gets(local_server: LocalServer, stream_name: str) -> None:
    # The native batch makes its Acks itself, sharing the texts that repeat from ack to ack: each
    # must still be its own message's, across streams and partitions interleaved.
    other = f"{stream_name}-b"
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=f"{stream_name}.s", name=stream_name, partitions=2))
        client.create_stream(Stream(subject=f"{other}.s", name=other))
        lone = {
            (name, p): client.publish(Message(stream=name, value="lone", partition=p, ack_policy="all"))
            for name, p in ((stream_name, 0), (stream_name, 1), (other, 0))
        }
        targets = [(stream_name, 0), (stream_name, 1), (other, 0), (other, 0), (stream_name, 1)] * 40
        messages = [
            Message(stream=name, value=f"m{i}", partition=p, ack_policy="all", correlation_id=f"id-{i}")
            for i, (name, p) in enumerate(targets)
        ]
        acks = client.publish_many(messages)
    offsets: dict[tuple[str, int], int] = {}
    for i, ((name, p), ack) in enumerate(zip(targets, acks, strict=True)):
        like = lone[name, p]
        assert isinstance(ack, Ack) and like is not None
        offsets[name, p] = offsets.get((name, p), 0) + 1
        assert (ack.stream, ack.partition, ack.offset) == (name, p, offsets[name, p])
        assert (ack.partition_subject, ack.msg_subject) == (like.partition_subject, like.msg_subject)
        assert ack.correlation_id == f"id-{i}" and ack.ack_policy is AckPolicy.ALL
        assert ack.ack_inbox == acks[0].ack_inbox != ""
        assert ack.commit_timestamp >= ack.reception_timestamp > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        acks[0].offset = 7
    assert acks[0] == dataclasses.replace(acks[0]) and "id-0" in repr(acks[0])


def test_only_the_messages_own_stream_acks_it(local_server: LocalServer, stream_name: str) -> None:
    # Two streams on one subject both store each message and both ack it with its correlation id.
    other = f"{stream_name}-w"
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.create_stream(Stream(subject=stream_name, name=other))
        acks = client.publish_many([Message(stream=stream_name, value=f"m{i}") for i in range(60)])
        for i in range(20):
            acks.append(client.publish_async(Message(stream=stream_name, value=f"a{i}")).result(10))
            acks.append(client.publish(Message(stream=stream_name, value=f"p{i}", ack_policy="all")))
        assert all(isinstance(a, Ack) and a.stream == stream_name for a in acks), [
            a.stream for a in acks if a is not None
        ]
        assert sorted(a.offset for a in acks if a is not None) == list(range(100))
        assert len(_log(client, stream_name)) == len(_log(client, other)) == 100


@pytest.mark.cluster
def test_a_batch_waits_for_its_own_acks_when_another_stream_acks_first(
    cluster: LocalCluster, stream_name: str
) -> None:
    # The server ends a PublishAsync call once the requests ended and it has had as many acks as
    # requests, counting every stream's. Here the other stream (one replica) acks each message at
    # once and the message's own (three replicas, ack policy all) after its followers: a batch that
    # ended its requests after the last one lost every own ack ("the publish stream ended").
    other = f"{stream_name}-w"
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        client.create_stream(Stream(subject=stream_name, name=other))
        faults.wait_in_isr(cluster, stream_name)
        messages = [Message(stream=stream_name, value=f"m{i}", ack_policy="all") for i in range(60)]
        acks = client.publish_many(messages)
        assert [(a.stream, a.offset) for a in acks] == [(stream_name, i) for i in range(60)]
        assert len(_log(client, other)) == 60


def test_a_message_over_the_brokers_limit_fails_alone(local_server: LocalServer, stream_name: str) -> None:
    big = Message(stream=stream_name, value=b"x" * (5 * 1024 * 1024))
    values = [f"{i:04d}".encode() for i in range(3_000)]
    messages = [Message(stream=stream_name, value=v) for v in values]
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        results = client.publish_many([*messages[:1_500], big, *messages[1_500:]], return_exceptions=True)
        assert isinstance(results[1_500], ErrMessageTooLarge)
        assert "over the 4,194,304 bytes a broker receives" in str(results[1_500])
        acks = results[:1_500] + results[1_501:]
        assert all(isinstance(a, Ack) for a in acks), [r for r in acks if not isinstance(r, Ack)][:3]
        with pytest.raises(ErrMessageTooLarge, match="refused before sending"):
            client.publish(big)
        with pytest.raises(ErrMessageTooLarge, match="refused before sending"):
            client.publish_async(big).result(10)
        with pytest.raises(ErrMessageTooLarge, match="refused before sending"):
            client.publish(Message(stream=stream_name, value=big.value, ack_policy="none"))
        assert [m.value for m in _log(client, stream_name)] == values


def test_lone_publishes_get_their_own_acks_across_streams_and_partitions(
    local_server: LocalServer, stream_name: str
) -> None:
    # One publish's Ack is made natively, its texts shared with the call's previous ack where they
    # repeat: publishes that alternate streams, partitions and policies must each get their own.
    other = f"{stream_name}-b"
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=f"{stream_name}.s", name=stream_name, partitions=2))
        client.create_stream(Stream(subject=f"{other}.s", name=other))
        targets = [(stream_name, 0), (other, 0), (stream_name, 1), (stream_name, 1), (other, 0)] * 6
        acks = []
        for i, (name, p) in enumerate(targets):
            policy = AckPolicy.ALL if i % 3 == 0 else AckPolicy.LEADER
            own = f"mine-{i}" if i % 2 else None
            message = Message(stream=name, value=f"m{i}", partition=p, ack_policy=policy, correlation_id=own)
            acks.append((client.publish(message), policy, own))
        subjects: dict[tuple[str, int | None], tuple[str, str]] = {}
        for ack, _, _ in acks:
            assert ack is not None
            subjects.setdefault((ack.stream, ack.partition), (ack.partition_subject, ack.msg_subject))
    offsets: dict[tuple[str, int], int] = {}
    for (name, p), (ack, policy, own) in zip(targets, acks, strict=True):
        assert ack is not None
        assert (ack.stream, ack.partition, ack.offset) == (name, p, offsets.setdefault((name, p), 0))
        offsets[name, p] += 1
        assert (ack.partition_subject, ack.msg_subject) == subjects[name, p]
        assert ack.msg_subject == f"{name}.s" + (f".{p}" if p else "") and ack.ack_policy is policy
        if own:
            assert ack.correlation_id == own
        else:
            assert ack.correlation_id  # the one the client gave it
        assert ack.commit_timestamp >= ack.reception_timestamp > 0


def test_publish_many_checks_every_message_before_sending_any(
    local_server: LocalServer, stream_name: str
) -> None:
    good = [Message(stream=stream_name, value=str(i)) for i in range(5)]
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        with pytest.raises(TypeError, match="publish_many takes a list of Message; item 5 is int 42"):
            client.publish_many([*good, 42])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="without whitespace"):
            client.publish_many([*good, Message(stream="two words", value="x")])
        with pytest.raises(ValueError, match="reserved"):
            client.publish_many([*good, Message(stream="__cursors", value="x")])
        assert _log(client, stream_name) == []


@pytest.mark.parametrize("bad", [math.inf, 1e10, math.nan, True, 0, -1, "5"])
def test_publish_timeouts_are_checked_and_publishing_goes_on(
    local_server: LocalServer, stream_name: str, bad: object
) -> None:
    message = Message(stream=stream_name, value="x")
    error = TypeError if isinstance(bad, bool | str) else ValueError
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        with pytest.raises(error, match="ack_timeout"):
            client.publish_async(message, ack_timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="ack_timeout"):
            client.publish_many([message], ack_timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="timeout"):
            client.publish(message, timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="timeout"):
            client.publish_to_subject(message, stream_name, timeout=bad)  # type: ignore[arg-type]
        assert _log(client, stream_name) == []
        assert client.publish(message, timeout=2) is not None
        assert client.publish_async(message, ack_timeout=2).result(10) is not None


class _Cluster(Routes):
    """A metadata cache in miniature: one partition's leader, set by the test."""

    def __init__(self) -> None:
        self.leader_id: str | None = "b0"

    def leader(self, stream: str, partition: int) -> str | None:
        return self.leader_id


def test_acks_of_policy_leader_are_in_doubt_from_a_leader_change_until_the_old_one_steps_down() -> None:
    clock = [100.0]
    cluster = _Cluster()
    doubts = LeaderDoubts(cluster, clock=lambda: clock[0])
    assert doubts.sent("s", 0) == "b0" and doubts.judge("s", 0, "b0", "m") is None
    cluster.leader_id = "b1"  # b0 hung; b1 took over (b0 may stay listed in sync: that ends nothing)
    with pytest.raises(ErrAckUncertain, match=r"s\[0\]: the ack may come from a deposed leader \(b0") as info:
        raise doubts.judge("s", 0, "b0", "m") or AssertionError("no doubt")
    assert info.value.message == "m" and doubts.streams() == {"s"} and doubts.pending() == [("s", 0, "b0")]
    assert doubts.sent("s", 0) == "b1"
    assert doubts.judge("s", 0, "b1", "n") is not None  # b0 may still ack what b1 was sent too
    cluster.leader_id = "b0"  # b0's own stale metadata, before it learns: still in doubt
    assert doubts.judge("s", 0, "b0", "n") is not None
    cluster.leader_id = "b1"
    doubts.stepped_down("s", 0, "b1")  # not the deposed one: nothing ends
    doubts.stepped_down("s", 0, "b0")  # b0 says it no longer leads: its last acks are in flight
    assert doubts.pending() == [] and doubts.judge("s", 0, "b1", "n") is not None
    clock[0] += STEP_DOWN_GRACE
    assert doubts.judge("s", 0, "b1", "n") is None and doubts.streams() == set()
    assert doubts.judge("s", 0, "b0", "n") is None  # sent when b0 led, acked after it stepped down
    assert doubts.judge("t", 0, "b1", "n") is None  # another stream was never in doubt
    cluster.leader_id = "b0"
    assert doubts.sent("s", 0) == "b0"  # b0 leads again, and then loses it again: a new doubt
    cluster.leader_id = "b2"
    assert doubts.judge("s", 0, "b0", "n") is not None


def test_a_deposed_leader_whose_port_refuses_is_no_longer_in_doubt() -> None:
    cluster = _Cluster()
    doubts = LeaderDoubts(cluster)
    doubts.sent("s", 0)
    cluster.leader_id = "b1"
    assert doubts.judge("s", 0, "b0", "m") is not None
    doubts.dead("b0")
    assert doubts.judge("s", 0, "b0", "m") is None and doubts.pending() == []


class _Lagging(Routes):
    """Routes whose lookups count, and that find the stream (its partitions) from lookup ``found_after``."""

    def __init__(self, found_after: int | None, partitions: int = 1) -> None:
        self.found_after = found_after
        self.partitions = partitions
        self.lookups = 0

    def look_up(self, streams: list[str], timeout: float) -> None:
        self.lookups += 1

    def exists(self, stream: str, partition: int) -> bool:
        found = self.found_after is not None and self.lookups >= self.found_after
        return found and partition < self.partitions


def _not_found(cid: str) -> api_pb2.PublishResponse:
    error = api_pb2.PublishAsyncError(code=api_pb2.PublishAsyncError.NOT_FOUND, message="no such stream: s")
    return api_pb2.PublishResponse(correlationId=cid, asyncError=error)


@pytest.mark.parametrize("found_after", [0, 3])
def test_a_no_such_stream_refusal_is_sent_again_until_a_lookup_finds_the_stream(found_after: int) -> None:
    # A broker behind on the metadata (a leader restarting) refuses a message it never stored, and may
    # answer the lookups too (the others too slow to ask): a broker cannot be made to do that on cue,
    # so the responses are fed here. The message is held until a lookup finds the stream, then sent again.
    fake, routes = _Responses(), _Lagging(found_after)
    publisher = AsyncPublisher(fake.open, routes=routes, lookups=5)  # type: ignore[arg-type]
    future = publisher.submit(_request("r"), 0, ack_timeout=10)
    fake.queue.put(_not_found("r"))
    wait_for(lambda: len(fake.requests) >= 2 or None, timeout=10, what="the message sent again")
    assert routes.lookups >= max(1, found_after) and [r.correlationId for r in fake.requests] == ["r", "r"]
    fake.queue.put(api_pb2.PublishResponse(correlationId="r", ack=api_pb2.Ack(stream="s", offset=3)))
    ack = future.result(timeout=5)
    assert ack is not None and ack.offset == 3
    publisher.close()


def test_a_no_such_stream_refusal_stands_when_no_lookup_finds_the_stream() -> None:
    fake, routes = _Responses(), _Lagging(found_after=None)
    publisher = AsyncPublisher(fake.open, routes=routes, lookups=3)  # type: ignore[arg-type]
    future = publisher.submit(_request("r"), 0, ack_timeout=10)
    fake.queue.put(_not_found("r"))
    with pytest.raises(ErrNoSuchStream, match="no such stream: s"):
        future.result(timeout=5)
    assert routes.lookups == 3 and len(fake.requests) == 1
    publisher.close()


def test_a_partition_the_stream_lacks_is_refused_at_once() -> None:
    fake, routes = _Responses(), _Lagging(found_after=0, partitions=1)
    publisher = AsyncPublisher(fake.open, routes=routes, lookups=5)  # type: ignore[arg-type]
    future = publisher.submit(_request("r"), 7, ack_timeout=10)
    fake.queue.put(_not_found("r"))
    with pytest.raises(ErrNoSuchStream):
        future.result(timeout=5)
    assert routes.lookups == 1 and len(fake.requests) == 1
    publisher.close()


def test_a_message_to_a_stream_created_while_it_is_retried_is_stored(
    local_server: LocalServer, stream_name: str
) -> None:
    # The real server refuses the first send ("no such stream"); the stream is created while the client
    # looks it up again (as after a restarted leader's replay): the message is stored, once.
    with Lift(local_server.address, timeout=5) as client:
        future = client.publish_async(Message(stream=stream_name, value="early"))
        wait_for(lambda: client._publisher._retrying or None, timeout=10, what="the refusal")
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        ack = future.result(timeout=10)
        assert ack is not None and ack.offset == 0
        stored = list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest()))
        assert [m.value for m in stored] == [b"early"]
