"""publish's fast path: a message straight to NATS in Liftbridge's envelope, its ack from an inbox.

A broker's PublishAsync handler does the same for every message it gets: it wraps
the message in the envelope and publishes it on the partition's NATS subject, where
the partition leader stores it and publishes the ack on the message's ack inbox.
Doing that here skips the hop through a broker: one acked publish's round trip is
shorter. (A batch goes faster through the brokers, pipelined by the native data
plane: ``publish_many`` does not come here.)

What the brokers check before publishing, and NATS does not, the caller checks
first (see ``Lift._publish_nats``): that the partition exists, is not paused (a
paused leader does not listen, and the message would be lost) and is not readonly.
The protocol spoken is NATS' text protocol, the part a publisher needs: INFO,
CONNECT, SUB, PUB, MSG, PING/PONG, +OK and -ERR.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable

from .._proto import api_pb2
from ..errors import ErrAckTimeout, ErrConnection, LiftbridgeError, from_publish_error, redact_url

MAGIC = b"\xb9\x0e\x43\xb4"
# Version 0, an 8-byte header (no CRC), no flags, message type 0: a publish.
PUBLISH_HEADER = MAGIC + b"\x00\x08\x00\x00"
ACK_TYPE = 1
DEFAULT_MAX_PAYLOAD = 1024 * 1024
SEND_TIMEOUT = 10.0

SUSPECT_AFTER = 1.0  # seconds without an ack after which the caller looks the leaders up again

NatsTarget = tuple[bytes, api_pb2.Message, str]
"""A message to publish: its partition's subject, the envelope's Message, and its stream's name."""


def subject_of(stream_subject: str, partition: int) -> bytes:
    """The NATS subject of a partition: the stream's for partition 0, ``<subject>.<n>`` for the others."""
    return (stream_subject if partition == 0 else f"{stream_subject}.{partition}").encode()


def parse_url(url: str) -> tuple[str, int, dict[str, str]]:
    """Host, port and CONNECT credentials of ``nats://[user:pass@|token@]host[:port]``."""
    try:
        return _parse_url(url)
    except ValueError as exc:  # its text quotes the URL: show it without the password
        raise ValueError(redact_url(str(exc))) from None  # the original text has the password


def _parse_url(url: str) -> tuple[str, int, dict[str, str]]:
    parsed = urllib.parse.urlsplit(url if "://" in url else f"nats://{url}")
    if parsed.scheme != "nats":
        raise ValueError(f"the NATS address must be nats://host:port, not {url!r} (TLS is not supported)")
    try:
        port = parsed.port or 4222
    except ValueError as exc:
        raise ValueError(f"the NATS address {url!r} has no valid port") from exc
    if not parsed.hostname:
        raise ValueError(f"the NATS address {url!r} names no host")
    credentials: dict[str, str] = {}
    if parsed.username and parsed.password is not None:
        credentials = {
            "user": urllib.parse.unquote(parsed.username),
            "pass": urllib.parse.unquote(parsed.password),
        }
    elif parsed.username:
        credentials = {"auth_token": urllib.parse.unquote(parsed.username)}
    return parsed.hostname, port, credentials


class _Broken(Exception):
    """The NATS connection failed; the text says how."""


def _send(sock: socket.socket, data: bytes) -> None:
    # Reads wait as long as the next deadline allows, down to half a millisecond; a write gets its own
    # bound. It never waits on our reading: NATS buffers what it sends us, and reads us regardless.
    try:
        sock.settimeout(SEND_TIMEOUT)
        sock.sendall(data)
    except OSError as exc:
        raise _Broken(str(exc) or type(exc).__name__) from exc


class NatsPublisher:
    """A client's NATS connection, opened on first use; one publish uses it at a time."""

    def __init__(self, url: str) -> None:
        self.host, self.port, self._credentials = parse_url(url)
        self.address = f"nats://{self.host}:{self.port}"  # for messages: no credentials
        self.max_payload = DEFAULT_MAX_PAYLOAD
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buf = b""
        self._pongs = 0
        self._used = 0.0  # when the server last answered (time.monotonic())
        self._inbox = f"_INBOX.liftbridge-nb.{uuid.uuid4().hex}"
        self._ids = itertools.count()

    def close(self) -> None:
        """Close the connection (a later publish opens a new one)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf = None, b""

    # -- the connection ------------------------------------------------------------------------

    def _recv(self, sock: socket.socket, deadline: float) -> None:
        """Read what has arrived into the buffer, waiting until ``deadline`` at most."""
        try:
            sock.settimeout(max(0.0005, deadline - time.monotonic()))
            data = sock.recv(1 << 16)
        except TimeoutError:
            return
        except OSError as exc:
            raise _Broken(str(exc) or type(exc).__name__) from exc
        if not data:
            raise _Broken("the NATS server closed the connection")
        self._buf += data

    def _frames(self, sock: socket.socket, on_msg: Callable[[bytes], None]) -> None:
        """Handle every whole frame in the buffer: MSG payloads go to ``on_msg``."""
        buf, pos = self._buf, 0
        while (eol := buf.find(b"\r\n", pos)) >= 0:
            if buf.startswith(b"MSG ", pos):  # MSG <subject> <sid> [reply] <size>
                start = eol + 2
                end = start + int(buf[buf.rfind(b" ", pos, eol) + 1 : eol])
                if len(buf) < end + 2:
                    break
                on_msg(buf[start:end])
                pos = end + 2
                continue
            line, pos = buf[pos:eol], eol + 2
            if line == b"PING":
                _send(sock, b"PONG\r\n")
            elif line == b"PONG":
                self._pongs += 1
            elif line.startswith(b"-ERR"):
                raise _Broken(line[4:].strip(b" '").decode(errors="replace"))
        self._buf = buf[pos:]

    def _round_trip(self, sock: socket.socket, deadline: float) -> None:
        """PING and wait for the PONG: the server has taken everything sent before it."""
        expected = self._pongs + 1
        _send(sock, b"PING\r\n")
        while self._pongs < expected:
            if time.monotonic() >= deadline:
                raise _Broken("no PONG from the NATS server in time")
            self._recv(sock, deadline)
            self._frames(sock, lambda _: None)
        self._used = time.monotonic()

    def _connect(self, deadline: float) -> socket.socket:
        timeout = max(0.001, deadline - time.monotonic())
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise _Broken(str(exc) or type(exc).__name__) from exc
        self._sock, self._buf = sock, b""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while b"\r\n" not in self._buf:
            if time.monotonic() >= deadline:
                raise _Broken("no INFO from the NATS server in time")
            self._recv(sock, deadline)
        line, _, self._buf = self._buf.partition(b"\r\n")
        if not line.startswith(b"INFO "):
            raise _Broken(f"not a NATS server: it said {line[:60]!r}")
        info = json.loads(line[5:])
        if info.get("tls_required"):
            raise _Broken("the NATS server requires TLS, which the fast path does not speak")
        self.max_payload = int(info.get("max_payload", DEFAULT_MAX_PAYLOAD))
        connect = {"verbose": False, "pedantic": False, "name": "liftbridge-nb", "lang": "python"}
        connect.update(self._credentials)
        _send(sock, b"CONNECT %s\r\nSUB %s 1\r\n" % (json.dumps(connect).encode(), self._inbox.encode()))
        self._round_trip(sock, deadline)  # an -ERR (authorization) arrives before the PONG
        return sock

    def ready(self, timeout: float, *, used_within: float = 0.0) -> int:
        """Make sure the connection works (open it, or PING it); returns the largest payload NATS takes.

        A connection that answered in the last ``used_within`` seconds is taken
        as working, without a PING (the round trip would double a lone publish's).
        Raises :class:`ErrConnection` when NATS cannot be reached.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._sock is not None and deadline - timeout - self._used < used_within:
                return self.max_payload
            try:
                if self._sock is not None:
                    try:
                        self._round_trip(self._sock, deadline)
                        return self.max_payload
                    except _Broken:  # it went stale while idle (NATS drops clients that miss PINGs)
                        self._drop()
                self._connect(deadline)
            except _Broken as exc:
                self._drop()
                raise ErrConnection("NATS unreachable", [self.address], reason=str(exc)) from exc
            return self.max_payload

    # -- publishing ----------------------------------------------------------------------------

    def publish(
        self, target: NatsTarget, ack_timeout: float, overdue: Callable[[], None] | None = None
    ) -> api_pb2.Ack | LiftbridgeError | None:
        """Publish ``target`` (an acked policy) and wait for its ack.

        Returns its Ack (only an ack from the message's own stream counts: several
        streams may listen on one subject, each acking with the same correlation
        id), an :class:`ApiError` the leader put in the ack, :class:`ErrAckTimeout`,
        or :class:`ErrConnection` when the connection broke with it in flight; None
        when it broke before the message was sent (the caller's to send another
        way). ``overdue()`` is called, at most once a second, while the ack is more
        than a second late (the caller looks the leader up again).
        """
        with self._lock:
            if self._sock is None:
                raise ErrConnection("NATS connection closed", [self.address])
            sock = self._sock
            subject, message, stream = target
            message.correlationId = cid = f"{next(self._ids):x}"
            message.ackInbox = self._inbox
            payload = PUBLISH_HEADER + message.SerializeToString()
            outcome: list[api_pb2.Ack | LiftbridgeError] = []

            def on_ack(payload: bytes) -> None:
                if payload[:4] != MAGIC or payload[7] != ACK_TYPE or outcome:
                    return
                ack = api_pb2.Ack.FromString(payload[payload[5] :])
                if ack.correlationId == cid and ack.stream == stream:  # not a late or another stream's
                    error = ack.ackError and from_publish_error(api_pb2.Ack.Error.Name(ack.ackError))
                    outcome.append(error or ack)

            try:
                _send(sock, b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload))
            except _Broken:
                self._drop()
                return None
            sent = time.monotonic()
            deadline, looked = sent + ack_timeout, 0.0  # when overdue() was last called
            try:
                while not outcome and time.monotonic() < deadline:
                    self._recv(sock, deadline)
                    self._frames(sock, on_ack)
                    self._used = now = time.monotonic()
                    if overdue is not None and now - sent > SUSPECT_AFTER and now - looked > SUSPECT_AFTER:
                        looked = now
                        overdue()
            except _Broken as exc:
                self._drop()
                return ErrConnection("the NATS connection broke", [self.address], reason=str(exc))
            return outcome[0] if outcome else ErrAckTimeout(f"no ack within {ack_timeout:g} s")
