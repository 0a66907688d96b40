"""publish straight to NATS: the real server's embedded NATS, and NATS servers of its own for faults.

A refused login, swallowed messages and acks that time out come from a real
nats-server of the test's own (:class:`LoneNats`): one that wants a password, or
one that no Liftbridge server listens on. A fake (a socket that takes PUBs and
never delivers them) stands in only for what a real NATS cannot be made to do on
cue: hang up with a message in flight. Liftbridge itself is always the real one.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from liftbridge_nb import (
    Ack,
    ClientOptions,
    ErrAckTimeout,
    ErrConnection,
    ErrIncorrectOffset,
    ErrMessageTooLarge,
    ErrNoSuchStream,
    ErrReadonlyPartition,
    Lift,
    Message,
    Start,
    Stop,
    Stream,
)
from liftbridge_nb.client._nats import parse_url
from liftbridge_nb.server import LocalServer, find_server
from liftbridge_nb.server._install import require_nats_server
from liftbridge_nb.server._process import ServerProcess, free_port, wait_port
from tests.polling import listening_addresses, wait_for

OURS = "_INBOX.liftbridge-nb."  # the ack inbox of messages that went over NATS (brokers use their own)


def _client(server: LocalServer, nats: str | None = None) -> Lift:
    return Lift(server.address, options=ClientOptions(nats=nats or server.nats_url))


def _log(client: Lift, stream: str, partition: int = 0) -> list[Message]:
    return list(client.subscribe(stream, partition, start=Start.earliest(), stop=Stop.latest()))


class LoneNats:
    """A real nats-server of its own on 127.0.0.1, that no Liftbridge server listens on.

    What is published to it goes nowhere (nobody subscribed), so acks time out.
    ``auth`` adds its flags (``--user u --pass p``). :meth:`in_msgs` counts the
    messages it took, from its monitoring endpoint (bound to 127.0.0.1 too).
    """

    def __init__(self, log_dir: Path, *auth: str) -> None:
        self.port, self.http_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        binary = require_nats_server(find_server())
        argv = [str(binary), "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.http_port), *auth]
        self.process = ServerProcess("NATS server", argv, log_dir / "lone-nats.log")

    def __enter__(self) -> Self:
        self.process.start()
        try:
            for port in (self.port, self.http_port):
                wait_port(port, timeout=30, check_alive=self.process.check_alive, what="NATS server")
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.process.stop()

    def url(self, login: str = "") -> str:
        """Its address as a nats:// URL, with ``login`` (``user:pass``) in it when given."""
        return f"nats://{login}@{self.address}" if login else f"nats://{self.address}"

    def in_msgs(self) -> int:
        """How many messages clients published to it (``/varz`` ``in_msgs``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/varz", timeout=5) as resp:
            return int(json.load(resp)["in_msgs"])


@pytest.fixture
def lone_nats(tmp_path: Path) -> Iterator[LoneNats]:
    with LoneNats(tmp_path) as nats:
        yield nats


@pytest.fixture
def guarded_nats(tmp_path: Path) -> Iterator[LoneNats]:
    with LoneNats(tmp_path, "--user", "u", "--pass", "p") as nats:
        yield nats


class FakeNats:
    """Speaks enough NATS to take a publisher's connection; stores nothing, acks nothing.

    It closes the connection once ``hang_up_after`` PUBs arrived: a real NATS
    server cannot be made to hang up at that point on cue.
    """

    def __init__(self, hang_up_after: int) -> None:
        self.hang_up_after = hang_up_after
        self.pubs = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.sendall(b'INFO {"server_id":"fake","max_payload":1048576}\r\n')
            buf = b""
            while data := conn.recv(1 << 16):
                buf += data
                while (eol := buf.find(b"\r\n")) >= 0:
                    line = buf[:eol]
                    if line.startswith(b"PUB "):
                        end = eol + 2 + int(line.rsplit(b" ", 1)[1]) + 2
                        if len(buf) < end:
                            break
                        buf = buf[end:]
                        self.pubs += 1
                        if self.pubs >= self.hang_up_after:
                            return
                        continue
                    buf = buf[eol + 2 :]
                    if line == b"PING":
                        conn.sendall(b"PONG\r\n")

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def hanging_nats() -> Iterator[FakeNats]:
    fake = FakeNats(hang_up_after=1)
    yield fake
    fake.close()


def test_messages_over_nats_are_stored_as_acked(local_server: LocalServer, stream_name: str) -> None:
    with _client(local_server) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=3))
        messages = [
            Message(
                stream=stream_name, value=f"v{i}", key=f"k{i % 7}", partitioner="key", headers={"n": str(i)}
            )
            for i in range(300)
        ]
        acks = [client.publish(m) for m in messages]
        assert all(isinstance(a, Ack) and a.ack_inbox.startswith(OURS) for a in acks)
        # The same partition for the same key, as the brokers' path chooses it.
        plain = Lift(local_server.address)
        expected = [
            plain.publish(Message(stream=stream_name, value="x", key=f"k{k}", partitioner="key"))
            for k in range(7)
        ]
        plain.close()
        assert all(a.partition == expected[i % 7].partition for i, a in enumerate(acks))  # type: ignore[union-attr]
        for p in range(3):
            stored = {m.offset: m for m in _log(client, stream_name, p)}
            for i, ack in enumerate(acks):
                if ack is not None and ack.partition == p:
                    m = stored[ack.offset]
                    assert (m.value, m.key, m.headers) == (
                        f"v{i}".encode(),
                        f"k{i % 7}".encode(),
                        {"n": str(i).encode()},
                    )
        assert sum(len(_log(client, stream_name, p)) for p in range(3)) == 300 + 7


def test_publish_many_goes_through_the_brokers(local_server: LocalServer, stream_name: str) -> None:
    # A batch is faster pipelined through a broker by the native data plane than sent to NATS.
    with _client(local_server) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        acks = client.publish_many([Message(stream=stream_name, value=str(i)) for i in range(50)])
        assert [a.offset for a in acks] == list(range(50))
        assert not any(a.ack_inbox.startswith(OURS) for a in acks)
        mine = client.publish(Message(stream=stream_name, value="mine", correlation_id="my-id"))
        assert mine is not None and mine.ack_inbox.startswith(OURS) and mine.correlation_id == "my-id"
        with pytest.raises(ErrMessageTooLarge):  # too large for NATS: the brokers refuse it too
            client.publish(Message(stream=stream_name, value=b"x" * (1024 * 1024 + 1)))


def test_the_leaders_refusal_arrives_in_the_ack(local_server: LocalServer, stream_name: str) -> None:
    with _client(local_server) as client:
        client.create_stream(
            Stream(subject=stream_name, name=stream_name, optimistic_concurrency_control=True)
        )
        first = client.publish(Message(stream=stream_name, value="a", expected_offset=0))
        assert first is not None and first.offset == 0 and first.ack_inbox.startswith(OURS)
        with pytest.raises(ErrIncorrectOffset, match="INCORRECT_OFFSET"):
            client.publish(Message(stream=stream_name, value="b", expected_offset=5))
        assert [m.value for m in _log(client, stream_name)] == [b"a"]


def test_unreachable_nats_means_the_brokers(
    local_server: LocalServer, stream_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with _client(local_server, url) as client, caplog.at_level(logging.WARNING, "liftbridge_nb"):
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        acks = [client.publish(Message(stream=stream_name, value=str(i))) for i in range(5)]
        assert [a.offset for a in acks if a is not None] == list(range(5))
    assert f"NATS unreachable (tried {url})" in caplog.text


def test_a_refused_login_means_the_brokers(
    local_server: LocalServer, stream_name: str, guarded_nats: LoneNats, caplog: pytest.LogCaptureFixture
) -> None:
    with _client(local_server, guarded_nats.url("u:p")) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        # The right password gets in: the message reaches this NATS, where no Liftbridge acks it.
        with pytest.raises(ErrAckTimeout):
            client.publish(Message(stream=stream_name, value="let in"), timeout=0.3)
        wait_for(lambda: guarded_nats.in_msgs() == 1, timeout=10, what="the message to reach NATS")
    wrong = guarded_nats.url("u:not-the-password")
    with _client(local_server, wrong) as client, caplog.at_level(logging.WARNING, "liftbridge_nb"):
        ack = client.publish(Message(stream=stream_name, value="x"))
        assert (
            ack is not None and ack.offset == 0 and not ack.ack_inbox.startswith(OURS)
        )  # the brokers stored it
    assert "Authorization Violation" in caplog.text
    assert "not-the-password" not in caplog.text
    assert guarded_nats.in_msgs() == 1  # nothing more reached NATS


def test_a_hang_up_fails_what_was_in_flight(
    local_server: LocalServer, stream_name: str, hanging_nats: FakeNats
) -> None:
    with _client(local_server, hanging_nats.url) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        with pytest.raises(ErrConnection, match="the NATS connection broke"):
            client.publish(Message(stream=stream_name, value="in flight"), timeout=10)
        assert _log(client, stream_name) == []  # the fake stored nothing; nothing was sent again


def test_a_connection_gone_stale_is_opened_again(local_server: LocalServer, stream_name: str) -> None:
    with _client(local_server) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        first = client.publish(Message(stream=stream_name, value="1"))
        assert first is not None and first.ack_inbox.startswith(OURS)
        nats = client._nats
        assert nats is not None and nats._sock is not None
        nats._sock.shutdown(socket.SHUT_RDWR)  # as when NATS drops an idle client
        nats._used = 0.0  # idle for long: looked at (PING) before it is used
        again = client.publish(Message(stream=stream_name, value="2"))
        assert again is not None and again.ack_inbox.startswith(OURS) and again.offset == 1


def test_nats_addresses() -> None:
    assert parse_url("nats://10.0.0.1:4333") == ("10.0.0.1", 4333, {})
    assert parse_url("localhost") == ("localhost", 4222, {})
    assert parse_url("nats://me:s%40cret@h:1") == ("h", 1, {"user": "me", "pass": "s@cret"})
    assert parse_url("nats://tok@h:1") == ("h", 1, {"auth_token": "tok"})
    with pytest.raises(ValueError, match="TLS is not supported"):
        Lift("127.0.0.1:1", options=ClientOptions(nats="tls://h:4222"))
    with pytest.raises(ValueError, match="no valid port"):
        parse_url("nats://h:99999")


def test_a_lone_publish_goes_over_nats_unless_the_partition_cannot_take_it(
    local_server: LocalServer, stream_name: str
) -> None:
    with _client(local_server) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
        fast = client.publish(Message(stream=stream_name, value="fast", partition=1))
        assert (
            fast is not None and fast.ack_inbox.startswith(OURS) and (fast.partition, fast.offset) == (1, 0)
        )
        client.pause_stream(stream_name, [1])  # this client knows at once: the brokers take the next
        resumed = client.publish(Message(stream=stream_name, value="resumes it", partition=1))
        assert resumed is not None and not resumed.ack_inbox.startswith(OURS) and resumed.offset == 1
        client.set_stream_readonly(stream_name, [0])
        with pytest.raises(ErrReadonlyPartition):
            client.publish(Message(stream=stream_name, value="refused", partition=0))
        assert (
            client.publish(Message(stream=stream_name, value="unacked", partition=1, ack_policy="none"))
            is None
        )
        with pytest.raises(ErrNoSuchStream):
            client.publish(Message(stream=stream_name + "-missing", value="nowhere"))
        assert [m.value for m in _log(client, stream_name, 1)] == [b"fast", b"resumes it", b"unacked"]


def test_a_lone_publish_that_times_out_looks_at_the_partition_again(
    local_server: LocalServer, stream_name: str, lone_nats: LoneNats
) -> None:
    assert lone_nats.process.pid is not None
    ports = {lone_nats.address, f"127.0.0.1:{lone_nats.http_port}"}
    assert listening_addresses(lone_nats.process.pid) == ports  # client and monitoring ports, loopback only
    with _client(local_server, lone_nats.url()) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        with pytest.raises(ErrAckTimeout, match="no ack within"):
            client.publish(Message(stream=stream_name, value="swallowed"), timeout=0.3)
        assert client._cache.route(stream_name, 0, 60) is None  # looked up again before the next one
        wait_for(lambda: lone_nats.in_msgs() == 1, timeout=10, what="the message to reach NATS")


def test_only_the_messages_own_stream_acks_it_over_nats(local_server: LocalServer, stream_name: str) -> None:
    # Both streams on the subject store each message and both ack it with its correlation id.
    other = f"{stream_name}-w"
    with _client(local_server) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.create_stream(Stream(subject=stream_name, name=other))
        acks = [client.publish(Message(stream=stream_name, value=f"p{i}")) for i in range(20)]
        assert all(a is not None and a.ack_inbox.startswith(OURS) for a in acks)
        assert [a.stream for a in acks if a is not None] == [stream_name] * 20
        assert sorted(a.offset for a in acks if a is not None) == list(range(20))
        assert len(_log(client, stream_name)) == len(_log(client, other)) == 20
