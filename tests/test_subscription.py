"""Subscription across leader failures on the real 3-node cluster, and its iterator contract."""

from __future__ import annotations

import threading
import time

import pytest

from liftbridge_nb import (
    Backoff,
    ClientOptions,
    ErrConnection,
    Lift,
    Message,
    Start,
    Stop,
    Stream,
    Subscription,
)
from liftbridge_nb._core import SILENCE_CHECK
from liftbridge_nb.server import LocalCluster, LocalServer
from tests import faults
from tests.polling import wait_for


@pytest.mark.cluster
def test_subscription_survives_leader_kills(cluster: LocalCluster, stream_name: str) -> None:
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        for i in range(20):
            client.publish(Message(stream=stream_name, value=f"v{i}", ack_policy="all"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=90)
        got: list[Message] = []
        errors: list[BaseException] = []

        def consume(s: Subscription) -> None:
            try:
                for m in s:
                    got.append(m)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=consume, args=(sub,))
        reader.start()
        wait_for(lambda: len(got) == 20 or None, timeout=30, what="the first 20 messages")
        expected = 20
        for round_ in range(2):
            killed = faults.kill_leader(cluster, stream_name)
            for i in range(10):
                offset = faults.publish_until_acked(
                    client, Message(stream=stream_name, value=f"r{round_}-{i}", ack_policy="all")
                )
                assert offset >= expected
                expected = offset + 1
            faults.rejoin(cluster, stream_name, killed)
        wait_for(lambda: len(got) >= expected or None, timeout=90, what="every acked message")
        sub.close()
        reader.join(timeout=30)
        assert not errors, errors
        offsets = [m.offset for m in got]
        assert offsets == list(range(len(offsets))), "no gap, no duplicate"
        values = {m.value for m in got}
        assert {f"v{i}".encode() for i in range(20)} <= values
        assert {f"r{r}-{i}".encode() for r in range(2) for i in range(10)} <= values
        assert sub.resubscribes >= 2


@pytest.mark.cluster
def test_read_from_isr_replicas(cluster: LocalCluster, stream_name: str) -> None:
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, max_replication=True))
        info = client.fetch_partition_metadata(stream_name)
        assert len(info.replicas) == 3
        for i in range(5):
            client.publish(Message(stream=stream_name, value=str(i), ack_policy="all"))
        seen = set()
        for _ in range(12):
            sub = client.subscribe(
                stream_name, start=Start.earliest(), stop=Stop.at_offset(4), read_isr_replica=True
            )
            assert [m.value for m in sub] == [str(i).encode() for i in range(5)]
            seen.add(sub.address)
        by_id = dict(zip(cluster.server_ids, cluster.addresses, strict=True))
        assert seen <= {by_id[r] for r in info.isr}, "only in-sync replicas serve it"
        # A random ISR member each time: twelve from the leader alone has odds of 3**-12.
        assert seen - {by_id[info.leader]}, f"read_isr_replica read from the leader only ({seen})"


@pytest.mark.cluster
def test_routes_to_the_leader_from_any_seed(cluster: LocalCluster, stream_name: str) -> None:
    with Lift(cluster.addresses[0]) as first:
        first.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        first.publish(Message(stream=stream_name, value="x", ack_policy="all"))
    leader = wait_for(lambda: cluster.leader_of(stream_name), timeout=30, what="a leader")
    follower = cluster.addresses[(leader + 1) % 3]
    with Lift(follower) as client:  # seeded with a follower only
        assert [
            m.value for m in client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())
        ] == [b"x"]
        assert client.fetch_partition_metadata(stream_name).leader == cluster.server_ids[leader]
        assert set(client.addresses) == set(cluster.addresses)


def test_a_single_node_restarted_under_a_subscription_resumes(stream_name: str) -> None:
    with LocalServer() as server, Lift(server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        for i in range(10):
            client.publish(Message(stream=stream_name, value=f"before {i}"))
        got: list[Message] = []
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=60)
        reader = threading.Thread(target=lambda: got.extend(sub))
        reader.start()
        wait_for(lambda: len(got) == 10 or None, timeout=30, what="the first 10 messages")
        server.restart()  # same port, same data directory
        for i in range(10):
            faults.publish_until_acked(client, Message(stream=stream_name, value=f"after {i}"))
        log = faults.read_log(client, stream_name)  # a publish retried after a timeout may be in twice
        wait_for(lambda: len(got) >= len(log) or None, timeout=60, what="the messages after the restart")
        sub.close()
        reader.join(timeout=30)
    assert [m.offset for m in got] == list(range(len(log))) and len(log) >= 20
    assert sub.resubscribes >= 1


def test_a_resubscription_waits_for_a_restarted_server_to_load_its_streams(stream_name: str) -> None:
    # For about half a second after it opens its port, a restarted server answers "no such
    # partition" (and metadata without the stream). Retrying every ~15 ms with one lookup allowed,
    # a resubscription that counted lookups would end there with ErrNoSuchPartition.
    options = ClientOptions(retries=1, backoff=Backoff(initial=0.01, maximum=0.02))
    with LocalServer() as server, Lift(server.address, options=options) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="before"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=60)
        assert next(sub).value == b"before"
        errors: list[BaseException] = []
        got: list[bytes] = []

        def read() -> None:
            try:
                got.extend(m.value for m in sub)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        server.restart()
        faults.publish_until_acked(client, Message(stream=stream_name, value="after"))
        wait_for(lambda: b"after" in got or errors or None, timeout=60, what="the message after the restart")
        sub.close()
        reader.join(timeout=30)
    assert errors == [] and got[-1] == b"after" and sub.resubscribes >= 1


def test_a_subscription_whose_server_is_gone_raises_after_its_wait(stream_name: str) -> None:
    with LocalServer() as server, Lift(server.address, timeout=2) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="only"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=3)
        assert next(sub).value == b"only"
        server.kill()
        started = time.monotonic()
        with pytest.raises(ErrConnection) as info:
            next(sub)
        assert server.address in str(info.value)
        assert time.monotonic() - started < 3 + 2 * 2 + 5, "bounded by resubscribe_wait and the timeout"


@pytest.mark.cluster
def test_a_subscription_on_a_hung_leader_moves_to_the_new_one(
    cluster: LocalCluster, stream_name: str
) -> None:
    # SIGSTOP, not kill: the hung leader keeps its connections open, so nothing ends the call.
    with Lift(addresses=cluster.addresses, timeout=3) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)
        for i in range(5):
            client.publish(Message(stream=stream_name, value=f"before {i}", ack_policy="all"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=60)
        got: list[Message] = []
        reader = threading.Thread(target=lambda: got.extend(sub))
        reader.start()
        wait_for(lambda: len(got) == 5 or None, timeout=30, what="the first 5 messages")
        hung = faults.leader(cluster, stream_name)
        cluster.pause(hung)
        try:
            faults.leader(cluster, stream_name, other_than=hung)
            elected = time.monotonic()
            for i in range(5):
                # Ack policy all: with leader, acks are in doubt while the deposed leader hangs.
                after = Message(stream=stream_name, value=f"after {i}", ack_policy="all")
                faults.publish_until_acked(client, after)
            wait_for(
                lambda: {f"after {i}".encode() for i in range(5)} <= {m.value for m in got} or None,
                timeout=30,
                what="the messages published to the new leader",
            )
            moved = time.monotonic() - elected
        finally:
            sub.close()
            reader.join(timeout=30)
            cluster.resume(hung)
        faults.wait_in_isr(cluster, stream_name)
    offsets = [m.offset for m in got]
    assert offsets == sorted(set(offsets)), "no duplicate"
    assert sub.resubscribes >= 1 and sub.address != cluster.addresses[hung]
    print(f"delivered from the new leader {moved:.1f} s after its election")


def test_a_subscription_on_a_hung_server_raises_after_its_wait(stream_name: str) -> None:
    with LocalServer() as server, Lift(server.address, timeout=2) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="only"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=5)
        assert next(sub).value == b"only"
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(ErrConnection, match=server.address):
                next(sub)
            took = time.monotonic() - started
        finally:
            server.resume()
    # silent for one or two SILENCE_CHECKs, a look at the metadata (the 2 s timeout), then the 5 s wait
    assert took < 2 * SILENCE_CHECK + 2 + 5 + 5, f"raised after {took:.1f} s"
    print(f"raised {took:.1f} s after the server hung")


def test_a_subscription_whose_node_is_gone_for_good_raises_after_its_wait(stream_name: str) -> None:
    with LocalServer() as server, Lift(server.address, timeout=5) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="only"))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=2)
        assert next(sub).value == b"only"
        server.kill()
        started = time.monotonic()
        with pytest.raises(ErrConnection, match=server.address):
            next(sub)
        took = time.monotonic() - started
    assert took < 2 + 3, f"raised after {took:.1f} s: each attempt is bounded by what is left of the wait"
    print(f"raised {took:.1f} s after the node died")


def test_batches_are_arrow_columns_of_what_was_published(client: Lift, stream_name: str) -> None:
    """next_batch: the native reader's Arrow batch, taken by pyarrow without a copy; the iterator agrees."""
    import pyarrow as pa

    client.create_stream(Stream(subject=stream_name, name=stream_name))
    client.publish_many(
        [
            Message(stream=stream_name, value=b"plain"),
            Message(stream=stream_name, value=b"keyed", key=b"k", headers={"b": "2", "a": b"\x00"}),
        ]
    )
    stop = Stop.at_offset(1)
    with client.subscribe(stream_name, start=Start.earliest(), stop=stop) as sub:
        batches = list(iter(sub.next_batch, None))
        assert sub.last_offset == 1 and sub.closed
    table = pa.Table.from_batches([pa.record_batch(b) for b in batches])
    assert table.column_names == ["offset", "timestamp", "key", "value", "headers", "subject", "reply"]
    assert table.schema.field("timestamp").type == pa.timestamp("ns", "UTC")
    rows = table.to_pylist()
    assert [r["offset"] for r in rows] == [0, 1]
    assert [r["key"] for r in rows] == [None, b"k"], "an empty key is null"
    assert [r["value"] for r in rows] == [b"plain", b"keyed"]
    assert [r["headers"] for r in rows] == [[], [("a", b"\x00"), ("b", b"2")]], "the publisher's only"
    assert {r["subject"] for r in rows} == {stream_name}
    with client.subscribe(stream_name, start=Start.earliest(), stop=stop) as sub:
        messages = list(sub)
    assert [(m.offset, m.key, m.value, m.headers) for m in messages] == [
        (0, None, b"plain", {}),
        (1, b"k", b"keyed", {"a": b"\x00", "b": b"2"}),
    ]
    assert [m.timestamp for m in messages] == table.column("timestamp").cast(pa.int64()).to_pylist()


def test_closing_the_client_ends_its_subscriptions(server_address: str, stream_name: str) -> None:
    """A client closed under a waiting subscription: the wait ends at once, quietly (no message lost)."""
    lift = Lift(server_address)
    lift.create_stream(Stream(subject=stream_name, name=stream_name))
    sub = lift.subscribe(stream_name)  # new messages only: it waits
    done = threading.Event()

    def read() -> None:
        for _ in sub:
            pass
        done.set()

    threading.Thread(target=read, daemon=True).start()
    wait_for(lambda: sub._reading or None, timeout=10, what="the subscription waiting")
    lift.close()
    assert done.wait(10), "the iteration ended"
    assert sub.closed
