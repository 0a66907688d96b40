"""Lift against the real server: the documented python-liftbridge API and go-liftbridge parity."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from liftbridge_nb import (
    AckPolicy,
    ApiError,
    ClientOptions,
    ErrAckTimeout,
    ErrClientClosed,
    ErrConnection,
    ErrCursorsDisabled,
    ErrEndOfReadonlyPartition,
    ErrIncorrectOffset,
    ErrInvalidArgument,
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrPartitionPaused,
    ErrReadonlyPartition,
    ErrStreamDeleted,
    ErrStreamExists,
    Lift,
    Message,
    Start,
    Stop,
    Stream,
    read_stream,
)
from liftbridge_nb.server import LocalCluster, LocalServer
from tests import faults
from tests.kernel import Kernel
from tests.polling import wait_for


def test_create_with_exist_ok_keeps_the_stream_there(server_address: str, stream_name: str) -> None:
    with Lift(server_address, timeout=5) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2), exist_ok=True)
        client.publish(Message(stream=stream_name, value="kept"))
        # Again, with other settings: success, and the stream, its settings and messages stay.
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=1), exist_ok=True)
        assert client.partition_count(stream_name) == 2
        assert [m.value for m in read(client, stream_name)] == [b"kept"]
        with pytest.raises(ErrStreamExists):
            client.create_stream(Stream(subject=stream_name, name=stream_name))


def read(client: Lift, stream: str, partition: int = 0, **kw: object) -> list[Message]:
    """Everything from the earliest offset to the newest now."""
    return list(client.subscribe(stream, partition, start=Start.earliest(), stop=Stop.latest(), **kw))  # type: ignore[arg-type]


def test_documented_readme_usage(server_address: str, stream_name: str) -> None:
    from liftbridge_nb import Lift, Message, Stream

    client = Lift(ip_address=server_address, timeout=5)
    client.create_stream(Stream(subject=f"{stream_name}.foo", name=stream_name))
    with pytest.raises(ErrStreamExists):
        client.create_stream(Stream(subject=f"{stream_name}.foo", name=stream_name))
    client.publish(Message(value="hello", subject=f"{stream_name}.foo"))
    client.publish(Message(stream=stream_name, value="world", key="key"))
    got = []
    for message in client.subscribe(
        Stream(subject=f"{stream_name}.foo", name=stream_name).start_at_earliest_received()
    ):
        got.append(message)
        if len(got) == 2:
            break
    assert [(m.offset, m.value, m.key) for m in got] == [(0, b"hello", None), (1, b"world", b"key")]
    client.close()


def test_several_seed_brokers_one_of_them_down(server_address: str, stream_name: str) -> None:
    with Lift(addresses=["127.0.0.1:1", server_address], timeout=5) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        assert client.publish(Message(stream=stream_name, value=b"x")) is not None


def test_every_ack_policy_does_what_it_promises(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    leader = client.publish(Message(stream=stream_name, value="a"))
    assert leader is not None and leader.ack_policy == AckPolicy.LEADER
    assert (leader.stream, leader.partition, leader.offset) == (stream_name, 0, 0)
    assert leader.partition_subject == stream_name and leader.reception_timestamp > 0
    everyone = client.publish(Message(stream=stream_name, value="b", ack_policy="all"))
    assert everyone is not None and everyone.ack_policy == AckPolicy.ALL and everyone.offset == 1
    assert everyone.commit_timestamp >= everyone.reception_timestamp > leader.reception_timestamp
    assert client.publish(Message(stream=stream_name, value="c", ack_policy=AckPolicy.NONE)) is None
    got = wait_for(
        lambda: values if len(values := [m.value for m in read(client, stream_name)]) == 3 else None,
        timeout=10,
        what="the unacked message to land",
    )
    assert got == [b"a", b"b", b"c"]


def test_str_and_bytes_values_keys_and_headers(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    client.publish(Message(stream=stream_name, value="é", key=b"\x00k", headers={"a": "1", "b": b"\xff"}))
    (m,) = read(client, stream_name)
    assert (m.value, m.key, m.headers) == ("é".encode(), b"\x00k", {"a": b"1", "b": b"\xff"})
    assert (m.stream, m.partition, m.subject, m.offset) == (stream_name, 0, stream_name, 0)


def test_publish_to_subject_reaches_every_stream_on_it(client: Lift, stream_name: str) -> None:
    subject = f"{stream_name}.shared"
    for name in (f"{stream_name}-a", f"{stream_name}-b"):
        client.create_stream(Stream(subject=subject, name=name))
    ack = client.publish_to_subject(Message(value="fan-out"), subject)
    assert ack is not None and ack.msg_subject == subject
    for name in (f"{stream_name}-a", f"{stream_name}-b"):
        assert [m.value for m in read(client, name)] == [b"fan-out"]


def test_publish_to_a_subject_no_stream_listens_on_raises_ack_timeout(client: Lift, stream_name: str) -> None:
    nobody = f"{stream_name}.nobody"
    with pytest.raises(ErrAckTimeout, match="no stream listens on it"):
        client.publish_to_subject(Message(value="x"), nobody, timeout=1)
    with pytest.raises(ErrAckTimeout, match="no stream listens on it"):
        client.publish(Message(value="x", subject=nobody), timeout=1)
    assert client.publish_to_subject(Message(value="x", ack_policy="none"), nobody, timeout=1) is None


def test_partitions_and_partitioners(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=4))
    keys = [f"customer-{i}".encode() for i in range(12)]
    for key in keys:
        ack = client.publish(Message(stream=stream_name, value=key, key=key, partitioner="key"))
        assert ack is not None and ack.partition == zlib.crc32(key) % 4  # go-liftbridge's choice
    rr = [
        client.publish(Message(stream=stream_name, value="rr", partitioner="round_robin")) for _ in range(5)
    ]
    assert [a.partition for a in rr if a] == [0, 1, 2, 3, 0]
    explicit = client.publish(Message(stream=stream_name, value="p2", partition=2))
    assert explicit is not None and explicit.partition == 2
    custom = client.publish(Message(stream=stream_name, value="c", partitioner=lambda key, n: n - 1))
    assert custom is not None and custom.partition == 3
    by_partition = {p: read(client, stream_name, p) for p in range(4)}
    for key in keys:
        assert key in [m.value for m in by_partition[zlib.crc32(key) % 4]]
    assert [m.value for m in by_partition[2]][-1:] == [b"p2"]
    with pytest.raises(ErrNoSuchPartition):
        client.publish(Message(stream=stream_name, value="x", partition=9))


def test_optimistic_concurrency(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, optimistic_concurrency_control=True))
    ack = client.publish(Message(stream=stream_name, value="first", expected_offset=0))
    assert ack is not None and ack.offset == 0
    with pytest.raises(ErrIncorrectOffset) as info:
        client.publish(Message(stream=stream_name, value="stale", expected_offset=0))
    assert "INCORRECT_OFFSET" in str(info.value) and info.value.details == "incorrect expected offset"
    assert client.publish(Message(stream=stream_name, value="unchecked")) is not None  # -1: no expectation
    with pytest.raises(ErrInvalidArgument):
        client.publish(Message(stream=stream_name, value="x", ack_policy="none"))
    future = client.publish_async(Message(stream=stream_name, value="stale", expected_offset=0))
    with pytest.raises(ErrIncorrectOffset):
        future.result(timeout=10)
    assert [m.value for m in read(client, stream_name)] == [b"first", b"unchecked"]


def test_oversized_message_is_refused(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    big = Message(stream=stream_name, value=b"x" * (1024 * 1024 + 1))
    with pytest.raises(ErrMessageTooLarge, match="maximum payload exceeded"):
        client.publish(big)
    assert read(client, stream_name) == []


def test_pipelined_publishing(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    messages = [Message(stream=stream_name, value=f"m{i}", partition=i % 2) for i in range(2000)]
    acks = client.publish_many(messages)
    assert [(a.partition, a.offset) for a in acks] == [(i % 2, i // 2) for i in range(2000)]
    future = client.publish_async(Message(stream=stream_name, value="one more", ack_policy="all"))
    ack = future.result(timeout=10)
    assert ack is not None and ack.offset == 1000 and ack.commit_timestamp > 0
    assert len(read(client, stream_name, 0)) == 1001
    results = client.publish_many(
        [Message(stream=stream_name, value="ok"), Message(stream=stream_name, value="bad", partition=7)],
        return_exceptions=True,
    )
    assert results[0].offset == 1001 and isinstance(results[1], ErrNoSuchPartition)
    with pytest.raises(ErrNoSuchPartition) as info:
        client.publish_many([Message(stream=stream_name, value="bad", partition=7)])
    assert len(info.value.results) == 1  # type: ignore[attr-defined]


def test_publish_many_pauses_the_collector_and_resumes_it_whatever_happens(
    client: Lift, stream_name: str
) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    seen: list[bool] = []

    def messages(bad: bool) -> Iterator[Message]:
        for i in range(3):
            seen.append(gc.isenabled())
            yield Message(stream=stream_name, value=f"m{i}")
        if bad:
            yield "not a message"  # type: ignore[misc]

    assert gc.isenabled()
    assert len(client.publish_many(messages(bad=False))) == 3
    assert seen == [False] * 3 and gc.isenabled()
    with pytest.raises(TypeError, match="item 3 is str"):
        client.publish_many(messages(bad=True))
    assert gc.isenabled() and len(read(client, stream_name)) == 3
    gc.disable()  # a caller's own pause is kept
    try:
        client.publish_many(messages(bad=False))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_stream_admin_errors(client: Lift, stream_name: str) -> None:
    with pytest.raises(ErrNoSuchStream):
        client.delete_stream(stream_name)
    with pytest.raises(ErrNoSuchPartition):
        client.pause_stream(stream_name)
    with pytest.raises(ErrNoSuchPartition):
        client.set_stream_readonly(stream_name)
    with pytest.raises(ValueError, match="reserved"):
        client.create_stream(Stream(subject="x", name="__cursors"))


def test_delete_ends_a_subscription(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    client.publish(Message(stream=stream_name, value="before"))
    sub = client.subscribe(stream_name, start=Start.earliest())
    assert next(sub).value == b"before"
    client.delete_stream(stream_name)
    with pytest.raises(ErrStreamDeleted):
        next(sub)
    assert stream_name not in client.fetch_metadata().streams


def test_pause_and_resume(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    client.publish(Message(stream=stream_name, value="a"))
    sub = client.subscribe(stream_name, start=Start.earliest())
    assert next(sub).value == b"a"
    client.pause_stream(stream_name, [0], resume_all=True)
    with pytest.raises(ErrPartitionPaused):
        next(sub)
    meta = client.fetch_metadata([stream_name]).streams[stream_name]
    assert meta.partitions[0].paused and not meta.partitions[1].paused
    with pytest.raises(ErrPartitionPaused, match="resume=True"):
        next(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest()))
    resumed = client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest(), resume=True)
    assert [m.value for m in resumed] == [b"a"]
    # (Liftbridge v1.9.0 keeps reporting the partition as paused in metadata after a resume.)
    client.publish(Message(stream=stream_name, value="b"))
    assert [m.value for m in read(client, stream_name)] == [b"a", b"b"]


def test_readonly(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    client.publish(Message(stream=stream_name, value="last words"))
    live = client.subscribe(stream_name, start=Start.earliest())
    assert next(live).value == b"last words"
    client.set_stream_readonly(stream_name)
    with pytest.raises(ErrReadonlyPartition):
        client.publish(Message(stream=stream_name, value="too late"))
    with pytest.raises(ErrEndOfReadonlyPartition):
        next(live)
    # A subscription opened on a readonly partition delivers every message, then says why it ends ...
    opened = client.subscribe(stream_name, start=Start.earliest())
    assert next(opened).value == b"last words"
    with pytest.raises(ErrEndOfReadonlyPartition, match="readonly"):
        next(opened)
    with pytest.raises(ErrEndOfReadonlyPartition, match="readonly"):
        client.subscribe(stream_name)  # new messages only: there will be none
    # ... unless its stop position ends it first.
    assert [m.value for m in read(client, stream_name)] == [b"last words"]
    assert client.fetch_partition_metadata(stream_name).readonly
    client.set_stream_readonly(stream_name, readonly=False)
    assert client.publish(Message(stream=stream_name, value="again")) is not None


def test_start_and_stop_positions(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    acks = [client.publish(Message(stream=stream_name, value=str(i))) for i in range(10)]
    times = [a.reception_timestamp for a in acks if a]
    s = Stream(subject=stream_name, name=stream_name)

    def offsets(stream: Stream | str, **kw: object) -> list[int]:
        return [m.offset for m in client.subscribe(stream, **kw)]  # type: ignore[arg-type]

    assert offsets(s.start_at_offset(0), stop=Stop.latest()) == list(range(10))
    assert offsets(s.start_at_offset(7), stop=Stop.latest()) == [7, 8, 9]
    assert offsets(s.start_at_latest_received(), stop=Stop.latest()) == [9]
    assert offsets(s.start_at_earliest_received(), stop=Stop.at_offset(3)) == [0, 1, 2, 3]
    # Nanosecond precision: start exactly at message 4's timestamp, stop exactly at message 6's.
    at4 = Start(Start.at_offset(0).kind.TIMESTAMP, timestamp_ns=times[4])
    stop6 = Stop(Stop.latest().kind.TIMESTAMP, timestamp_ns=times[6])
    assert offsets(stream_name, start=at4, stop=stop6) == [4, 5, 6]
    assert offsets(s.start_at_time_delta(timedelta(hours=1)), stop=Stop.latest()) == list(range(10))
    assert offsets(s.start_at_time(datetime.now() + timedelta(hours=1)), stop=Stop.latest()) == []
    # Only new messages by default.
    sub = client.subscribe(stream_name)
    client.publish(Message(stream=stream_name, value="new"))
    assert next(sub).offset == 10
    sub.close()


def test_empty_partition_and_stop_latest(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    assert read(client, stream_name) == []


def test_close_from_another_thread(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    sub = client.subscribe(stream_name)
    got: list[Message] = []
    reader = threading.Thread(target=lambda: got.extend(sub))
    reader.start()
    client.publish(Message(stream=stream_name, value="seen"))
    wait_for(lambda: got or None, timeout=10, what="the message")
    sub.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and [m.value for m in got] == [b"seen"] and sub.closed


def test_metadata(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=3))
    client.publish(Message(stream=stream_name, value="x", partition=1))
    meta = client.fetch_metadata([stream_name, f"{stream_name}-missing"])
    assert list(meta.streams) == [stream_name]
    info = meta.streams[stream_name]
    assert info.subject == stream_name and sorted(info.partitions) == [0, 1, 2]
    assert info.created is not None and len(meta.brokers) == 1
    p1 = client.fetch_partition_metadata(stream_name, 1)
    assert (p1.newest_offset, p1.high_watermark, p1.leader) == (0, 0, meta.brokers[0].id)
    assert p1.messages_received.latest is not None and not p1.under_replicated
    frame = meta.to_dataframe()
    assert list(frame["partition"]) == [0, 1, 2] and str(frame["partition"].dtype) == "int32"
    assert list(frame["newest_offset"]) == [-1, 0, -1]
    assert str(frame["last_message_time"].dtype) == "datetime64[ns, UTC]"
    assert list(meta.brokers_dataframe().columns) == ["id", "host", "port", "partitions", "leaders"]
    assert info.to_dataframe().equals(frame)
    with pytest.raises(ErrNoSuchPartition):
        client.fetch_partition_metadata(stream_name, 5)


def test_cursors(cursors_server: LocalServer, stream_name: str) -> None:
    with Lift(cursors_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
        assert client.fetch_cursor("reader", stream_name, 0) == -1
        for cursor in ("reader", "other", "third"):
            client.set_cursor(cursor, stream_name, 1, 41)
            assert client.fetch_cursor(cursor, stream_name, 1) == 41
        client.set_cursor("reader", stream_name, 1, 42)
        assert client.fetch_cursor("reader", stream_name, 1) == 42
        assert client.fetch_cursor("reader", stream_name, 0) == -1


def test_cursors_disabled(client: Lift, stream_name: str) -> None:
    with pytest.raises(ErrCursorsDisabled, match="cursors_partitions"):
        client.fetch_cursor("c", stream_name, 0)


def test_unreachable_brokers_fail_within_the_timeout() -> None:
    started = time.monotonic()
    with (
        Lift(addresses=["127.0.0.1:1", "127.0.0.1:2"], timeout=1) as client,
        pytest.raises(ErrConnection) as info,
    ):
        client.fetch_metadata()
    assert time.monotonic() - started < 10
    assert set(info.value.addresses) == {"127.0.0.1:1", "127.0.0.1:2"}


def test_bad_arguments_raise_before_sending(client: Lift) -> None:
    with pytest.raises(ValueError, match="at least one broker"):
        Lift()
    with pytest.raises(ValueError, match="'bad address with spaces'"):
        Lift("bad address with spaces")
    with pytest.raises(ValueError, match=r"subject .*'a\.\.b'"):
        Stream(subject="a..b", name="s")
    with pytest.raises(ValueError, match=r"stream name .*'has space'"):
        Stream(subject="a", name="has space")
    with pytest.raises(TypeError, match="value must be str or bytes, not int"):
        Message(stream="s", value=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ack_policy must be .*, not 'sometimes'"):
        Message(stream="s", ack_policy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names no stream"):
        client.publish(Message(value="no target"))
    with pytest.raises(ValueError, match="offset must be >= 0, not -1"):
        Start.at_offset(-1)
    with pytest.raises(ValueError, match=r"partition must be an int >= 0 \(and below 2\*\*31\), not -1"):
        client.subscribe("s", -1)
    with pytest.raises(ValueError, match="timeout must be > 0 and at most 604800 seconds, not 0"):
        client.fetch_metadata(timeout=0)


def test_tls_and_mutual_tls(
    tls_files: dict[str, Path], tls_server: LocalServer, mtls_server: LocalServer, stream_name: str
) -> None:
    from liftbridge_nb import TLSConfig

    ca = tls_files["ca_crt"]
    in_memory = TLSConfig(
        ca=ca.read_bytes(),
        cert=tls_files["client_crt"].read_bytes(),
        key=tls_files["client_key"].read_bytes(),
    )
    for server, tls in ((tls_server, TLSConfig(ca=ca)), (mtls_server, in_memory)):
        with Lift(server.address, tls=tls) as client:
            client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
            ack = client.publish(Message(stream=stream_name, value="over tls", ack_policy=AckPolicy.ALL))
            assert ack is not None and ack.offset == 0 and ack.ack_policy == AckPolicy.ALL
            assert [m.value for m in read(client, stream_name)] == [b"over tls"]
            # At volume, on the native data plane's batch and bulk read paths.
            batch = [Message(stream=stream_name, value=f"{i:05d}", partition=i % 2) for i in range(20_000)]
            acks = client.publish_many(batch)
            assert [(a.partition, a.offset) for a in acks[:4]] == [(0, 1), (1, 0), (0, 2), (1, 1)]
            frame = read_stream(stream_name, 0, client=client, progress=False, value="utf8")
            sent = {"over tls", *(m.value.decode() for m in batch)}
            assert len(frame) == 20_001 and set(frame["value"]) == sent
    # The server certificate names DNS localhost as well as IP 127.0.0.1.
    with Lift(tls_server.address.replace("127.0.0.1", "localhost"), tls=TLSConfig(ca=ca)) as client:
        assert len(client.fetch_metadata().brokers) == 1


# A refused TLS set-up: the server, the client's TLS (files by tls_files key; None: plaintext),
# words of gRPC's own reason (kept as ErrConnection.reason) and of the hint that says what to do.
TLS_REFUSALS = {
    "plaintext client, TLS broker": (
        "tls_server", None, "Socket closed", "hung up at once, as a TLS broker does on a plaintext client",
    ),
    "plaintext client, mTLS broker": (
        "mtls_server", None, "Socket closed", "connect with TLS, trusting the CA that signed its certificate",
    ),
    "TLS client, plaintext broker": (
        "local_server", {"ca": "ca_crt"}, "WRONG_VERSION_NUMBER", "the broker does not speak TLS",
    ),
    "broker certificate from another CA": (
        "tls_server", {"ca": "rogue_ca_crt"}, "CERTIFICATE_VERIFY_FAILED",
        "not trusted: pass the CA that signed it as TLSConfig(ca=...)",
    ),
    "broker certificate for another host": (
        "tls_server", {"ca": "ca_crt", "server_name": "elsewhere.example"},
        "Hostname Verification Check failed", "does not name the host or IP address connected to",
    ),
    "no client certificate": (
        "mtls_server", {"ca": "ca_crt"}, "TSI_DATA_CORRUPTED",
        "requires a client certificate: pass TLSConfig(cert=..., key=...)",
    ),
    "client certificate from a rogue CA": (
        "mtls_server", {"ca": "ca_crt", "cert": "rogue_client_crt", "key": "rogue_client_key"},
        "TSI_DATA_CORRUPTED",
        "refused the client certificate: pass TLSConfig(cert=..., key=...) "
        "(%lift_connect --tls-cert/--tls-key) signed by the broker's client CA",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", TLS_REFUSALS)
def test_tls_refusals_keep_the_reason_and_say_what_to_do(
    case: str, tls_files: dict[str, Path], request: pytest.FixtureRequest, stream_name: str
) -> None:
    from liftbridge_nb import TLSConfig

    fixture, settings, reason, hint = TLS_REFUSALS[case]
    server: LocalServer = request.getfixturevalue(fixture)
    tls = None
    if settings is not None:
        files = {k: tls_files[v] for k, v in settings.items() if k != "server_name"}
        tls = TLSConfig(
            ca=files.get("ca"),
            cert=files.get("cert"),
            key=files.get("key"),
            server_name=settings.get("server_name"),
        )
    with Lift(server.address, tls=tls, timeout=3) as client:
        with pytest.raises(ErrConnection) as info:
            client.fetch_metadata()
        error = info.value
        assert reason in error.reason and hint in error.hint
        assert error.addresses == [server.address] and error.code == grpc.StatusCode.UNAVAILABLE
        assert str(error).startswith(f"metadata: no broker reachable (tried {server.address}): {error.hint}")
        assert str(error).endswith(f"(gRPC: {error.reason})")
        with pytest.raises(ErrConnection, match=re.escape(hint)):  # a publish first looks up the leader
            client.publish(Message(stream=stream_name, value="refused", ack_policy=AckPolicy.ALL))


def test_activity_stream(stream_name: str) -> None:
    from liftbridge_nb.server import ServerOptions

    with LocalServer(ServerOptions(activity_stream=True)) as server, Lift(server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
        client.pause_stream(stream_name, [1])
        client.set_stream_readonly(stream_name, [0])
        client.delete_stream(stream_name)

        def events() -> list[tuple[str, str, tuple[int, ...]]] | None:
            all_ = client.activity(stop=Stop.latest())
            seen = [(e.op, e.stream, e.partitions) for e in all_ if e.stream == stream_name]
            return seen if len(seen) >= 4 else None

        assert wait_for(events, timeout=30, what="four activity events") == [
            ("create_stream", stream_name, (0, 1)),
            ("pause_stream", stream_name, (1,)),
            ("set_stream_readonly", stream_name, (0,)),
            ("delete_stream", stream_name, ()),
        ]


def test_encryption_without_a_server_key_creates_nothing(client: Lift, stream_name: str) -> None:
    from liftbridge_nb import ErrEncryptionFailed

    with pytest.raises(ErrEncryptionFailed, match="AES key"):
        client.create_stream(Stream(subject=stream_name, name=stream_name, encryption=True))
    assert stream_name not in client.fetch_metadata().streams


def test_ctrl_c_while_waiting_closes_the_subscription(client: Lift, stream_name: str) -> None:
    import os
    import signal

    client.create_stream(Stream(subject=stream_name, name=stream_name))
    sub = client.subscribe(stream_name)  # nothing will arrive
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        next(sub)
    timer.join()
    assert sub.closed
    assert client.publish(Message(stream=stream_name, value="still usable")) is not None


# -- faults on the real 3-node cluster ----------------------------------------------------------


@pytest.mark.cluster
def test_publish_many_through_two_leader_kills_loses_nothing_acked(
    cluster: LocalCluster, stream_name: str
) -> None:
    # 100,000 messages, ack policy all, replication 3; the leader is SIGKILLed while batches 4
    # and 12 are in flight, then restarted. Every acked message is in the log exactly once;
    # every other one was reported to the caller as an error.
    ledger = faults.Ledger("publish_many_two_kills")
    killer = faults.Killer(cluster, stream_name, ledger)
    batches, size = 20, 5_000
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)
        for batch in range(batches):
            values = [f"{batch * size + i:06d}".encode() for i in range(size)]

            def messages(batch: int = batch, values: list[bytes] = values) -> Iterator[Message]:
                for i, value in enumerate(values):
                    if batch in (4, 12) and i == 1_000:
                        killer.fire()
                    yield Message(stream=stream_name, value=value, ack_policy="all")

            ledger.record(values, client.publish_many(messages(), return_exceptions=True))
        killer.join()
        report = ledger.check(faults.read_log(client, stream_name))
    assert report["published"] == batches * size and report["leader_kills"] == 2
    assert report["acked"] > batches * size // 2, report


@pytest.mark.cluster
@pytest.mark.parametrize("policy", [AckPolicy.LEADER, AckPolicy.ALL], ids=["leader", "all"])
def test_publish_through_a_hung_leader_loses_nothing_acked(
    cluster: LocalCluster, stream_name: str, policy: AckPolicy
) -> None:
    # The leader is SIGSTOPped (hung, not dead) with batches in flight and resumed once another broker
    # leads: it then acks what it had buffered, and truncates it to the new leader's log. Every
    # message reported acked is in the log at its acked offset; the rest are errors (ErrAckUncertain
    # for an ack of policy leader that may be the deposed leader's, until it is back in sync).
    # Replication catches up before the pause: policy leader's other failure mode, acks of what the
    # leader had not replicated when it failed, is inherent (see the README), not a false ack.
    ledger = faults.Ledger(f"publish_hung_leader_{policy.name.lower()}")
    go, idle, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []
    with Lift(addresses=cluster.addresses, options=ClientOptions(ack_timeout=30, timeout=10)) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)

        def publish() -> None:
            try:
                batch = 0
                while not done.is_set():
                    if not go.is_set():
                        idle.set()
                        go.wait(1)
                        continue
                    idle.clear()
                    values = [f"{batch:04d}-{i:03d}".encode() for i in range(200)]
                    messages = [Message(stream=stream_name, value=v, ack_policy=policy) for v in values]
                    ledger.record(values, client.publish_many(messages, return_exceptions=True))
                    batch += 1
            except BaseException as exc:
                errors.append(exc)

        def settled() -> int:
            return len(ledger.acked) + len(ledger.failed)

        def replicated() -> bool | None:
            info = client.fetch_partition_metadata(stream_name)
            return (info.high_watermark == info.newest_offset and len(info.isr) == 3) or None

        publisher = threading.Thread(target=publish, name="publisher")
        go.set()
        publisher.start()
        try:
            wait_for(lambda: len(ledger.acked) >= 1_000 or None, timeout=60, what="acks before the pause")
            go.clear()
            wait_for(lambda: idle.is_set() or None, timeout=60, what="the publisher to stop")
            wait_for(replicated, timeout=60, what="the followers to catch up")
            node = faults.leader(cluster, stream_name)
            cluster.pause(node)
            go.set()
            try:
                faults.leader(cluster, stream_name, other_than=node)
                # The client learns of the new leader by looking it up (acks from it do not tell),
                # as its publishing does each second: only then can it doubt the deposed one's acks.
                wait_for(
                    lambda: (
                        client.fetch_metadata([stream_name]).streams[stream_name].partitions[0].leader
                        not in ("", cluster.server_ids[node])
                        or None
                    ),
                    timeout=30,
                    what="the client to know the new leader",
                )
                ledger.kills += 1
                before = settled()
                wait_for(lambda: settled() >= before + 1_000 or None, timeout=60, what="publishes")
            finally:
                cluster.resume(node)
            faults.wait_in_isr(cluster, stream_name)
            acked = len(ledger.acked)  # once the old leader is back in sync, acks are sure again
            wait_for(lambda: len(ledger.acked) >= acked + 1_000 or None, timeout=90, what="acks after it")
        finally:
            done.set()
            go.set()
            publisher.join(timeout=120)
        assert not publisher.is_alive() and not errors, errors
        report = ledger.check(faults.read_log(client, stream_name))
    print(report)
    assert report["lost"] == 0 and report["acked_at_another_offset"] == 0, report


@pytest.mark.cluster
@pytest.mark.parametrize("policy", [AckPolicy.LEADER, AckPolicy.ALL], ids=["leader", "all"])
def test_publish_through_a_hung_follower_loses_nothing_acked(
    cluster: LocalCluster, stream_name: str, policy: AckPolicy
) -> None:
    # A follower is SIGSTOPped (hung, its connections open) with batches in flight: the leader drops
    # it from the ISR (clustering.replica.max.lag.time) and commits with 2; it is resumed, catches
    # up and is back in the ISR. Every message gets an outcome, every acked one is in the log once at
    # its offset, the stream takes messages after, and the follower's own copy is the leader's.
    # The hung broker costs acks only when it carries the client's PublishAsync stream (a random
    # broker's): what is in flight on it fails (ErrAckTimeout, or ErrConnection once gRPC gives the
    # call up), whatever the policy. Resumed, the follower may report the leader failed (its leader
    # timeout ran out while it was stopped) and, one report being a quorum of an ISR of 2, depose it
    # (Liftbridge v1.9.0): publishing waits for the ISR to hold everything before the resume, so
    # that failover costs policy leader nothing acked, only ErrAckUncertain while in doubt.
    ledger = faults.Ledger(f"publish_hung_follower_{policy.name.lower()}")
    go, idle, done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []
    sent = [0]
    with Lift(addresses=cluster.addresses, options=ClientOptions(ack_timeout=30, timeout=10)) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)

        def publish() -> None:
            try:
                batch = 0
                while not done.is_set():
                    if not go.is_set():
                        idle.set()
                        go.wait(1)
                        continue
                    idle.clear()
                    values = [f"{batch:04d}-{i:03d}".encode() for i in range(100)]
                    messages = [Message(stream=stream_name, value=v, ack_policy=policy) for v in values]
                    sent[0] += len(values)
                    ledger.record(values, client.publish_many(messages, return_exceptions=True))
                    batch += 1
                    done.wait(0.05)  # a steady load, not a flood to read back
            except BaseException as exc:
                errors.append(exc)

        def acks(more: int, what: str, timeout: float = 90) -> None:
            already = len(ledger.acked)
            wait_for(lambda: len(ledger.acked) >= already + more or None, timeout=timeout, what=what)

        def committed() -> bool | None:
            info = client.fetch_partition_metadata(stream_name)
            return info.high_watermark == info.newest_offset or None

        publisher = threading.Thread(target=publish, name="publisher")
        go.set()
        publisher.start()
        try:
            acks(1_000, "acks before the pause")
            lead = faults.leader(cluster, stream_name)
            follower = next(n for n in range(cluster.size) if n != lead)
            hung = cluster.server_ids[follower]
            cluster.pause(follower)
            paused = time.monotonic()
            try:
                wait_for(
                    lambda: ((isr := faults.isr(cluster, stream_name)) and hung not in isr) or None,
                    timeout=60,
                    what=f"the leader to drop {hung} from the ISR",
                )
                dropped = time.monotonic() - paused
                acks(1_000, "acks with 2 replicas in sync", timeout=150)  # after the stream on it broke
                go.clear()
                wait_for(lambda: idle.is_set() or None, timeout=60, what="the publisher to stop")
                wait_for(committed, timeout=60, what="the ISR of 2 to hold everything")
            finally:
                cluster.resume(follower)
            resumed = time.monotonic() - paused
            wait_for(
                lambda: hung in faults.isr(cluster, stream_name) or None,
                timeout=120,
                what=f"{hung} back in the ISR",
            )
            rejoined = time.monotonic() - paused
            moved = faults.leader(cluster, stream_name) != lead
            go.set()
            acks(1_000, "acks after the follower returned")
        finally:
            done.set()
            go.set()
            publisher.join(timeout=120)
        assert not publisher.is_alive() and not errors, errors
        log = faults.read_log(client, stream_name)
        timings = {"dropped_from_isr_s": round(dropped, 1), "paused_s": round(resumed, 1)}
        extra = {**timings, "back_in_isr_s": round(rejoined, 1), "leader_moved_on_resume": moved}
        report = ledger.check(log, extra)
    held = [(m.offset, m.value) for m in log]
    wait_for(
        lambda: faults.replica_log(cluster.addresses[follower], stream_name) == held or None,
        timeout=60,
        what=f"{hung}'s own copy to be the leader's",
    )
    print(report)
    assert report["published"] == sent[0], "every message sent got an outcome"
    assert set(report["failed_by_error"]) <= {"ErrAckTimeout", "ErrConnection", "ErrAckUncertain"}, report


@pytest.mark.cluster
def test_publish_async_through_graceful_leader_restarts_never_says_no_such_stream(
    cluster: LocalCluster, stream_name: str
) -> None:
    # The leader is stopped with SIGTERM and restarted, twice; at once, a client that knows only the
    # restarted broker publishes through it (publish_async, ack policy all). With a few hundred
    # streams in the cluster's metadata, the broker answers before it has replayed them and refuses
    # with "no such stream" (every message, without the retry): those refusals are sent again after
    # a lookup. Nothing acked is lost; no message is told that the stream is missing.
    ledger = faults.Ledger("publish_async_graceful_restarts")
    with Lift(addresses=cluster.addresses, timeout=20) as client:

        def pad(i: int) -> bool | None:
            try:
                client.create_stream(Stream(subject=f"{stream_name}-pad{i}", name=f"{stream_name}-pad{i}"))
            except ApiError as exc:  # the metadata leader moving (the last test resumed a node): not sent
                if "no responders" not in str(exc):
                    raise
                return None
            return True

        wait_for(lambda: pad(0), timeout=60, what="a metadata leader to take a create")
        for i in range(1, 250):  # metadata for the restarted broker to replay
            pad(i)
        # min_isr 2: with the default 1 the ISR may shrink to the leader alone while the restarted
        # broker catches up, an ack of policy all is then the leader's alone, and stopping it loses
        # it (seen: 24 of 1,000 acked messages lost, their offsets holding others).
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3, min_isr=2))
        faults.wait_in_isr(cluster, stream_name)
        for restart in range(2):
            node = faults.leader(cluster, stream_name)
            cluster.stop(node)
            faults.leader(cluster, stream_name, other_than=node)
            ledger.kills += 1
            cluster.restart(node)
            values = [f"{restart}-{i:03d}".encode() for i in range(500)]
            with Lift(cluster.addresses[node], options=ClientOptions(ack_timeout=30)) as through:
                futures = [
                    through.publish_async(Message(stream=stream_name, value=v, ack_policy="all"))
                    for v in values
                ]
                ledger.record(values, [f.exception() or f.result() for f in futures])
            faults.agreed(cluster, stream_name)
    with Lift(addresses=cluster.addresses) as reader:
        # Liftbridge v1.9.0 itself loses acked messages here, now and then (2 of 4 runs on a busy
        # machine): the restarted broker replays metadata in which it still leads, stores what is
        # published meanwhile at its own offsets, and keeps that prefix when it follows again and
        # then leads (seen: values 0-000..0-010 acked at offsets 0-10, which hold 0-011..0-021,
        # stored again at 11-21). The client cannot prevent it; the report keeps the examples.
        report = ledger.check(faults.read_log(reader, stream_name), server_keeps_acks=False)
    print(report)
    assert report["failed_by_error"] == {} and report["acked"] == 1_000, report


@pytest.mark.cluster
def test_every_call_fails_with_the_addresses_once_all_brokers_are_down(stream_name: str) -> None:
    with LocalCluster(3) as doomed:
        client = Lift(addresses=doomed.addresses, timeout=3)
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        client.publish(Message(stream=stream_name, value=b"x", ack_policy="all"))
        for node in range(3):
            doomed.kill(node)
        calls: dict[str, Callable[[], object]] = {
            "fetch_metadata": lambda: client.fetch_metadata(),
            "fetch_partition_metadata": lambda: client.fetch_partition_metadata(stream_name),
            "create_stream": lambda: client.create_stream(Stream(subject="s", name=f"{stream_name}-2")),
            "delete_stream": lambda: client.delete_stream(stream_name),
            "pause_stream": lambda: client.pause_stream(stream_name),
            "set_stream_readonly": lambda: client.set_stream_readonly(stream_name),
            "publish": lambda: client.publish(Message(stream=stream_name, value=b"y")),
            "publish_async": lambda: client.publish_async(Message(stream=stream_name, value=b"y")).result(),
            "publish_many": lambda: client.publish_many([Message(stream=stream_name, value=b"y")] * 3),
            "subscribe": lambda: client.subscribe(stream_name, start=Start.earliest()),
            "read_stream": lambda: read_stream(stream_name, 0, client=client, progress=False),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(ErrConnection) as info:
                call()
            assert time.monotonic() - started < 3 * 3, f"{name} took longer than its timeout allows"
            assert any(a in str(info.value) for a in doomed.addresses), (name, str(info.value))
        outcomes = client.publish_many([Message(stream=stream_name, value=b"z")] * 5, return_exceptions=True)
        assert len(outcomes) == 5 and all(isinstance(o, ErrConnection) for o in outcomes)
        client.close()


SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))


@pytest.mark.soak
@pytest.mark.cluster
@pytest.mark.timeout(SOAK_SECONDS + 600)
def test_soak_publish_and_subscribe_through_leader_kills(cluster: LocalCluster, stream_name: str) -> None:
    # `make soak`: SOAK_SECONDS (600) of batches of 2,000 with ack policy all and a live
    # subscription, the leader killed during every 8th batch and restarted.
    seconds = SOAK_SECONDS
    ledger = faults.Ledger("soak")
    killer = faults.Killer(cluster, stream_name, ledger)
    got: list[Message] = []
    errors: list[BaseException] = []
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=120)

        def consume() -> None:
            try:
                got.extend(sub)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=consume, name="soak-reader")
        reader.start()
        ends = time.monotonic() + seconds
        batch = 0
        while time.monotonic() < ends:
            values = [f"{batch:05d}-{i:04d}".encode() for i in range(2_000)]

            def messages(batch: int = batch, values: list[bytes] = values) -> Iterator[Message]:
                for i, value in enumerate(values):
                    if batch % 8 == 7 and i == 500:
                        killer.fire()
                    yield Message(stream=stream_name, value=value, ack_policy="all")

            ledger.record(values, client.publish_many(messages(), return_exceptions=True))
            if batch % 8 == 7:
                killer.join()
            batch += 1
        killer.join()
        log = faults.read_log(client, stream_name)
        wait_for(lambda: len(got) >= len(log) or None, timeout=120, what="the live subscription to catch up")
        sub.close()
        reader.join(timeout=60)
        seen = [m.offset for m in got]
        report = ledger.check(log, {"seconds": seconds, "live_subscription_saw": len(seen)})
    assert not errors, errors
    assert seen == list(range(len(log))), "the live subscription saw every offset once, in order"
    print(report)


@pytest.mark.cluster
def test_a_cached_leader_that_no_longer_leads_is_looked_up_again(
    cluster: LocalCluster, stream_name: str
) -> None:
    with Lift(addresses=cluster.addresses, timeout=10) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)
        old = cluster.server_ids[faults.leader(cluster, stream_name)]
        assert client.fetch_partition_metadata(stream_name).leader == old  # cached: old leads
        node = faults.kill_leader(cluster, stream_name)
        faults.rejoin(cluster, stream_name, node)  # alive again, a follower now
        new = cluster.server_ids[faults.leader(cluster, stream_name)]
        assert new != old
        # The cached leader answers FAILED_PRECONDITION "The request should be sent to partition leader".
        assert client.fetch_partition_metadata(stream_name).leader == new


def test_close_is_quick_and_quiet_and_a_closed_client_says_so(
    server_address: str, stream_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with Lift(server_address) as setup:
        setup.create_stream(Stream(subject=stream_name, name=stream_name))
    closes = []
    for i in range(20):
        client = Lift(server_address)
        client.publish(Message(stream=stream_name, value=str(i)))  # opens the publish stream
        started = time.monotonic()
        client.close()
        closes.append(time.monotonic() - started)
    # It took 0.2 s each time: gRPC's channel_ready_future leaves a watcher that close() waited for.
    assert sum(closes) / len(closes) < 0.1, closes
    with pytest.raises(ErrClientClosed, match="closed"):
        client.fetch_metadata()
    with pytest.raises(ErrClientClosed, match="closed"):
        client.publish(Message(stream=stream_name, value="late"))
    with pytest.raises(ErrClientClosed, match="closed"):
        client.subscribe(stream_name)
    client.close()  # again: nothing happens
    with Lift(server_address) as live:
        sub = live.subscribe(stream_name, start=Start.earliest())
        reader = threading.Thread(target=lambda: list(sub))
        reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and sub.closed, "a subscription of a closed client ends"
    out, err = capfd.readouterr()
    assert "Channel closed" not in out + err and "Traceback" not in out + err


KEYS = [f"customer-{i}" for i in range(24)]


def _by_key(key: str, partitions: int) -> int:
    return (zlib.crc32(key.encode()) & 0xFFFFFFFF) % partitions


def _stored_partitions(client: Lift, stream: str, partitions: int) -> dict[bytes, set[int]]:
    """Each stored value: the partitions it is stored in."""
    where: dict[bytes, set[int]] = {}
    for p in range(partitions):
        for m in read(client, stream, p):
            where.setdefault(m.value, set()).add(p)
    return where


def test_a_key_without_partition_goes_to_the_key_partition_on_every_path(
    local_server: LocalServer, stream_name: str
) -> None:
    # One rule for every way in: the key's CRC-32 (unsigned, IEEE) modulo the partition count.
    n = 5
    plain = Lift(local_server.address)
    over_nats = Lift(local_server.address, options=ClientOptions(nats=local_server.nats_url))
    with plain, over_nats:
        plain.create_stream(Stream(subject=stream_name, name=stream_name, partitions=n))
        paths: dict[str, Callable[[list[Message]], list[object]]] = {
            "publish": lambda ms: [plain.publish(m) for m in ms],
            "publish_async": lambda ms: [f.result(10) for f in [plain.publish_async(m) for m in ms]],
            "publish_many": plain.publish_many,
            "publish over NATS": lambda ms: [over_nats.publish(m) for m in ms],
        }
        for path, send in paths.items():
            messages = [Message(stream=stream_name, key=k, value=f"{path}/{k}") for k in KEYS]
            acks: list[Any] = send(messages)
            assert [a.partition for a in acks] == [_by_key(k, n) for k in KEYS], path
            if "NATS" in path:
                assert all(a.ack_inbox.startswith("_INBOX.liftbridge-nb.") for a in acks), "it went over NATS"
        unkeyed = plain.publish_many([Message(stream=stream_name, value=f"unkeyed-{i}") for i in range(5)])
        assert [a.partition for a in unkeyed] == [0] * 5, "no key, no partition: partition 0, as before"
        stored = _stored_partitions(plain, stream_name, n)
        for path in paths:
            assert {k: stored[f"{path}/{k}".encode()] for k in KEYS} == {k: {_by_key(k, n)} for k in KEYS}
        assert len({_by_key(k, n) for k in KEYS}) == n, "24 keys spread over all 5 partitions"


def test_lift_publish_with_a_key_in_a_kernel_goes_to_the_key_partition(
    kernel: Kernel, local_server: LocalServer, stream_name: str
) -> None:
    n = 4
    with Lift(local_server.address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=n))
        setup = kernel.run(f"%load_ext liftbridge_nb\n%lift_connect {local_server.address}")
        assert setup.status == "ok", setup.shown
        for key in KEYS[:8]:
            cell = kernel.run(f"%%lift_publish {stream_name} --lines --key {key}\n{key}/1\n{key}/2\n")
            expected = _by_key(key, n)
            assert cell.status == "ok", cell.shown
            assert f"to '{stream_name}' partition {expected}: offsets" in cell.stdout, cell.shown
        one_line = kernel.run(f"%lift_publish {stream_name} --key {KEYS[9]} line")
        assert f"partition {_by_key(KEYS[9], n)}:" in one_line.stdout, one_line.shown
        stored = _stored_partitions(client, stream_name, n)
        for key in KEYS[:8]:
            assert stored[f"{key}/1".encode()] == stored[f"{key}/2".encode()] == {_by_key(key, n)}
