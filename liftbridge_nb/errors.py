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
    ├── ErrDecode                      read_stream could not decode a key or value (also a ``ValueError``)
    └── ApiError                       the server refused a request (``code``, ``details``)
        ├── ErrStreamExists            create: the name is taken
        ├── ErrNoSuchStream            delete: no stream by that name
        ├── ErrNoSuchPartition         no such stream or partition (publish, subscribe, pause, ...)
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

Errors from the server keep its gRPC status code (``code``) and text (``details``).
Bad arguments caught before anything is sent raise ``ValueError`` or ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc


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


class ErrConnection(LiftbridgeError):
    """No broker could be reached; ``addresses`` are the ones tried."""

    def __init__(
        self, message: str, addresses: Sequence[str] = (), code: grpc.StatusCode | None = None
    ) -> None:
        tried = f" (tried {', '.join(addresses)})" if addresses else ""
        super().__init__(f"{message}{tried}")
        self.addresses = list(addresses)
        self.code = code


class ErrDeadlineExceeded(LiftbridgeError, TimeoutError):
    """A call did not complete within its timeout."""


class ErrAckTimeout(ErrDeadlineExceeded):
    """A message was sent but its ack did not arrive within the ack timeout."""


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


class ErrNoSuchStream(ApiError):
    """No stream by that name exists."""


class ErrNoSuchPartition(ApiError):
    """The stream or the partition does not exist."""


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


def _text(exc: grpc.RpcError) -> tuple[grpc.StatusCode | None, str]:
    call: Any = exc
    try:
        return call.code(), call.details() or ""
    except AttributeError:
        return None, str(exc)


def from_rpc_error(
    exc: grpc.RpcError, op: str, *, address: str = "", mid_stream: bool = False
) -> LiftbridgeError:
    """The one place a gRPC error becomes ours: the most specific class for what ``op`` was doing.

    ``op`` names the call (``create``, ``delete``, ``pause``, ``readonly``, ``publish``,
    ``subscribe``, ``metadata``, ``cursor``, ``group``); ``mid_stream`` says a
    subscription failed after its handshake, where codes mean other things.
    """
    code, details = _text(exc)
    text = f"{op} failed: {details or code}"
    c = grpc.StatusCode
    if code in (c.UNAVAILABLE, c.CANCELLED):
        return ErrConnection(f"{op}: broker unreachable: {details}", [address] if address else [], code)
    if code == c.DEADLINE_EXCEEDED:
        return ErrDeadlineExceeded(f"{op} timed out: {details}")
    lowered = details.lower()
    cls: type[ApiError] = ApiError
    if code == c.ALREADY_EXISTS:
        cls = ErrStreamExists
    elif code == c.NOT_FOUND:
        if mid_stream:
            cls = ErrStreamDeleted
        elif op == "delete":
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
        return ErrPartitionPaused(
            f"{op} failed: the partition is paused; subscribe with resume=True or publish to it to resume it "
            f"(server: {details})",
            code,
            details,
        )
    elif code == c.INTERNAL and "cursors stream does not exist" in lowered:
        cls = ErrCursorsDisabled
    elif code == c.INTERNAL and "encrypt" in lowered:
        cls = ErrEncryptionFailed
    elif code == c.INVALID_ARGUMENT:
        cls = ErrMessageTooLarge if "exceeds max" in lowered else ErrInvalidArgument
    elif code == c.UNKNOWN and "maximum payload exceeded" in lowered:  # over NATS' max_payload
        cls = ErrMessageTooLarge
    elif code == c.UNKNOWN and "incorrect expected offset" in lowered:
        cls = ErrIncorrectOffset
    elif code in (c.UNKNOWN, c.PERMISSION_DENIED) and "not authorized" in lowered:
        cls = ErrPermissionDenied
    return cls(text, code, details)
