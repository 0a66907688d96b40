"""AsyncSubscription: the asyncio twin of Subscription, with the same resubscription rules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import grpc

from .. import _telemetry as telemetry
from .._convert import message_from_proto, subscribe_request
from .._core import Retries
from .._proto import api_pb2
from ..client._subscription import nothing_to_read, resubscribable, resume_position
from ..config import Backoff
from ..errors import (
    ErrConnection,
    ErrDeadlineExceeded,
    ErrNoSuchPartition,
    ErrNotLeader,
    ErrStopPositionReached,
    LiftbridgeError,
    about,
    from_rpc_error,
)
from ..models import Message, Start, Stop

log = logging.getLogger("liftbridge_nb")

OpenCall = Callable[[api_pb2.SubscribeRequest, bool], Awaitable[tuple[Any, str]]]


class AsyncSubscription(AsyncIterator[Message]):
    """Messages of one partition in offset order: ``async for message in sub``.

    Created by :meth:`AsyncLift.subscribe` (which awaits the handshake). Same
    behaviour as :class:`~liftbridge_nb.Subscription`: ends at its stop
    position, resubscribes from the last offset + 1 after a leader change or a
    lost connection for up to ``resubscribe_wait`` seconds, never yields an
    offset twice. :meth:`close` may be called from any task.
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
        self._call: Any = None
        self._closed = False
        self._done = False
        self.last_offset = -1
        self.resubscribes = 0
        self._telemetry = telemetry.enabled()
        self.address = ""

    async def _subscribe(self, start: Start, *, refresh: bool) -> None:
        request = subscribe_request(
            self.stream,
            self.partition,
            start,
            self.stop,
            read_isr_replica=self._read_isr,
            resume=self._resume,
        )
        retries = Retries(self._timeout, self._backoff, self._retries)
        while not self._closed:
            try:
                call, address = await self._open_call(request, refresh or retries.attempt > 0)
                self._call, self.address = call, address
                try:
                    await asyncio.wait_for(call.read(), retries.remaining())  # the handshake
                    return
                except TimeoutError:
                    call.cancel()
                    raise ErrDeadlineExceeded(
                        f"no answer to subscribe {self.stream}[{self.partition}] from {address} in time"
                    ) from None
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, "subscribe", address=address, subject=self._about) from exc
            except LiftbridgeError as exc:
                if nothing_to_read(exc):
                    self._done = True
                    return
                await asyncio.sleep(retries.wait_after(exc))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._done or self._closed:
                raise StopAsyncIteration
            try:
                m = await self._call.read()
            except grpc.RpcError as exc:
                await self._on_error(exc)
                continue
            except asyncio.CancelledError:
                self.close()
                raise
            if m is grpc.aio.EOF:  # type: ignore[attr-defined]
                self._done = True
                raise StopAsyncIteration
            if m.offset <= self.last_offset:
                continue  # already delivered before a resubscription
            self.last_offset = m.offset
            if self._telemetry:
                telemetry.delivered(self.stream, 1)
            return message_from_proto(m)

    async def _on_error(self, exc: grpc.RpcError) -> None:
        if self._closed:
            raise StopAsyncIteration from None
        mapped = from_rpc_error(exc, "subscribe", address=self.address, mid_stream=True, subject=self._about)
        if isinstance(mapped, ErrStopPositionReached):
            self._done = True
            raise StopAsyncIteration from None
        if not resubscribable(exc, self._resubscribe_wait):
            self._done = True
            raise mapped from None
        start = resume_position(self.last_offset, self.start)
        log.info(
            "subscription %s[%d] lost (%s); resubscribing from %s", self.stream, self.partition, mapped, start
        )
        give_up = time.monotonic() + self._resubscribe_wait
        attempt = 0
        while not self._closed:
            try:
                await self._subscribe(start, refresh=True)
                self.resubscribes += 1
                telemetry.resubscribed(self.stream)
                return
            except (ErrConnection, ErrNotLeader, ErrDeadlineExceeded, ErrNoSuchPartition) as exc2:
                mapped = exc2
            if time.monotonic() >= give_up:
                self._done = True
                raise mapped
            await asyncio.sleep(min(self._backoff.delay(attempt) * 4, max(0.0, give_up - time.monotonic())))
            attempt += 1
        raise StopAsyncIteration

    def close(self) -> None:
        """End the subscription; iteration stops."""
        self._closed = True
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
