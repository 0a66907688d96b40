"""Subscription: an iterator over a partition that survives leader changes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Self

import grpc

from .. import _telemetry as telemetry
from .._convert import message_from_proto, subscribe_request
from .._core import Retries
from .._proto import api_pb2
from ..config import Backoff
from ..errors import (
    ErrConnection,
    ErrDeadlineExceeded,
    ErrNotLeader,
    ErrStopPositionReached,
    LiftbridgeError,
    about,
    from_rpc_error,
)
from ..models import Message, Start, Stop

log = logging.getLogger("liftbridge_nb")

OpenCall = Callable[[api_pb2.SubscribeRequest, bool], tuple[Any, str]]
"""Starts a Subscribe call on the right broker: (request, refresh metadata first) -> (call, address)."""

# A call cancelled by anyone but close() (its channel closed, say) is resubscribed too.
_RESUBSCRIBE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.CANCELLED)


def nothing_to_read(error: LiftbridgeError) -> bool:
    """Whether a subscribe that failed at its handshake simply has nothing between its start and stop."""
    return isinstance(error, ErrStopPositionReached) or "stop offset is before start" in str(error).lower()


def resubscribable(exc: grpc.RpcError, wait: float) -> bool:
    """Whether a subscription that broke mid-stream resubscribes (leader gone, connection lost)."""
    return wait > 0 and exc.code() in _RESUBSCRIBE


def resume_position(last_offset: int, start: Start) -> Start:
    """Where a resubscription starts: after the last delivered offset, or where the first one did."""
    return Start.at_offset(last_offset + 1) if last_offset >= 0 else start


class Subscription(Iterator[Message]):
    """Messages of one partition, in offset order.

    Iterate it (``for message in sub``), use it as a context manager, and
    :meth:`close` it from any thread to end the iteration. The subscription
    ends by itself at its stop position. When the partition's leader goes away
    or the connection drops, it resubscribes from the last offset + 1 (to the
    new leader) for up to ``resubscribe_wait`` seconds, so that no message is
    skipped or repeated; then it raises.
    """

    def __init__(
        self,
        open_call: OpenCall,
        *,
        stream: str,
        partition: int,
        start: Start,
        stop: Stop | None,
        read_isr_replica: bool,
        resume: bool,
        timeout: float,
        retries: int,
        backoff: Backoff,
        resubscribe_wait: float,
        consumer: tuple[str, int, str] | None = None,
    ) -> None:
        self.stream = stream
        self.partition = partition
        self._about = about(stream, partition)  # what its errors are about
        self.start = start
        self.stop = stop
        self._open_call = open_call
        self._read_isr = read_isr_replica
        self._resume = resume
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._resubscribe_wait = resubscribe_wait
        self._consumer = consumer
        self._lock = threading.Lock()
        self._call: Any = None
        self._closed = False
        self._done = False
        #: Offset of the last message delivered, -1 before the first.
        self.last_offset = -1
        #: How many times the subscription reconnected after losing its leader or connection.
        self.resubscribes = 0
        self._telemetry = telemetry.enabled()
        #: Address of the broker currently serving the subscription.
        self.address = ""
        self._subscribe(start, refresh=False)

    def _request(self, start: Start) -> api_pb2.SubscribeRequest:
        return subscribe_request(
            self.stream, self.partition, start, self.stop,
            read_isr_replica=self._read_isr, resume=self._resume, consumer=self._consumer,
        )  # fmt: skip

    def _subscribe(self, start: Start, *, refresh: bool) -> None:
        """Open the call and consume the handshake; retries not-leader and unavailable answers."""
        retries = Retries(self._timeout, self._backoff, self._retries)
        while True:
            try:
                call, address = self._open_call(self._request(start), refresh or retries.attempt > 0)
                with self._lock:
                    if self._closed:
                        call.cancel()
                        return
                    self._call = call
                self.address = address
                try:
                    self._handshake(call, retries.deadline)
                    return
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, "subscribe", address=address, subject=self._about) from exc
            except LiftbridgeError as exc:
                if nothing_to_read(exc):
                    self._done = True
                    return
                # Metadata may lag behind a new stream or leader for a moment: look again.
                time.sleep(retries.wait_after(exc))

    def _handshake(self, call: Any, deadline: float) -> None:
        # The first item is an empty Message; a watchdog cancels the call if it takes too long.
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            call.cancel()

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        timer.daemon = True
        timer.start()
        try:
            next(call)
        except grpc.RpcError:
            if timed_out.is_set():
                raise ErrDeadlineExceeded(
                    f"no answer to subscribe {self.stream}[{self.partition}] from {self.address} in time"
                ) from None
            raise
        except StopIteration:
            raise ErrConnection("the subscription ended before its handshake", [self.address]) from None
        finally:
            timer.cancel()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Message:
        return message_from_proto(self.next_raw())

    def next_raw(self) -> api_pb2.Message:
        """The next message as the API's protobuf, unconverted (for readers that build columns)."""
        while True:
            if self._done or self._closed:
                raise StopIteration
            try:
                m = next(self._call)
            except StopIteration:
                self._done = True
                raise
            except grpc.RpcError as exc:
                self._on_error(exc)
                continue
            except BaseException:
                self.close()  # Ctrl-C and friends: leave nothing open
                raise
            if m.offset <= self.last_offset:
                # A new leader may start a resubscription at its (lagging) high watermark and send
                # what was already delivered: drop it, so that nothing is seen twice.
                continue
            self.last_offset = m.offset
            if self._telemetry:
                telemetry.delivered(self.stream, 1)
            return m  # type: ignore[no-any-return]

    def _on_error(self, exc: grpc.RpcError) -> None:
        if self._closed:
            raise StopIteration from None
        mapped = from_rpc_error(exc, "subscribe", address=self.address, mid_stream=True, subject=self._about)
        if isinstance(mapped, ErrStopPositionReached):
            self._done = True
            raise StopIteration from None
        if not resubscribable(exc, self._resubscribe_wait):
            self._done = True
            raise mapped from None
        self._resubscribe(mapped)

    def _resubscribe(self, cause: LiftbridgeError) -> None:
        start = resume_position(self.last_offset, self.start)
        log.info(
            "subscription %s[%d] lost (%s); resubscribing from %s", self.stream, self.partition, cause, start
        )
        give_up = time.monotonic() + self._resubscribe_wait
        attempt = 0
        while not self._closed:
            try:
                self._subscribe(start, refresh=True)
                self.resubscribes += 1
                telemetry.resubscribed(self.stream)
                return
            except (ErrConnection, ErrNotLeader, ErrDeadlineExceeded) as exc:
                cause = exc
            if time.monotonic() >= give_up:
                self._done = True
                raise cause
            time.sleep(min(self._backoff.delay(attempt) * 4, max(0.0, give_up - time.monotonic())))
            attempt += 1
        raise StopIteration

    def close(self) -> None:
        """End the subscription (from any thread); iteration stops."""
        with self._lock:
            self._closed = True
            call = self._call
        if call is not None:
            call.cancel()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called or the subscription ended."""
        return self._closed or self._done

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
