"""Pipelined publishing over one PublishAsync stream, acks matched by correlation id."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future

import grpc

from .._convert import ack_from_proto
from .._proto import api_pb2
from ..errors import (
    ApiError,
    ErrAckTimeout,
    ErrClientClosed,
    ErrConnection,
    ErrEncryptionFailed,
    ErrIncorrectOffset,
    ErrInvalidArgument,
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrPermissionDenied,
    ErrReadonlyPartition,
    LiftbridgeError,
    from_rpc_error,
    hint,
    stream_missing,
    too_large,
)
from ..models import Ack

log = logging.getLogger("liftbridge_nb")

_ASYNC_ERRORS: dict[int, type[ApiError]] = {
    api_pb2.PublishAsyncError.BAD_REQUEST: ErrInvalidArgument,
    api_pb2.PublishAsyncError.NOT_FOUND: ErrNoSuchPartition,
    api_pb2.PublishAsyncError.READONLY: ErrReadonlyPartition,
    api_pb2.PublishAsyncError.INCORRECT_OFFSET: ErrIncorrectOffset,
    api_pb2.PublishAsyncError.ENCRYPTION_FAILED: ErrEncryptionFailed,
    api_pb2.PublishAsyncError.PERMISSION_DENIED: ErrPermissionDenied,
}


def async_error(err: api_pb2.PublishAsyncError) -> ApiError:
    """The exception for an in-band PublishAsync error (every code typed, unlike go-liftbridge)."""
    name = api_pb2.PublishAsyncError.Code.Name(err.code)
    cls = ErrMessageTooLarge if too_large(err.message) else _ASYNC_ERRORS.get(err.code, ApiError)
    if cls is ErrNoSuchPartition and stream_missing(err.message):
        cls = ErrNoSuchStream
    return cls(f"publish failed: {name}: {err.message}{hint(cls, err.message)}", None, err.message)


_CLOSE = object()
_IDLE_LOOK = 0.25  # seconds between an idle sweeper's looks at the ack deadlines


class AsyncPublisher:
    """One open PublishAsync call: a sender queue, a reader thread, and ack deadlines.

    ``open_call`` starts the bidirectional call with a request iterator, in
    at most the seconds given (None: its own bound), and returns (response
    iterator, address). When the call breaks, every pending
    future fails with :class:`ErrConnection`; the next publish opens a new call.
    Nothing is re-sent (that could duplicate messages); callers decide.
    """

    def __init__(
        self,
        open_call: Callable[
            [Iterator[api_pb2.PublishRequest], float | None], tuple[Iterable[api_pb2.PublishResponse], str]
        ],
    ) -> None:
        self._open_call = open_call
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Future[Ack | None], int]] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._requests: queue.SimpleQueue[object] | None = None
        self._wake = threading.Event()
        self._sweep_at: float | None = None  # when the sweeper looks next (None: not started)
        self._closed = False
        self._sweeper: threading.Thread | None = None
        # Correlation ids: a random prefix once, then a counter (uuid4 per message costs a urandom call).
        self._ids = map(f"{uuid.uuid4().hex[:12]}{{:x}}".format, itertools.count())

    def _requests_iter(self, q: queue.SimpleQueue[object]) -> Iterator[api_pb2.PublishRequest]:
        while True:
            item = q.get()
            if item is _CLOSE:
                return
            assert isinstance(item, api_pb2.PublishRequest)
            yield item

    def _ensure_open(self, open_timeout: float | None) -> queue.SimpleQueue[object]:
        # Called with the lock held.
        if self._closed:
            raise ErrClientClosed("the client is closed: make a new one (or use it in a with block)")
        if self._requests is not None:
            return self._requests
        q: queue.SimpleQueue[object] = queue.SimpleQueue()
        responses, address = self._open_call(self._requests_iter(q), open_timeout)
        self._requests = q
        threading.Thread(
            target=self._read, args=(responses, q, address), name="liftbridge-acks", daemon=True
        ).start()
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="liftbridge-ack-timeouts", daemon=True)
            self._sweeper.start()
        return q

    def submit(
        self,
        request: api_pb2.PublishRequest,
        partition: int,
        ack_timeout: float,
        open_timeout: float | None = None,
    ) -> Future[Ack | None]:
        """Send ``request``; the future resolves to its Ack (None with ack policy NONE).

        Opening the stream, when it is not open, takes at most ``open_timeout`` seconds.
        """
        future: Future[Ack | None] = Future()
        future.set_running_or_notify_cancel()
        if not request.correlationId:
            request.correlationId = next(self._ids)
        with self._lock:
            q = self._ensure_open(open_timeout)
            if request.ackPolicy == api_pb2.NONE:
                q.put(request)
                future.set_result(None)
                return future
            self._pending[request.correlationId] = (future, partition)
            deadline = time.monotonic() + ack_timeout
            heapq.heappush(self._deadlines, (deadline, request.correlationId))
            q.put(request)
            # Wake the sweeper only if it sleeps past this deadline (deadlines mostly grow).
            wake = self._sweep_at is None or deadline < self._sweep_at
        if wake:
            self._wake.set()
        return future

    def _read(
        self, responses: Iterable[api_pb2.PublishResponse], q: queue.SimpleQueue[object], address: str
    ) -> None:
        try:
            for resp in responses:
                cid = resp.correlationId or resp.ack.correlationId
                with self._lock:
                    entry = self._pending.pop(cid, None)
                if entry is None:
                    continue  # timed out already, or not ours
                future, partition = entry
                if resp.HasField("asyncError"):
                    future.set_exception(async_error(resp.asyncError))
                else:
                    future.set_result(ack_from_proto(resp.ack, partition))
            error: LiftbridgeError = ErrConnection("the publish stream ended", [address])
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, "publish", address=address)
            if not isinstance(error, ErrConnection):
                error = ErrConnection(f"the publish stream broke: {error}", [address])
        with self._lock:
            if self._requests is q:
                self._requests = None
            failed = list(self._pending.values())
            self._pending.clear()
            self._deadlines.clear()
        q.put(_CLOSE)
        if failed and not self._closed:
            log.warning(
                "publish stream to %s broke with %d messages unacknowledged: %s", address, len(failed), error
            )
        for future, _ in failed:
            future.set_exception(error)

    def _sweep(self) -> None:
        while not self._closed:
            with self._lock:
                now = time.monotonic()
                expired = []
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, cid = heapq.heappop(self._deadlines)
                    entry = self._pending.pop(cid, None)
                    if entry is not None:
                        expired.append(entry[0])
                # Idle, it looks again a moment later: a publish then need not wake it (a thread switch
                # in the way of every one-at-a-time publish), only one due before it looks.
                wait = self._deadlines[0][0] - now if self._deadlines else _IDLE_LOOK
                self._sweep_at = now + wait
            for future in expired:
                future.set_exception(ErrAckTimeout("no ack within the ack timeout"))
            self._wake.wait(wait)
            self._wake.clear()

    def close(self) -> None:
        """End the stream; pending acks keep arriving for up to the server's 5 s grace."""
        with self._lock:
            self._closed = True
            if self._requests is not None:
                self._requests.put(_CLOSE)
                self._requests = None
        self._wake.set()
