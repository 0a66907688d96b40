"""AsyncLift: the asyncio client on grpc.aio, method for method like Lift."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from .. import _telemetry as telemetry
from .._convert import ack_from_proto, partition_from_proto
from .._core import ACTIVITY_STREAM, CURSORS_STREAM, AnyBroker, Call, LiftCore, Retries
from .._proto import api_pb2, api_pb2_grpc
from ..activity import ActivityEvent, decode_activity
from ..client._client import settle
from ..client._consumer import AutoOffset
from ..client._publisher import async_error
from ..config import ClientOptions, TLSConfig
from ..errors import (
    ErrAckTimeout,
    ErrConnection,
    ErrDeadlineExceeded,
    ErrNotLeader,
    LiftbridgeError,
    from_rpc_error,
)
from ..models import Ack, AckPolicy, Message, Metadata, PartitionInfo, Start, Stop, Stream
from ._connections import AsyncConnections
from ._consumer import AsyncConsumer
from ._subscription import AsyncSubscription

log = logging.getLogger("liftbridge_nb")

T = TypeVar("T")
RpcFn = Callable[[api_pb2_grpc.APIStub, float], Awaitable[T]]


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
        self._pipeline: Any = None
        self._publish_address = ""
        self._pending: dict[str, tuple[asyncio.Future[Ack | None], int]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._publish_lock = asyncio.Lock()
        self._ids = map(f"{uuid.uuid4().hex[:12]}{{:x}}".format, itertools.count())

    async def close(self) -> None:
        """Close every connection; open subscriptions end, pending acks fail."""
        if self._pipeline is not None:
            await self._pipeline.done_writing()
        await self._conns.close()
        if self._reader is not None:
            self._reader.cancel()

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
                return await self._call_leader(call.op, *call.leader_of, fn, timeout, subject=call.subject)
            return (
                await self._call_any_at(call.op, fn, timeout, read_only=call.read_only, subject=call.subject)
            )[0]

    async def _call_any_at(
        self,
        op: str,
        fn: RpcFn[T],
        timeout: float | None,
        *,
        read_only: bool = False,
        complete: Callable[[T], bool] | None = None,
        subject: str = "",
    ) -> tuple[T, str]:
        plan = AnyBroker[T](op, self._cache.addresses(), self._timeout(timeout), read_only=read_only)
        error: LiftbridgeError | None = None
        while (turn := plan.next()) is not None:
            address, share = turn
            try:
                answer = await fn(self._conns.stub(address), share)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, op, address=address, tls=self.tls, subject=subject)
                if not plan.moves_on(error):
                    raise error from exc
                continue
            if complete is None or complete(answer) or not plan.incomplete(answer, address):
                return answer, address
        if plan.fallback is not None:
            return plan.fallback
        raise plan.exhausted(error)

    async def _call_leader(
        self, op: str, stream: str, partition: int, fn: RpcFn[T], timeout: float | None, *, subject: str = ""
    ) -> T:
        retries = Retries(self._timeout(timeout), self.options.backoff, self.options.retries)
        while True:
            try:
                refresh = retries.attempt > 0
                address = await self._leader(stream, partition, refresh=refresh, timeout=retries.remaining())
                try:
                    return await fn(self._conns.stub(address), retries.remaining())
                except grpc.RpcError as exc:
                    raise from_rpc_error(exc, op, address=address, tls=self.tls, subject=subject) from exc
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

    # -- publishing ----------------------------------------------------------------------------

    async def _partition_for(self, message: Message, timeout: float | None) -> tuple[Call, int]:
        stream, needs_count = self._publish_stream(message)
        count = await self.partition_count(stream, timeout=timeout) if needs_count else None
        return self._publish_call(message, stream, count)

    async def publish(self, message: Message, *, timeout: float | None = None) -> Ack | None:
        """See :meth:`Lift.publish`."""
        if isinstance(message, Message) and not message.stream and message.subject:
            return await self.publish_to_subject(message, timeout=timeout)
        call, partition = await self._partition_for(message, timeout)
        started = time.perf_counter()
        ack = self._ack(await self._run(call, timeout), partition)
        if ack is not None:
            telemetry.acked(ack.stream, started)
        return ack

    async def publish_to_subject(
        self, message: Message, subject: str | None = None, *, timeout: float | None = None
    ) -> Ack | None:
        """See :meth:`Lift.publish_to_subject`."""
        call = self._publish_subject_call(message, subject)
        try:
            return self._ack(await self._run(call, timeout), None)
        except ErrDeadlineExceeded:
            if message.ack_policy == AckPolicy.NONE:
                return None
            raise

    async def _open_pipeline(self) -> Any:
        async with self._publish_lock:
            if self._pipeline is not None and not self._pipeline.done():
                return self._pipeline
            addresses = self._cache.addresses()
            random.shuffle(addresses)
            for address in addresses:
                if await self._conns.ready(address, min(self.options.timeout, 2.0)):
                    self._pipeline = self._conns.stub(address).PublishAsync()  # type: ignore[call-arg]
                    self._publish_address = address
                    self._reader = asyncio.get_running_loop().create_task(
                        self._read_acks(self._pipeline, address)
                    )
                    return self._pipeline
            raise ErrConnection("publish: no broker reachable", addresses)

    async def _read_acks(self, call: Any, address: str) -> None:
        error: LiftbridgeError = ErrConnection("the publish stream ended", [address])
        try:
            async for resp in call:
                entry = self._pending.pop(resp.correlationId or resp.ack.correlationId, None)
                if entry is None or entry[0].done():
                    continue
                future, partition = entry
                if resp.HasField("asyncError"):
                    future.set_exception(async_error(resp.asyncError))
                else:
                    future.set_result(ack_from_proto(resp.ack, partition))
        except grpc.RpcError as exc:
            error = ErrConnection(f"the publish stream broke: {from_rpc_error(exc, 'publish')}", [address])
        except asyncio.CancelledError:
            error = ErrConnection("the client was closed", [address])
        failed, self._pending = list(self._pending.values()), {}
        for future, _ in failed:
            if not future.done():
                future.set_exception(error)

    async def publish_async(
        self, message: Message, *, ack_timeout: float | None = None
    ) -> asyncio.Future[Ack | None]:
        """Send without waiting; await the returned future for the ack (see :meth:`Lift.publish_async`)."""
        wait = self._ack_timeout(ack_timeout)
        call, partition = await self._partition_for(message, None)
        request: api_pb2.PublishRequest = call.request
        if not request.correlationId:
            request.correlationId = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ack | None] = loop.create_future()
        stream = await self._open_pipeline()
        if request.ackPolicy == api_pb2.NONE:
            future.set_result(None)
        else:
            cid = request.correlationId
            self._pending[cid] = (future, partition)

            def expire() -> None:
                entry = self._pending.pop(cid, None)
                if entry is not None and not entry[0].done():
                    entry[0].set_exception(ErrAckTimeout("no ack within the ack timeout"))

            handle = loop.call_later(wait, expire)
            future.add_done_callback(lambda _: handle.cancel())
        try:
            await stream.write(request)
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            self._pending.pop(request.correlationId, None)
            raise ErrConnection(f"publish stream unusable: {exc}", [self._publish_address]) from None
        return future

    async def publish_many(
        self,
        messages: Iterable[Message],
        *,
        ack_timeout: float | None = None,
        return_exceptions: bool = False,
        window: int = 1024,
    ) -> list[Any]:
        """See :meth:`Lift.publish_many`."""
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, not {window!r}")
        slots = asyncio.Semaphore(window)
        futures: list[asyncio.Future[Ack | None]] = []
        unreachable: ErrConnection | None = None
        for message in self._messages(messages):
            future: asyncio.Future[Ack | None] = asyncio.get_running_loop().create_future()
            if unreachable is not None:
                future.set_exception(unreachable)
            else:
                await slots.acquire()
                try:
                    future = await self.publish_async(message, ack_timeout=ack_timeout)
                except LiftbridgeError as exc:
                    slots.release()
                    future.set_exception(exc)
                    unreachable = exc if isinstance(exc, ErrConnection) else None
                else:
                    future.add_done_callback(lambda _: slots.release())
            futures.append(future)
        results = await asyncio.gather(*futures, return_exceptions=True)
        return settle(list(results), return_exceptions)

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
            resubscribe_wait=self._resubscribe_wait(resubscribe_wait),
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
