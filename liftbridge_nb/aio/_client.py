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
from .._core import ACTIVITY_STREAM, CURSORS_STREAM, SILENCE_CHECK, Call, LiftCore, Route
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
        if self.options.nats is not None:  # refused, not ignored
            raise ValueError(
                "AsyncLift does not publish over NATS: leave ClientOptions(nats=...) unset, or use Lift"
            )
        self._conns = AsyncConnections(
            tls.credentials() if tls else None, self.options, tls.server_name if tls else None
        )
        self._pipeline: Any = None
        self._publish_address = ""
        self._pending: dict[str, tuple[asyncio.Future[Ack | None], int]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._publish_lock = asyncio.Lock()
        self._ids = map(f"{uuid.uuid4().hex[:12]}{{:x}}".format, itertools.count())

    @property
    def nats_address(self) -> str | None:
        """See :attr:`Lift.nats_address`: always None, AsyncLift publishes through the brokers."""
        return None

    async def close(self) -> None:
        """Close every connection; open subscriptions end, pending acks fail.

        Calls under way (in other tasks) and later ones raise :class:`ErrClientClosed`.
        """
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

    # -- routing (the plans are LiftCore's, as Lift's are; this only does the I/O) ---------------

    async def _run(self, call: Call, timeout: float | None) -> Any:
        with telemetry.span(call.op, call.rpc, call.stream):
            if call.leader_of is not None:
                answer = await self._call_leader(call, timeout)
            else:
                answer, _ = await self._call_any(call, timeout)
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
        route = self._route(name, partition, replica=read_isr_replica)

        async def open_call(
            request: api_pb2.SubscribeRequest, refresh: bool, limit: float
        ) -> tuple[Any, str]:
            address = await self._address(route, refresh, limit)
            return self._conns.stub(address, streaming=True).Subscribe(request), address

        async def serves(address: str, limit: float) -> bool | None:
            try:
                if not route.fresh(SILENCE_CHECK):  # one look serves every subscription of the stream
                    await self._refresh([name], limit)
            except LiftbridgeError:
                return None
            return route.serves(address)

        sub = AsyncSubscription(
            open_call, serves, lambda: self._conns.closed,
            stream=name, partition=partition, start=begin, stop=stop,
            read_isr_replica=read_isr_replica, resume=resume,
            plan=self._resubscribe_plan(resubscribe_wait, self._timeout(timeout)),
        )  # fmt: skip
        await sub._open()
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
