"""AsyncLift: the asyncio client on grpc.aio, method for method like Lift (publishing through Lift's own)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from .. import _telemetry as telemetry
from .._convert import partition_from_proto
from .._core import ACTIVITY_STREAM, CURSORS_STREAM, PAUSE, Call, LiftCore, Route
from .._proto import api_pb2_grpc
from ..activity import ActivityEvent, decode_activity
from ..client._client import Lift
from ..client._consumer import AutoOffset
from ..config import ClientOptions, TLSConfig
from ..errors import (
    LiftbridgeError,
)
from ..models import Ack, Message, Metadata, PartitionInfo, Start, Stop, Stream
from ._connections import AsyncConnections
from ._consumer import AsyncConsumer
from ._subscription import AsyncSubscription

log = logging.getLogger("liftbridge_nb")

T = TypeVar("T")
RpcFn = Callable[[api_pb2_grpc.APIStub, float], Awaitable[T]]
_PUBLISH_THREADS = 32  # threads for publishes that block (each waits for its ack, or opens the stream)


class AsyncLift(LiftCore):
    """The asyncio client: the same methods as :class:`~liftbridge_nb.Lift`, awaited.

    ``async with AsyncLift("localhost:9292") as client: ...`` works in any
    running event loop, a Jupyter kernel's included. Subscriptions are async
    iterators; :meth:`publish_async` returns an awaitable future.
    """

    def __init__(
        self,
        ip_address: str | None = None,
        timeout: float | None = None,
        *,
        addresses: Sequence[str] | None = None,
        tls: TLSConfig | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        super().__init__(ip_address, timeout, addresses, tls, options)
        self._conns = AsyncConnections(
            tls.credentials() if tls else None, self.options, tls.server_name if tls else None
        )
        # Publishing is Lift's, on its own thread-based gRPC channels and NATS connection, sharing this
        # client's metadata cache and round robin; blocking steps run in this executor, off the loop.
        self._lift = Lift(addresses=self._cache.seeds, tls=tls, options=self.options)
        self._lift._cache, self._lift._round_robin = self._cache, self._round_robin
        self._executor = ThreadPoolExecutor(_PUBLISH_THREADS, thread_name_prefix="liftbridge-aio-publish")

    @property
    def nats_address(self) -> str | None:
        """See :attr:`Lift.nats_address` (AsyncLift publishes through Lift's own publishers)."""
        return self._lift.nats_address

    async def close(self) -> None:
        """Close every connection; open subscriptions end, pending acks fail.

        Calls under way (in other tasks) and later ones raise :class:`ErrClientClosed`.
        """
        self._lift.close()
        self._executor.shutdown(wait=False)
        await self._conns.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- routing (the plans are LiftCore's, as Lift's are; this only does the I/O) ---------------

    async def _run(self, call: Call, timeout: float | None) -> Any:
        with telemetry.span(call.op, call.rpc, call.stream):
            try:
                if call.leader_of is not None:
                    answer = await self._call_leader(call, timeout)
                else:
                    answer, _ = await self._call_any(call, timeout)
            except LiftbridgeError as exc:
                if not call.accepted(exc):
                    raise
                answer = None
        self._done(call)
        return answer

    async def _invoke(self, call: Call, address: str, timeout: float) -> Any:
        try:
            return await getattr(self._conns.stub(address), call.rpc)(call.request, timeout=timeout)
        except asyncio.CancelledError as exc:  # the client closed under the call, or the task cancelled
            raise self._conns.closed_error(exc)  # noqa: B904 (the cause is set)

    async def _call_any(self, call: Call, timeout: float | None) -> tuple[Any, str]:
        plan = self._any_broker(call, timeout)
        error: LiftbridgeError | None = None
        while (turn := plan.next()) is not None:
            address, share = turn
            try:
                answer = await self._invoke(call, address, share)
            except grpc.RpcError as exc:
                error = self._error(call, exc, address)
                if not plan.moves_on(error):
                    raise error from exc
                log.debug("%s: moving on from %s: %s", call.op, address, error)
                continue
            if plan.takes(call, answer, address):
                return answer, address
        return plan.outcome(error)

    async def _call_leader(self, call: Call, timeout: float | None) -> Any:
        assert call.leader_of is not None
        route = self._route(*call.leader_of)
        retries = self._retries(timeout)
        while True:
            try:
                address = await self._address(route, retries.refresh, retries.remaining())
                try:
                    return await self._invoke(call, address, retries.remaining())
                except grpc.RpcError as exc:
                    raise self._error(call, exc, address) from exc
            except LiftbridgeError as exc:
                await asyncio.sleep(retries.wait_after(exc))

    async def _address(self, route: Route, refresh: bool, timeout: float) -> str:
        if route.stale(refresh):
            await self._refresh([route.stream], timeout)
        return route.address()

    async def _refresh(
        self, streams: list[str] | None, timeout: float | None, groups: Sequence[str] = ()
    ) -> Metadata:
        resp, address = await self._call_any(self._metadata_call(streams, groups), timeout)
        return self._take_metadata(resp, address, streams)

    # -- metadata and streams ------------------------------------------------------------------

    async def fetch_metadata(
        self,
        streams: Sequence[str] | None = None,
        groups: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> Metadata:
        """See :meth:`Lift.fetch_metadata`."""
        return await self._refresh(self._names(streams), timeout, groups)

    async def fetch_partition_metadata(
        self, stream: str, partition: int = 0, *, timeout: float | None = None
    ) -> PartitionInfo:
        """See :meth:`Lift.fetch_partition_metadata`."""
        resp = await self._run(self._partition_metadata_call(stream, partition), timeout)
        return partition_from_proto(stream, resp.metadata)

    async def partition_count(self, stream: str, *, timeout: float | None = None) -> int:
        """See :meth:`Lift.partition_count`."""
        retries = self._retries(timeout)
        while (count := self._cache.partition_count(stream)) is None:
            await self._refresh([stream], retries.remaining())
            if (count := self._cache.partition_count(stream)) is None:
                await asyncio.sleep(retries.wait_after(self._cache.missing(stream, 0)))
        return count

    async def create_stream(
        self, stream: Stream, *, exist_ok: bool = False, timeout: float | None = None
    ) -> None:
        """See :meth:`Lift.create_stream`."""
        await self._run(self._create_call(stream, exist_ok), timeout)

    async def delete_stream(self, name: str, *, timeout: float | None = None) -> None:
        """See :meth:`Lift.delete_stream`."""
        await self._run(self._delete_call(name), timeout)

    async def pause_stream(
        self,
        name: str,
        partitions: Iterable[int] | None = None,
        *,
        resume_all: bool = False,
        timeout: float | None = None,
    ) -> None:
        """See :meth:`Lift.pause_stream`."""
        await self._run(self._pause_call(name, partitions, resume_all), timeout)

    async def set_stream_readonly(
        self,
        name: str,
        partitions: Iterable[int] | None = None,
        *,
        readonly: bool = True,
        timeout: float | None = None,
    ) -> None:
        """See :meth:`Lift.set_stream_readonly`."""
        await self._run(self._readonly_call(name, partitions, readonly), timeout)

    # -- publishing: Lift's machinery, results handed to asyncio -------------------------------

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` (one of the publishing Lift's methods, which may block) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def publish(self, message: Message, *, timeout: float | None = None) -> Ack | None:
        """See :meth:`Lift.publish`."""
        return await self._in_thread(self._lift.publish, message, timeout=timeout)

    async def publish_to_subject(
        self, message: Message, subject: str | None = None, *, timeout: float | None = None
    ) -> Ack | None:
        """See :meth:`Lift.publish_to_subject`."""
        return await self._in_thread(self._lift.publish_to_subject, message, subject, timeout=timeout)

    async def publish_async(
        self, message: Message, *, ack_timeout: float | None = None
    ) -> asyncio.Future[Ack | None]:
        """Send without waiting; await the returned future for the ack (see :meth:`Lift.publish_async`).

        It returns once the message is handed to the publishing stream (at once, unless
        the stream must be opened or the partition looked up, which happen off the loop).
        """
        wait = self._lift._ack_timeout(ack_timeout)
        future = self._lift._send_async(message, wait, io=False)
        if future is None:
            future = await self._in_thread(self._lift._send_async, message, wait, io=True)
        assert future is not None  # with io=True it waits rather than returning None
        return asyncio.wrap_future(future)

    async def publish_many(
        self,
        messages: Iterable[Message],
        *,
        ack_timeout: float | None = None,
        return_exceptions: bool = False,
        window: int = 1024,
    ) -> list[Any]:
        """See :meth:`Lift.publish_many`."""
        with PAUSE:  # see CollectorPause
            items = self._messages(messages)
        return await self._in_thread(
            self._lift.publish_many, items, ack_timeout=ack_timeout, return_exceptions=return_exceptions,
            window=window,
        )  # fmt: skip

    # -- subscribing ---------------------------------------------------------------------------

    async def subscribe(
        self,
        stream: Stream | str,
        partition: int = 0,
        *,
        start: Start | None = None,
        stop: Stop | None = None,
        read_isr_replica: bool = False,
        resume: bool = False,
        resubscribe_wait: float | None = None,
        timeout: float | None = None,
    ) -> AsyncSubscription:
        """See :meth:`Lift.subscribe`; iterate the result with ``async for``."""
        name, begin = self._subscription_start(stream, partition, start, stop)
        # Lift's subscription (opened off the loop: the handshake blocks), its batches awaited.
        sub = await asyncio.to_thread(
            self._lift._subscribe, name, partition, start=begin, stop=stop,
            read_isr_replica=read_isr_replica, resume=resume, resubscribe_wait=resubscribe_wait,
            timeout=timeout,
        )  # fmt: skip
        return AsyncSubscription(sub)

    async def activity(
        self, *, start: Start | None = None, stop: Stop | None = None, timeout: float | None = None
    ) -> AsyncIterator[ActivityEvent]:
        """See :meth:`Lift.activity`."""
        last = -1
        async with await self.subscribe(
            ACTIVITY_STREAM, start=start or Start.earliest(), stop=stop, timeout=timeout
        ) as sub:
            async for message in sub:
                event = decode_activity(message.value)
                if event.id > last:
                    last = event.id
                    yield event

    async def consumer(
        self,
        group_id: str,
        streams: Sequence[str],
        *,
        consumer_id: str | None = None,
        auto_offset: AutoOffset = "new",
        checkpoint_interval: float = 5.0,
    ) -> AsyncConsumer:
        """Join consumer group ``group_id`` for ``streams``: see :meth:`Lift.consumer`; use ``async for``."""
        return await asyncio.to_thread(
            AsyncConsumer, self._cache.seeds, self.tls, self.options, group_id, streams,
            consumer_id=consumer_id, auto_offset=auto_offset, checkpoint_interval=checkpoint_interval,
        )  # fmt: skip

    # -- cursors -------------------------------------------------------------------------------

    async def _cursors_partitions(self, timeout: float | None) -> int | None:
        if self._cache.partition_count(CURSORS_STREAM) is None:
            await self._refresh([CURSORS_STREAM], timeout)
        return self._cache.partition_count(CURSORS_STREAM)

    async def set_cursor(
        self, cursor_id: str, stream: str, partition: int, offset: int, *, timeout: float | None = None
    ) -> None:
        """See :meth:`Lift.set_cursor`."""
        self._cursor_call(cursor_id, stream, partition, 1, offset)
        count = await self._cursors_partitions(timeout)
        await self._run(self._cursor_call(cursor_id, stream, partition, count, offset), timeout)

    async def fetch_cursor(
        self, cursor_id: str, stream: str, partition: int, *, timeout: float | None = None
    ) -> int:
        """See :meth:`Lift.fetch_cursor`."""
        self._cursor_call(cursor_id, stream, partition, 1)
        count = await self._cursors_partitions(timeout)
        return int((await self._run(self._cursor_call(cursor_id, stream, partition, count), timeout)).offset)
