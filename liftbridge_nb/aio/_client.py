"""AsyncLift: the asyncio client on grpc.aio, method for method like Lift (publishing through Lift's own)."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from .. import _telemetry as telemetry
from .._convert import partition_from_proto
from .._core import ACTIVITY_STREAM, CURSORS_STREAM, AnyBroker, Call, LiftCore, Retries
from .._proto import api_pb2, api_pb2_grpc
from ..activity import ActivityEvent, decode_activity
from ..client._client import Lift
from ..client._consumer import AutoOffset
from ..config import ClientOptions, TLSConfig
from ..errors import (
    ErrNotLeader,
    LiftbridgeError,
    from_rpc_error,
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

    async def close(self) -> None:
        """Close every connection; open subscriptions end, pending acks fail."""
        self._lift.close()
        self._executor.shutdown(wait=False)
        await self._conns.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- routing (the same rules as Lift's) ----------------------------------------------------

    async def _run(self, call: Call, timeout: float | None) -> Any:
        async def fn(stub: api_pb2_grpc.APIStub, t: float) -> Any:
            return await getattr(stub, call.rpc)(call.request, timeout=t)

        with telemetry.span(call.op, call.rpc, call.stream):
            if call.leader_of is not None:
                return await self._call_leader(call.op, *call.leader_of, fn, timeout)
            return (await self._call_any_at(call.op, fn, timeout, read_only=call.read_only))[0]

    async def _call_any_at(
        self,
        op: str,
        fn: RpcFn[T],
        timeout: float | None,
        *,
        read_only: bool = False,
        complete: Callable[[T], bool] | None = None,
    ) -> tuple[T, str]:
        plan = AnyBroker[T](op, self._cache.addresses(), self._timeout(timeout), read_only=read_only)
        error: LiftbridgeError | None = None
        while (turn := plan.next()) is not None:
            address, share = turn
            try:
                answer = await fn(self._conns.stub(address), share)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, op, address=address, tls=self.tls)
                if not plan.moves_on(error):
                    raise error from None
                continue
            if complete is None or complete(answer) or not plan.incomplete(answer, address):
                return answer, address
        if plan.fallback is not None:
            return plan.fallback
        raise plan.exhausted(error)

    async def _call_leader(
        self, op: str, stream: str, partition: int, fn: RpcFn[T], timeout: float | None
    ) -> T:
        retries = Retries(self._timeout(timeout), self.options.backoff, self.options.retries)
        while True:
            try:
                refresh = retries.attempt > 0
                address = await self._leader(stream, partition, refresh=refresh, timeout=retries.remaining())
                try:
                    return await fn(self._conns.stub(address), retries.remaining())
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, op, address=address, tls=self.tls) from None
            except LiftbridgeError as exc:
                await asyncio.sleep(retries.wait_after(exc))

    async def _leader(self, stream: str, partition: int, *, refresh: bool, timeout: float) -> str:
        if refresh or self._cache.leader_address(stream, partition) is None:
            await self._refresh([stream], timeout)
        address = self._cache.leader_address(stream, partition)
        if address is None:
            if self._cache.partition(stream, partition) is None:
                raise self._cache.missing(stream, partition)
            raise ErrNotLeader(f"{stream}[{partition}] has no leader right now")
        return address

    async def _replica(self, stream: str, partition: int, *, refresh: bool, timeout: float) -> str:
        if refresh or not self._cache.isr_addresses(stream, partition):
            await self._refresh([stream], timeout)
        isr = self._cache.isr_addresses(stream, partition)
        if not isr:
            return await self._leader(stream, partition, refresh=False, timeout=timeout)
        return random.choice(isr)

    async def _refresh(
        self, streams: list[str] | None, timeout: float | None, groups: Sequence[str] = ()
    ) -> Metadata:
        call = self._metadata_call(streams, groups)

        async def fetch(stub: api_pb2_grpc.APIStub, t: float) -> api_pb2.FetchMetadataResponse:
            resp: api_pb2.FetchMetadataResponse = await stub.FetchMetadata(call.request, timeout=t)  # type: ignore[misc]
            return resp

        resp, address = await self._call_any_at(
            call.op, fetch, timeout, read_only=True, complete=lambda r: self._knows_streams(r, streams)
        )
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
        return await self._refresh(list(streams) if streams is not None else None, timeout, groups)

    async def fetch_partition_metadata(
        self, stream: str, partition: int = 0, *, timeout: float | None = None
    ) -> PartitionInfo:
        """See :meth:`Lift.fetch_partition_metadata`."""
        resp = await self._run(self._partition_metadata_call(stream, partition), timeout)
        return partition_from_proto(stream, resp.metadata)

    async def partition_count(self, stream: str, *, timeout: float | None = None) -> int:
        """See :meth:`Lift.partition_count`."""
        count = self._cache.partition_count(stream)
        retries = Retries(self._timeout(timeout), self.options.backoff, self.options.retries)
        while count is None:
            await self._refresh([stream], retries.remaining())
            count = self._cache.partition_count(stream)
            if count is None:
                # ErrNoSuchStream, with what to do, once the lookups are used up
                await asyncio.sleep(retries.wait_after(self._cache.missing(stream, 0)))
        return count

    async def create_stream(self, stream: Stream, *, timeout: float | None = None) -> None:
        """See :meth:`Lift.create_stream`."""
        await self._run(self._create_call(stream), timeout)

    async def delete_stream(self, name: str, *, timeout: float | None = None) -> None:
        """See :meth:`Lift.delete_stream`."""
        await self._run(self._delete_call(name), timeout)
        self._cache.forget(name)  # a publish straight to NATS must look again

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
        self._cache.forget(name)  # a publish straight to NATS must look again

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
        self._cache.forget(name)  # a publish straight to NATS must look again

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
        items = list(messages)
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
        t = self._timeout(timeout)

        async def open_call(request: api_pb2.SubscribeRequest, refresh: bool) -> tuple[Any, str]:
            pick = self._replica if read_isr_replica else self._leader
            address = await pick(name, partition, refresh=refresh, timeout=t)
            return self._conns.stub(address, streaming=True).Subscribe(request), address

        sub = AsyncSubscription(
            open_call,
            stream=name, partition=partition, start=begin, stop=stop,
            read_isr_replica=read_isr_replica, resume=resume, timeout=t,
            retries=self.options.retries, backoff=self.options.backoff,
            resubscribe_wait=self.options.resubscribe_wait if resubscribe_wait is None else resubscribe_wait,
        )  # fmt: skip
        await sub._subscribe(begin, refresh=False)
        return sub

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
