"""AsyncSubscription: the asyncio shell of Subscription, over the same resubscription plan."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import grpc

from .. import _telemetry as telemetry
from .._convert import message_from_proto, subscribe_request
from .._core import SILENCE_CHECK, Resubscribe, Retries
from .._proto import api_pb2
from ..client._connections import CLOSED
from ..errors import (
    ErrClientClosed,
    ErrConnection,
    ErrDeadlineExceeded,
    LiftbridgeError,
    about,
    from_rpc_error,
)
from ..models import Message, Start, Stop
from ._connections import cancelling

log = logging.getLogger("liftbridge_nb")

OpenCall = Callable[[api_pb2.SubscribeRequest, bool, float], Awaitable[tuple[Any, str]]]
Serves = Callable[[str, float], Awaitable[bool | None]]


class AsyncSubscription(AsyncIterator[Message]):
    """Messages of one partition in offset order: ``async for message in sub``.

    Created by :meth:`AsyncLift.subscribe` (which awaits the handshake). Same
    behaviour as :class:`~liftbridge_nb.Subscription`: ends at its stop
    position and when its client is closed, resubscribes from the last offset
    + 1 after a leader change, a hung leader or a lost connection for up to
    ``resubscribe_wait`` seconds, never yields an offset twice. :meth:`close`
    may be called from any task: an ``async for`` over it then simply ends.
    """

    def __init__(
        self,
        open_call: OpenCall,
        serves: Serves,
        client_closed: Callable[[], bool],
        *,
        stream: str,
        partition: int,
        start: Start,
        stop: Stop | None,
        read_isr_replica: bool,
        resume: bool,
        plan: Resubscribe,
    ) -> None:
        self.stream = stream
        self.partition = partition
        self._about = about(stream, partition)  # what its errors are about
        self.start = start
        self.stop = stop
        self._open_call = open_call
        self._serves = serves
        self._client_closed = client_closed
        self._read_isr = read_isr_replica
        self._resume = resume
        self._plan = plan
        self._call: Any = None
        self._closed = False
        self._done = False
        self._reading = False
        self._moved: LiftbridgeError | None = None
        self._watchdog: asyncio.Task[None] | None = None
        #: Offset of the last message delivered, -1 before the first.
        self.last_offset = -1
        #: How many times the subscription reconnected after losing its leader or connection.
        self.resubscribes = 0
        self._telemetry = telemetry.enabled()
        #: Address of the broker currently serving the subscription.
        self.address = ""

    async def _open(self) -> None:
        """The first subscribe (within the call timeout), then the watch over a silent broker."""
        await self._subscribe(self.start, self._plan.opening())
        self._seen = self.last_offset
        if not self.closed:
            self._watchdog = asyncio.get_running_loop().create_task(_watch(weakref.ref(self)))

    async def _subscribe(self, start: Start, retries: Retries) -> None:
        request = subscribe_request(
            self.stream,
            self.partition,
            start,
            self.stop,
            read_isr_replica=self._read_isr,
            resume=self._resume,
        )
        while not self._closed:
            try:
                call, address = await self._open_call(request, retries.refresh, retries.remaining())
                self._call, self.address = call, address
                await self._handshake(call, retries.remaining())
                return
            except LiftbridgeError as exc:
                over, why = self._plan.end(exc, self.stop)
                if over:
                    self._end()
                    if why is not None:
                        raise why from exc
                    return
                if self._closed:
                    return
                await asyncio.sleep(retries.wait_after(exc))

    async def _handshake(self, call: Any, seconds: float) -> None:
        try:
            first = await asyncio.wait_for(call.read(), seconds)  # an empty Message
        except TimeoutError as exc:
            call.cancel()
            raise ErrDeadlineExceeded(
                f"no answer to subscribe {self.stream}[{self.partition}] from {self.address} "
                f"within {seconds:.3g} s"
            ) from exc
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "subscribe", address=self.address, subject=self._about) from exc
        except asyncio.CancelledError as exc:
            if cancelling() or self._closed:
                raise
            raise ErrClientClosed(CLOSED) from exc  # the client closed under it
        if first is grpc.aio.EOF:  # type: ignore[attr-defined]
            raise ErrConnection("the subscription ended before its handshake", [self.address])

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        return message_from_proto(await self.next_raw())

    async def next_raw(self) -> api_pb2.Message:
        """The next message as the API's protobuf, unconverted (see :meth:`Subscription.next_raw`)."""
        while True:
            if self._done or self._closed:
                raise StopAsyncIteration
            self._reading = True
            try:
                m = await self._call.read()
            except grpc.RpcError as exc:
                self._reading = False
                await self._on_error(exc)
                continue
            except asyncio.CancelledError as exc:
                self._reading = False
                if cancelling():  # this task was cancelled: leave nothing open
                    self.close()
                    raise
                await self._on_error(exc)  # the call was: by close(), the client's close, or the watchdog
                continue
            self._reading = False
            if m is grpc.aio.EOF:  # type: ignore[attr-defined]
                self._end()
                raise StopAsyncIteration
            if m.offset <= self.last_offset:
                continue  # already delivered before a resubscription
            self.last_offset = m.offset
            if self._telemetry:
                telemetry.delivered(self.stream, 1)
            return m  # type: ignore[no-any-return]

    async def _on_error(self, exc: grpc.RpcError | asyncio.CancelledError) -> None:
        moved, self._moved = self._moved, None
        if self._closed or self._client_closed():
            self._end()
            raise StopAsyncIteration
        if moved is not None:
            error: LiftbridgeError = moved
        elif isinstance(exc, grpc.RpcError):
            error = from_rpc_error(
                exc, "subscribe", address=self.address, mid_stream=True, subject=self._about
            )
        else:
            error = ErrConnection("the subscription's call was cancelled", [self.address])
        start = self._plan.after(error, self.stop, self.last_offset, self.start)
        if not isinstance(start, Start):
            self._end()
            if start is None:
                raise StopAsyncIteration
            raise start from exc
        log.info(
            "subscription %s[%d] lost (%s); resubscribing from %s", self.stream, self.partition, error, start
        )
        try:
            await self._subscribe(start, self._plan.retries(error))
        except ErrClientClosed as exc:  # the client closed: its subscriptions end
            self._end()
            raise StopAsyncIteration from exc
        except LiftbridgeError:
            self._end()
            raise
        self.resubscribes += 1
        telemetry.resubscribed(self.stream)

    async def _look(self) -> None:
        """See :meth:`Subscription._look`: a silent broker that no longer serves is left."""
        call, address = self._call, self.address
        if not self._reading or self.last_offset != self._seen:
            self._seen = self.last_offset
            return
        verdict = await self._serves(address, self._plan.check_timeout())
        cause = self._plan.silent(self.stream, self.partition, address, verdict)
        if cause is not None and self._reading and self._call is call and not self.closed:
            log.info("subscription %s[%d]: %s", self.stream, self.partition, cause)
            self._moved = cause
            call.cancel()

    def _end(self) -> None:
        self._done = True
        task, self._watchdog = self._watchdog, None
        if task is None or task.done() or task.get_loop().is_closed():
            return
        try:
            current = asyncio.current_task()
        except RuntimeError:  # closed outside any event loop
            current = None
        if task is not current:
            task.cancel()

    def close(self) -> None:
        """End the subscription (from any task); iteration stops."""
        self._closed = True
        self._end()
        if self._call is not None:
            self._call.cancel()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called or the subscription ended."""
        return self._closed or self._done

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _watch(ref: weakref.ref[AsyncSubscription]) -> None:
    """Every :data:`SILENCE_CHECK` seconds until cancelled, a look (:meth:`AsyncSubscription._look`).

    It holds the subscription weakly: one dropped without being closed is not kept alive by its watch.
    """
    while True:
        await asyncio.sleep(SILENCE_CHECK)
        sub = ref()
        if sub is None or sub.closed:
            return
        await sub._look()
        del sub
