"""Exceptions raised by liftbridge_nb.

Every error the package raises derives from :class:`LiftbridgeError`::

    LiftbridgeError
    ├── ServerError                    a local server, cluster or container could not be provided
    │   ├── ServerNotInstalledError    no Liftbridge binary, and no Go to build one
    │   ├── ServerBuildError           building the server with Go failed
    │   └── ServerStartError           a server process or container did not become ready
    ├── ErrConnection                  no broker could be reached (``addresses`` lists those tried)
    ├── ErrDeadlineExceeded            a call ran out of time (also a ``TimeoutError``)
    │   └── ErrAckTimeout              a publish was sent but its ack did not come in time
    ├── ErrAckUncertain                an ack may be a deposed leader's: the message may be lost
    ├── ErrDecode                      read_stream could not decode a key or value (also a ``ValueError``)
    └── ApiError                       the server refused a request (``code``, ``details``)
        ├── ErrStreamExists            create: the name is taken
        ├── ErrNoSuchPartition         no such stream or partition (publish, subscribe, pause, ...)
        │   └── ErrNoSuchStream        no stream by that name
        ├── ErrStreamDeleted           the stream was deleted under a subscription
        ├── ErrPartitionPaused         the partition was paused under a subscription
        ├── ErrReadonlyPartition       publish to a readonly partition
        │   └── ErrEndOfReadonlyPartition  a subscription read all of a readonly partition
        ├── ErrStopPositionReached     a subscription delivered its stop position (ends iteration)
        ├── ErrIncorrectOffset         optimistic concurrency: the expected offset was wrong
        ├── ErrMessageTooLarge         over the server's replication size limit
        ├── ErrNotLeader               the broker does not lead the partition (retried first)
        ├── ErrCursorsDisabled         the server runs without a cursors stream
        ├── ErrPermissionDenied        authorization refused
        ├── ErrEncryptionFailed        the server could not encrypt the message
        └── ErrInvalidArgument         the server rejected an argument

Errors from the server keep its gRPC status code (``code``) and text (``details``); where there
is something to do about one (a paused, readonly or optimistic concurrency partition, a message too
large, an unknown stream), its message ends with what (:func:`hint`).
Bad arguments caught before anything is sent raise ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import grpc

if TYPE_CHECKING:
    from .config import TLSConfig


class LiftbridgeError(Exception):
    """Base class of every error raised by liftbridge_nb."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: one line that says what to do.
        return [f"{type(self).__name__}: {self}"]


class ServerError(LiftbridgeError):
    """A local Liftbridge server, cluster or container could not be provided."""


class ServerNotInstalledError(ServerError):
    """No Liftbridge binary was found and none can be built (Go is missing)."""


class ServerBuildError(ServerError):
    """``go`` failed to build the Liftbridge server; ``log_path`` holds its output."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


class ServerStartError(ServerError):
    """A server did not become ready; ``log_path`` (when known) holds its log."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


class _Unknown(enum.Enum):
    TLS = "unknown"


_ClientTLS: TypeAlias = "TLSConfig | Literal[_Unknown.TLS] | None"  # None: plaintext
_UNKNOWN_TLS: Literal[_Unknown.TLS] = _Unknown.TLS


def connection_hint(reason: str, tls: _ClientTLS = _UNKNOWN_TLS, *, options: bool = False) -> str:
    """What to do about a connection gRPC gave up on, read from its ``reason``; "" if it tells nothing.

    The reasons recognised are TLS set-up mistakes: a broker certificate the client
    does not trust or that names another host, a client certificate missing or
    refused, TLS against a plaintext broker and the other way round. ``tls`` is the
    client's TLS settings (None: plaintext) when known; it tells a missing client
    certificate from a refused one. ``options=True`` words the advice for
    ``ServerOptions`` (a launcher's readiness probe) rather than ``TLSConfig``.
    """
    r = reason.lower()
    if options:
        ca = "ServerOptions(tls_ca=...)"
        pair = "ServerOptions(tls_client_cert=..., tls_client_key=...)"
        rename = "ServerOptions(tls_cert=...) must name 127.0.0.1"
    else:
        ca = "TLSConfig(ca=...) (%lift_connect --tls-ca)"
        pair = "TLSConfig(cert=..., key=...) (%lift_connect --tls-cert/--tls-key)"
        rename = "connect by a name or IP address its subjectAltName lists, or set TLSConfig(server_name=...)"
    client_ca = "the broker's client CA (its tls.client.auth.ca)"
    if "wrong_version_number" in r:
        return "the broker does not speak TLS: connect without TLS, or start it with tls.cert and tls.key"
    if "hostname verification" in r:
        return f"the broker's certificate does not name the host or IP address connected to: {rename}"
    if "certificate_verify_failed" in r or "certificate verify failed" in r:
        if "expired" in r or "not yet valid" in r:
            return "the broker's certificate has expired or is not yet valid: renew it (and check the clock)"
        return f"the broker's certificate is not trusted: pass the CA that signed it as {ca}"
    refused = ("tsi_data_corrupted", "certificate_required", "unknown_ca", "bad_certificate")
    if any(s in r for s in refused):
        if tls is _UNKNOWN_TLS:
            return (
                "the broker ended the TLS connection after the handshake, as it does when it requires a "
                f"client certificate and got none, or one not signed by {client_ca}: pass {pair} signed by it"
            )
        if tls is None or tls.cert is None:
            return f"the broker requires a client certificate: pass {pair} signed by {client_ca}"
        return f"the broker refused the client certificate: pass {pair} signed by {client_ca}"
    if ("socket closed" in r or "connection reset" in r) and (tls is None or tls is _UNKNOWN_TLS):
        advice = f"connect with TLS, trusting the CA that signed its certificate: {ca}"
        if tls is None:
            return f"the broker hung up at once, as a TLS broker does on a plaintext client: {advice}"
        return f"if the broker speaks TLS, {advice}"
    return ""


class ErrConnection(LiftbridgeError):
    """No broker could be reached; ``addresses`` are the ones tried.

    ``reason`` is gRPC's own account of the (last) failure, "" when there is none;
    ``hint`` says what to do about it when the reason tells (TLS set-up mistakes,
    see :func:`connection_hint`; ``tls`` is the client's settings), else it is "".
    Both are in the message.
    """

    def __init__(
        self,
        message: str,
        addresses: Sequence[str] = (),
        code: grpc.StatusCode | None = None,
        *,
        reason: str = "",
        tls: _ClientTLS = _UNKNOWN_TLS,
        hint: str | None = None,
    ) -> None:
        self.addresses = list(addresses)
        self.code = code
        self.reason = reason
        self.hint = connection_hint(reason, tls) if hint is None else hint
        text = f"{message} (tried {', '.join(addresses)})" if addresses else message
        if self.hint:
            text += f": {self.hint} (gRPC: {reason})"
        elif reason:
            text += f": {reason}"
        super().__init__(text)


class ErrDeadlineExceeded(LiftbridgeError, TimeoutError):
    """A call did not complete within its timeout."""


class ErrAckTimeout(ErrDeadlineExceeded):
    """A message was sent but its ack did not arrive within the ack timeout."""


class ErrAckUncertain(LiftbridgeError):
    """A message was acked, but the ack may be false: whether the log keeps it is unknown.

    With ack policy ``leader``, a leader cut off from the cluster (paused, or on the
    wrong side of a partition) may ack a message, then lose it when it learns that
    another broker took over and truncates its log to the new leader's. The client
    raises this when it knows that the partition's leader changed between sending
    and the ack. ``message`` is the message concerned (publish it again if it must be
    stored, at the risk of storing it twice; read the log to decide). Ack policy
    ``all`` does not have this failure mode.
    """

    def __init__(self, text: str, message: object = None) -> None:
        super().__init__(text)
        self.message = message


class ErrDecode(LiftbridgeError, ValueError):
    """A key or value could not be decoded as asked; says where (``partition``, ``offset``) and why."""

    def __init__(self, message: str, partition: int, offset: int) -> None:
        super().__init__(message)
        self.partition = partition
        self.offset = offset


class ApiError(LiftbridgeError):
    """The server answered with an error; ``code`` and ``details`` are what it said."""

    #: Whether the client may retry after refreshing its metadata.
    retriable = False

    def __init__(self, message: str, code: grpc.StatusCode | None = None, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class ErrStreamExists(ApiError):
    """A stream with that name already exists."""


class ErrNoSuchPartition(ApiError):
    """The stream or the partition does not exist."""


class ErrNoSuchStream(ErrNoSuchPartition):
    """No stream by that name exists (an :class:`ErrNoSuchPartition`, so either ``except`` catches it)."""


class ErrStreamDeleted(ApiError):
    """The stream was deleted while subscribed."""


class ErrPartitionPaused(ApiError):
    """The partition was paused while subscribed."""


class ErrReadonlyPartition(ApiError):
    """The partition is readonly: it takes no more messages."""


class ErrEndOfReadonlyPartition(ErrReadonlyPartition):
    """A subscription delivered every message of a readonly partition."""


class ErrStopPositionReached(ApiError):
    """A subscription delivered its stop position; iteration ends without raising this."""


class ErrIncorrectOffset(ApiError):
    """Optimistic concurrency: the expected offset was not the partition's next offset."""


class ErrMessageTooLarge(ApiError):
    """The message exceeds the server's maximum replication size."""


class ErrNotLeader(ApiError):
    """The broker does not lead that partition; retried after a metadata refresh before surfacing."""

    retriable = True


class ErrCursorsDisabled(ApiError):
    """The server has no cursors stream (``cursors.stream.partitions`` is 0)."""


class ErrPermissionDenied(ApiError):
    """The server's authorization refused the request."""


class ErrEncryptionFailed(ApiError):
    """The server could not encrypt the message."""


class ErrInvalidArgument(ApiError):
    """The server rejected an argument."""


def did_you_mean(word: str, choices: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``word``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    if not close:
        return ""
    return f"; did you mean {close[0]!r}?" if quote else f"; did you mean {close[0]}?"


def too_large(details: str) -> bool:
    """Whether the server's text says a message was over a size limit.

    The one test for it, for gRPC errors and for in-band PublishAsync errors alike: NATS'
    ``maximum payload exceeded`` (1 MiB by default) and the replication limit's ``exceeds max``.
    """
    lowered = details.lower()
    return "maximum payload exceeded" in lowered or "exceeds max" in lowered


def stream_missing(details: str) -> bool:
    """Whether the server's "not found" text is about the stream (not one of its partitions)."""
    lowered = details.lower()
    return any(s in lowered for s in ("no such stream", "stream not found", "stream does not exist"))


_HINTS: dict[type[ApiError], str] = {
    ErrNoSuchStream: "check the name (fetch_metadata() or %lift_streams lists streams) or create it first",
    ErrStreamExists: "choose another name, or delete the stream first",
    ErrPartitionPaused: "the partition is paused; subscribe with resume=True or publish to it to resume it",
    ErrReadonlyPartition: (
        "the partition is readonly; make it writable with set_stream_readonly(name, readonly=False) "
        "(%lift_readonly NAME --off), or publish elsewhere"
    ),
    ErrIncorrectOffset: (
        "the stream uses optimistic concurrency: expected_offset must be the partition's next offset "
        "(newest_offset + 1, see fetch_partition_metadata), or None to publish without the check"
    ),
    ErrMessageTooLarge: (
        "the message is over the server's size limit (NATS max_payload, 1 MiB by default); "
        "send less per message (split it, or store the data elsewhere and publish a reference)"
    ),
    ErrCursorsDisabled: (
        "the server has no cursors stream: start it with cursors.stream.partitions > 0 "
        "(ServerOptions(cursors_partitions=1) for a LocalServer)"
    ),
}


def hint(cls: type[ApiError], details: str = "") -> str:
    """What to do about a server error of class ``cls`` (exactly), as ``"; ..."`` to append, or ``""``."""
    if cls is ErrInvalidArgument and "concurrency control" in details.lower():
        return "; a stream with optimistic concurrency control needs an ack: use ack policy leader or all"
    text = _HINTS.get(cls)
    return f"; {text}" if text else ""


def no_such(stream: str, partition: int, partitions: int | None) -> ErrNoSuchPartition:
    """The error for a partition the metadata lacks: ``partitions`` is the stream's count, None if unknown."""
    if partitions is None:
        return ErrNoSuchStream(f"no stream named {stream!r}{hint(ErrNoSuchStream)}")
    return ErrNoSuchPartition(
        f"no partition {partition} in stream {stream!r}: it has partitions 0 to {partitions - 1}"
    )


_PUBLISH_ERRORS: dict[str, type[ApiError]] = {
    "BAD_REQUEST": ErrInvalidArgument,
    "NOT_FOUND": ErrNoSuchPartition,
    "READONLY": ErrReadonlyPartition,
    "INCORRECT_OFFSET": ErrIncorrectOffset,
    "ENCRYPTION_FAILED": ErrEncryptionFailed,
    "ENCRYPTION": ErrEncryptionFailed,
    "PERMISSION_DENIED": ErrPermissionDenied,
    "TOO_LARGE": ErrMessageTooLarge,
}

# What a leader's error ack means (it carries a code and no text); worded as the brokers word it.
_ACK_TEXTS = {
    "INCORRECT_OFFSET": "incorrect expected offset",
    "TOO_LARGE": "maximum payload exceeded",
    "ENCRYPTION": "encryption failed on partition",
}


def from_publish_error(code: str, details: str = "") -> ApiError:
    """The one place an in-band publish error becomes ours: PublishAsync's and a NATS ack's alike.

    ``code`` is the name of a ``PublishAsyncError.Code`` (``NOT_FOUND``, ``READONLY``, ...)
    or of an ``Ack.Error`` (``INCORRECT_OFFSET``, ``TOO_LARGE``, ``ENCRYPTION``);
    ``details`` the server's text ("" for an ack, which carries none). Every code is
    typed, unlike go-liftbridge's mapping.
    """
    text = details or _ACK_TEXTS.get(code, "publish failed")
    cls = ErrMessageTooLarge if too_large(text) else _PUBLISH_ERRORS.get(code, ApiError)
    if cls is ErrNoSuchPartition and stream_missing(text):
        cls = ErrNoSuchStream
    return cls(f"publish failed: {code}: {text}{hint(cls, text)}", None, text)


def _text(exc: grpc.RpcError) -> tuple[grpc.StatusCode | None, str]:
    call: Any = exc
    try:
        return call.code(), call.details() or ""
    except AttributeError:
        return None, str(exc)


def from_rpc_error(
    exc: grpc.RpcError,
    op: str,
    *,
    address: str = "",
    mid_stream: bool = False,
    tls: _ClientTLS = _UNKNOWN_TLS,
) -> LiftbridgeError:
    """The one place a gRPC error becomes ours: the most specific class for what ``op`` was doing.

    ``op`` names the call (``create``, ``delete``, ``pause``, ``readonly``, ``publish``,
    ``subscribe``, ``metadata``, ``cursor``, ``group``); ``mid_stream`` says a
    subscription failed after its handshake, where codes mean other things; ``tls``
    (the client's settings, None for plaintext) sharpens an ErrConnection's hint.
    """
    code, details = _text(exc)
    text = f"{op} failed: {details or code}"
    c = grpc.StatusCode
    if code in (c.UNAVAILABLE, c.CANCELLED):
        where = [address] if address else []
        return ErrConnection(f"{op}: broker unreachable", where, code, reason=details, tls=tls)
    if code == c.DEADLINE_EXCEEDED:
        return ErrDeadlineExceeded(f"{op} timed out: {details}")
    lowered = details.lower()
    cls: type[ApiError] = ApiError
    if code == c.ALREADY_EXISTS:
        cls = ErrStreamExists
    elif code == c.NOT_FOUND:
        if mid_stream:
            cls = ErrStreamDeleted
        elif op == "delete" or stream_missing(details):
            cls = ErrNoSuchStream
        else:
            cls = ErrNoSuchPartition
    elif code == c.FAILED_PRECONDITION:
        if "not partition leader" in lowered or "not the leader" in lowered or "not leader" in lowered:
            cls = ErrNotLeader
        elif mid_stream:
            cls = ErrPartitionPaused
        elif "readonly" in lowered:
            cls = ErrReadonlyPartition
        elif "encrypt" in lowered:
            cls = ErrEncryptionFailed
    elif code == c.RESOURCE_EXHAUSTED:
        if "stop" in lowered or "stream is empty" in lowered:  # STOP_LATEST on an empty partition
            cls = ErrStopPositionReached
        elif "readonly" in lowered:
            cls = ErrEndOfReadonlyPartition
    elif code == c.INTERNAL and "segment has been closed" in lowered:  # subscribe to a paused partition
        cls = ErrPartitionPaused
    elif code == c.INTERNAL and "cursors stream does not exist" in lowered:
        cls = ErrCursorsDisabled
    elif code == c.INTERNAL and "encrypt" in lowered:
        cls = ErrEncryptionFailed
    elif too_large(details):  # over the replication limit, or NATS' max_payload
        cls = ErrMessageTooLarge
    elif code == c.INVALID_ARGUMENT:
        cls = ErrInvalidArgument
    elif code == c.UNKNOWN and "incorrect expected offset" in lowered:
        cls = ErrIncorrectOffset
    elif code in (c.UNKNOWN, c.PERMISSION_DENIED) and "not authorized" in lowered:
        cls = ErrPermissionDenied
    return cls(f"{text}{hint(cls, details)}", code, details)
