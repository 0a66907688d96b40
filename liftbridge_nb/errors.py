"""Exceptions raised by liftbridge_nb.

Every error the package raises derives from :class:`LiftbridgeError` (but for :class:`ReadInterrupted`,
the ``KeyboardInterrupt`` of a read stopped by Ctrl-C, which ``except Exception`` must not catch)::

    LiftbridgeError
    ├── ServerError                    a local server, cluster or container could not be provided
    │   ├── ServerNotInstalledError    no Liftbridge binary, and no Go to build one
    │   ├── ServerBuildError           building the server with Go failed
    │   └── ServerStartError           a server process or container did not become ready
    ├── ErrConnection                  no broker could be reached (``addresses`` lists those tried)
    ├── ErrClientClosed                the client was closed before or during the call
    ├── ErrNoCheckpoint                a consumer with auto_offset="error" found no checkpoint
    ├── ErrDeadlineExceeded            a call ran out of time (also a ``TimeoutError``)
    │   └── ErrAckTimeout              a publish was sent but its ack did not come in time
    ├── ErrAckUncertain                an ack may be a deposed leader's: the message may be lost
    ├── ErrDecode                      read_stream could not decode a key or value (also a ``ValueError``)
    ├── ErrOutOfRange                  read_stream's start past the end, or after its end (a ``ValueError``)
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

Errors from the server keep its gRPC status code (``code``) and text (``details``), and the
``grpc.RpcError`` itself as ``__cause__``; their message names what the call was about (the
stream, the partition). Where there is something to do about one (a paused, readonly or
optimistic concurrency partition, a message too large, an unknown stream), its message ends
with what (:func:`hint`). Every error renders as one line in IPython (``_render_traceback_``),
so no cause needs dropping to keep a notebook's output short. :func:`redact_url` hides the
password of a URL quoted in a message or log.
Bad arguments caught before anything is sent raise ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import grpc

from ._logs import note_rpc_error

if TYPE_CHECKING:
    from .config import TLSConfig


class LiftbridgeError(Exception):
    """Base class of every error raised by liftbridge_nb.

    Two flags tell the clients' retry plans what an error means for a call
    (read by ``Retries``, ``AnyBroker`` and ``Resubscribe`` in ``_core``):
    ``retriable``, trying again may succeed (another broker, a new leader);
    ``refresh_metadata``, the client's metadata is in doubt and is fetched
    again before trying (an error with only this flag is looked up again a
    bounded number of times: a broker may lag behind a new stream).
    """

    #: Whether trying the call again (elsewhere, or after a refresh) may succeed.
    retriable = False
    #: Whether the client's metadata is in doubt after this error (fetched again before a retry).
    refresh_metadata = False

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
                f"client certificate and got none, or one expired or not signed by {client_ca}: "
                f"pass {pair} signed by it and valid now"
            )
        if tls is None or tls.cert is None:
            return f"the broker requires a client certificate: pass {pair} signed by {client_ca}"
        return f"the broker refused the client certificate: pass {pair} signed by {client_ca} and not expired"
    # A TLS broker drops a plaintext client's connection before the first HTTP/2 frame: gRPC then
    # reports it while connecting ("failed to connect to all addresses; last error: ... Socket
    # closed"). A broker killed or stopped mid-call drops the socket too ("Stream removed (Socket
    # closed)"), or refuses the connection: neither says anything about TLS.
    while_connecting = "failed to connect" in r
    hung_up = "socket closed" in r or "connection reset" in r
    if while_connecting and hung_up and (tls is None or tls is _UNKNOWN_TLS):
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

    retriable = True
    refresh_metadata = True

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


class ErrClientClosed(LiftbridgeError):
    """The client was closed: no call can be made with it (a closed subscription simply ends)."""


class ErrNoCheckpoint(LiftbridgeError, LookupError):
    """A consumer with ``auto_offset="error"`` was assigned a partition its group has no checkpoint of."""


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


class ErrOutOfRange(LiftbridgeError, ValueError):
    """read_stream was given no range to read: a start past every partition's end, or after the end."""


class ReadInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a read: how far it got (``read`` messages, of ``total`` when known), in one line.

    A ``KeyboardInterrupt``, so ``except KeyboardInterrupt`` catches it and ``except Exception`` does
    not; IPython shows only its message (``_render_traceback_``), no traceback.
    """

    def __init__(self, message: str, read: int = 0, total: int | None = None) -> None:
        super().__init__(message)
        self.read = read
        self.total = total

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class ApiError(LiftbridgeError):
    """The server answered with an error; ``code`` and ``details`` are what it said."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class ErrStreamExists(ApiError):
    """A stream with that name already exists."""


class ErrNoSuchPartition(ApiError):
    """The stream or the partition does not exist."""

    refresh_metadata = True  # a broker may not know a new stream yet: looked up again, a few times


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
    refresh_metadata = True


class ErrCursorsDisabled(ApiError):
    """The server has no cursors stream (``cursors.stream.partitions`` is 0)."""


class ErrPermissionDenied(ApiError):
    """The server's authorization refused the request."""


class ErrEncryptionFailed(ApiError):
    """The server could not encrypt the message."""


class ErrInvalidArgument(ApiError):
    """The server rejected an argument."""


E = TypeVar("E", bound=LiftbridgeError)


def amend(exc: E, text: str) -> E:
    """``exc`` with ``text`` appended to its message; its class, fields, cause and traceback kept."""
    if text:
        exc.args = (f"{exc}{text}", *exc.args[1:])
    return exc


def did_you_mean(word: str, choices: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``word``, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    if not close:
        return ""
    return f"; did you mean {close[0]!r}?" if quote else f"; did you mean {close[0]}?"


_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/@]+(?:@[^\s/@]+)*)@")
# user:secret@host without a scheme (``--nats me:secret@broker:4222``), at the start of a word.
_BARE_USERINFO = re.compile(
    r"(?P<scheme>(?:^|(?<=[\s'\"\[(,=])))(?P<userinfo>[^\s/@:'\"]+:[^\s/@'\"]+)@(?=\w)"
)


def redact_url(text: str) -> str:
    """``text`` with the secret of every URL's user part replaced by ``***``.

    ``nats://me:secret@host:4222`` becomes ``nats://me:***@host:4222``, a token
    (``nats://s3cr3t@host``) becomes ``nats://***@host``, and ``me:secret@host``
    without a scheme ``me:***@host``: for error texts and logs that quote a URL,
    which may carry a password.
    """

    def hide(match: re.Match[str]) -> str:
        user, sep, _ = match.group("userinfo").partition(":")
        return f"{match.group('scheme')}{user}:***@" if sep else f"{match.group('scheme')}***@"

    return _BARE_USERINFO.sub(hide, _USERINFO.sub(hide, text))


def too_large(details: str) -> bool:
    """Whether the server's text says a message was over a size limit.

    The one test for it, for gRPC errors and for in-band PublishAsync errors alike: NATS'
    ``maximum payload exceeded`` (1 MiB by default) and the replication limit's ``exceeds max``.
    """
    lowered = details.lower()
    return any(s in lowered for s in _TOO_LARGE)


def stream_missing(details: str) -> bool:
    """Whether the server's "not found" text is about the stream (not one of its partitions)."""
    lowered = details.lower()
    return any(s in lowered for s in _STREAM_MISSING)


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


def about(stream: str | None, partition: int | None = None, partitions: Sequence[int] = ()) -> str:
    """What a call was about, for its errors: ``"stream 'x'"``, ``"stream 'x' partition 2"``, or ``""``."""
    if not stream:
        return ""
    text = f"stream {stream!r}"
    if partition is not None:
        return f"{text} partition {partition}"
    if partitions:
        return f"{text} partitions {', '.join(str(p) for p in partitions)}"
    return text


# The server texts from_rpc_error relies on, where a gRPC code alone does not tell (Liftbridge
# v1.9.0; "a.go:N" is server/a.go). Each is matched in lower case, as a substring.
_NOT_LEADER = (
    "server not partition leader",  # api.go:312, Subscribe on a follower
    "the request should be sent to partition leader",  # metadata.go:174, FetchPartitionMetadata
    "server not cursor partition leader",  # cursors.go:107,164, Set/FetchCursor
)
_STREAM_MISSING = (
    "stream not found",  # api.go:161,199, Pause/SetStreamReadonly of all partitions
    "stream does not exist",  # metadata.go:34 ErrStreamNotFound: Delete, Pause, SetStreamReadonly
    "no such stream",  # api.go:762,849 (Publish: PublishAsyncError NOT_FOUND), api.go:796 (resume)
)
_TOO_LARGE = (
    "exceeds max",  # api.go:1019 "message exceeds max replication size" (INVALID_ARGUMENT)
    "maximum payload exceeded",  # NATS' ErrMaxPayload, wrapped by api.go's publish (UNKNOWN)
    # grpc-go's "grpc: received message larger than max (N vs. 4194304)" (RESOURCE_EXHAUSTED): the
    # server's gRPC limit, 4 MiB as server.go:488 sets none.
    "larger than max",
)
_INCORRECT_OFFSET = "incorrect expected offset"  # api.go:1016, as UNKNOWN (api.go:988 has no case)
_NOT_AUTHORIZED = "not authorized"  # api.go:726 "The client is not authorized to call ...", as UNKNOWN
_STOP_REACHED = ("stop offset reached", "stream is empty")  # partition.go:540, partition.go:616
_END_OF_READONLY = "end of readonly partition"  # partition.go:489
_READONLY = "readonly partition"  # api.go:779 "readonly partition: N" (PublishAsyncError READONLY)
_ENCRYPTION = "encrypt"  # api.go:742 (create), api.go:1022 "encryption failed on partition"
_SEGMENT_CLOSED = "segment has been closed"  # commitlog/segment.go:29, via partition.go:432 (paused)
_CURSORS_MISSING = "cursors stream does not exist"  # cursors.go:193


def _api_class(
    code: grpc.StatusCode | None, lowered: str, op: str, *, mid_stream: bool, leader_routed: bool
) -> type[ApiError]:
    """The ApiError class for a server refusal: by gRPC code, then by text where the code is ambiguous."""
    c = grpc.StatusCode
    if code == c.ALREADY_EXISTS:  # metadata.go:30 ErrStreamExists, the only ALREADY_EXISTS
        return ErrStreamExists
    if code == c.NOT_FOUND:
        if mid_stream:  # partition.go:479 "commit log was deleted"
            return ErrStreamDeleted
        if op == "delete" or stream_missing(lowered):
            return ErrNoSuchStream
        return ErrNoSuchPartition  # "No such partition" (api.go:296) may also be a missing stream
    if code == c.FAILED_PRECONDITION:
        if any(s in lowered for s in _NOT_LEADER):
            return ErrNotLeader
        if mid_stream:  # partition.go:484, the only FAILED_PRECONDITION after the handshake
            return ErrPartitionPaused
        if _READONLY in lowered:
            return ErrReadonlyPartition
        if _ENCRYPTION in lowered:
            return ErrEncryptionFailed
        if stream_missing(lowered):  # JoinConsumerGroup with a stream that does not exist
            return ErrNoSuchStream
        # The one other precondition of a call to a partition leader: being it.
        return ErrNotLeader if leader_routed else ApiError
    if code == c.RESOURCE_EXHAUSTED:
        if too_large(lowered):
            return ErrMessageTooLarge
        if any(s in lowered for s in _STOP_REACHED):
            return ErrStopPositionReached
        if _END_OF_READONLY in lowered:
            return ErrEndOfReadonlyPartition
        return ApiError
    if code == c.INVALID_ARGUMENT:
        return ErrMessageTooLarge if too_large(lowered) else ErrInvalidArgument
    if code == c.PERMISSION_DENIED:
        return ErrPermissionDenied
    if code == c.INTERNAL:
        if _SEGMENT_CLOSED in lowered:
            return ErrPartitionPaused
        if _CURSORS_MISSING in lowered:
            return ErrCursorsDisabled
        if _ENCRYPTION in lowered:
            return ErrEncryptionFailed
        return ApiError
    if code == c.UNKNOWN:  # plain Go errors: the text is all there is
        if _INCORRECT_OFFSET in lowered:
            return ErrIncorrectOffset
        if too_large(lowered):
            return ErrMessageTooLarge
        if _NOT_AUTHORIZED in lowered:
            return ErrPermissionDenied
    return ApiError


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


class NativeRpcError(grpc.RpcError):
    """A native call's failure (``_native.RpcFailure``'s args) as grpcio shows one, for from_rpc_error."""

    def __init__(self, number: int, details: str) -> None:
        super().__init__(details)
        self._code = _STATUS_CODES.get(number, grpc.StatusCode.UNKNOWN)
        self._details = str(details)

    def code(self) -> grpc.StatusCode:
        """The gRPC status code."""
        return self._code

    def details(self) -> str:
        """The status message."""
        return self._details


def from_rpc_error(
    exc: grpc.RpcError,
    op: str,
    *,
    address: str = "",
    mid_stream: bool = False,
    leader_routed: bool = False,
    tls: _ClientTLS = _UNKNOWN_TLS,
    subject: str = "",
) -> LiftbridgeError:
    """The one place a gRPC error becomes ours: the most specific class for what ``op`` was doing.

    ``op`` names the call (``create``, ``delete``, ``pause``, ``readonly``, ``publish``,
    ``subscribe``, ``metadata``, ``cursor``, ``group``); ``subject`` says what it was about
    (see :func:`about`, e.g. ``"stream 'x' partition 2"``) and goes into the message;
    ``mid_stream`` says a subscription failed after its handshake, where codes mean other
    things; ``leader_routed`` says the call went to a partition's leader, so that a
    precondition it failed that is not a paused, readonly or encryption one is that the
    broker does not lead (whatever its text: "The request should be sent to partition
    leader", "Server not partition leader"); ``tls`` (the client's settings, None for
    plaintext) sharpens an ErrConnection's hint. The class follows the gRPC code; the
    server's text decides only where one code covers several cases. The result's
    ``__cause__`` is ``exc`` already, wherever it is raised (``raise ... from exc`` says the
    same; ``from None`` would drop it).
    """
    code, details = _text(exc)
    on = f" on {subject}" if subject else ""
    c = grpc.StatusCode
    error: LiftbridgeError
    if code in (c.UNAVAILABLE, c.CANCELLED):
        note_rpc_error(details, address)  # gRPC's core says it only to stderr, which it does not get
        where = [address] if address else []
        error = ErrConnection(f"{op}{on}: broker unreachable", where, code, reason=details, tls=tls)
    elif code == c.DEADLINE_EXCEEDED:
        error = ErrDeadlineExceeded(f"{op}{on} timed out: {details}")
    else:
        cls = _api_class(code, details.lower(), op, mid_stream=mid_stream, leader_routed=leader_routed)
        error = cls(f"{op} failed{on}: {details or code}{hint(cls, details)}", code, details)
    error.__cause__ = exc
    return error
