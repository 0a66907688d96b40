"""Lift: the synchronous Liftbridge client."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from .._base import MetadataCache, RoundRobin, choose_partition, cursor_key, key_partition, normalize_address
from .._convert import (
    ack_from_proto,
    create_stream_request,
    metadata_from_proto,
    partition_from_proto,
    publish_request,
    publish_to_subject_request,
)
from .._proto import api_pb2, api_pb2_grpc
from ..activity import ActivityEvent, decode_activity
from ..config import ClientOptions, TLSConfig
from ..errors import (
    ErrConnection,
    ErrCursorsDisabled,
    ErrDeadlineExceeded,
    ErrNoSuchPartition,
    ErrNotLeader,
    LiftbridgeError,
    from_rpc_error,
)
from ..models import (
    Ack,
    Message,
    Metadata,
    PartitionInfo,
    Start,
    StartKind,
    Stop,
    StopKind,
    Stream,
    check_name,
    check_subject,
)
from ._connections import Connections
from ._consumer import AutoOffset, Consumer
from ._publisher import AsyncPublisher
from ._subscription import Subscription

log = logging.getLogger("liftbridge_nb")

T = TypeVar("T")

ACTIVITY_STREAM = "__activity"
RESERVED_STREAMS = ("__cursors", ACTIVITY_STREAM)


class Lift:
    """A client of a Liftbridge cluster.

    ``Lift(ip_address="localhost:9292", timeout=5)`` connects through one
    broker; ``Lift(addresses=[...])`` takes several seed brokers. Calls are
    routed to the right broker from cached metadata (partition leaders for
    subscriptions, the owner of a cursor, ...), retried with backoff when a
    leader moves or a broker is unreachable, and bounded by ``timeout``.

    Use as a context manager, or call :meth:`close`.
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
        seeds = [ip_address] if ip_address else []
        seeds += list(addresses or [])
        if not seeds:
            raise ValueError(
                "give the address of at least one broker: Lift('host:9292') or Lift(addresses=[...])"
            )
        if isinstance(addresses, str):
            raise TypeError("addresses takes a list of 'host:port' strings")
        opts = options or ClientOptions()
        if timeout is not None:
            opts = ClientOptions(**{**vars(opts), "timeout": timeout})
        self.options = opts
        self.tls = tls
        self._cache = MetadataCache(list(dict.fromkeys(normalize_address(a) for a in seeds)))
        self._conns = Connections(tls.credentials() if tls else None, opts, tls.server_name if tls else None)
        self._round_robin = RoundRobin()
        self._publisher = AsyncPublisher(self._open_publish_stream)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection; open subscriptions end, pending acks fail."""
        self._publisher.close()
        self._conns.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def addresses(self) -> list[str]:
        """Brokers known to the client: discovered ones first, then the seeds."""
        return self._cache.addresses()

    # -- routing -------------------------------------------------------------------------------

    def _timeout(self, timeout: float | None) -> float:
        t = self.options.timeout if timeout is None else timeout
        if not t > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {t!r}")
        return float(t)

    def _call_any(self, op: str, fn: Callable[[api_pb2_grpc.APIStub, float], T], timeout: float | None) -> T:
        """Call any broker: known ones in random order, moving on when one is unreachable."""
        return self._call_any_at(op, fn, timeout)[0]

    def _call_any_at(
        self, op: str, fn: Callable[[api_pb2_grpc.APIStub, float], T], timeout: float | None
    ) -> tuple[T, str]:
        """:meth:`_call_any`, also returning the address that answered."""
        deadline = time.monotonic() + self._timeout(timeout)
        addresses = self._cache.addresses()
        random.shuffle(addresses)
        tried: list[str] = []
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            tried.append(address)
            try:
                return fn(self._conns.stub(address), remaining), address
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, op, address=address)
                if not isinstance(error, ErrConnection):
                    raise error from None
                log.debug("%s: %s unreachable: %s", op, address, error)
        if len(tried) < len(addresses):
            raise ErrDeadlineExceeded(
                f"{op} timed out after {self._timeout(timeout):g} s (tried {', '.join(tried)})"
            )
        raise ErrConnection(f"{op}: no broker reachable", tried)

    def _call_at(
        self, op: str, address: str, fn: Callable[[api_pb2_grpc.APIStub, float], T], timeout: float | None
    ) -> T:
        """Call one given broker, errors typed."""
        try:
            return fn(self._conns.stub(address), self._timeout(timeout))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, op, address=address) from None

    def _call_leader(
        self,
        op: str,
        stream: str,
        partition: int,
        fn: Callable[[api_pb2_grpc.APIStub, float], T],
        timeout: float | None,
    ) -> T:
        """Call the partition's leader, refreshing metadata and retrying when it moved or is unreachable."""
        deadline = time.monotonic() + self._timeout(timeout)
        error: LiftbridgeError | None = None
        for attempt in range(self.options.retries):
            if attempt:
                time.sleep(
                    min(self.options.backoff.delay(attempt - 1), max(0.0, deadline - time.monotonic()))
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                # Followers learn of new streams and leaders a moment after the leader: retry lookups too.
                address = self._leader(stream, partition, refresh=attempt > 0, timeout=remaining)
            except (ErrNoSuchPartition, ErrNotLeader) as exc:
                error = exc
                continue
            try:
                return fn(self._conns.stub(address), max(0.001, deadline - time.monotonic()))
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, op, address=address)
                if not isinstance(error, ErrNotLeader | ErrConnection):
                    raise error from None
                log.debug("%s: %s (attempt %d)", op, error, attempt + 1)
        raise error or ErrDeadlineExceeded(f"{op} timed out")

    def _leader(self, stream: str, partition: int, *, refresh: bool, timeout: float) -> str:
        if refresh or self._cache.leader_address(stream, partition) is None:
            self._refresh([stream], timeout)
        address = self._cache.leader_address(stream, partition)
        if address is None:
            if self._cache.partition(stream, partition) is None:
                raise ErrNoSuchPartition(f"no partition {partition} in stream {stream!r}")
            raise ErrNotLeader(f"{stream}[{partition}] has no leader right now")
        return address

    def _replica(self, stream: str, partition: int, *, refresh: bool, timeout: float) -> str:
        if refresh or not self._cache.isr_addresses(stream, partition):
            self._refresh([stream], timeout)
        isr = self._cache.isr_addresses(stream, partition)
        if not isr:
            return self._leader(stream, partition, refresh=False, timeout=timeout)
        return random.choice(isr)

    def _refresh(
        self, streams: list[str] | None, timeout: float | None, groups: Sequence[str] = ()
    ) -> Metadata:
        request = api_pb2.FetchMetadataRequest(streams=streams or [], groups=list(groups))
        resp, address = self._call_any_at(
            "metadata", lambda stub, t: stub.FetchMetadata(request, timeout=t), timeout
        )
        metadata, _unknown = metadata_from_proto(resp)
        self._cache.update(metadata, address, streams=streams)
        return metadata

    # -- metadata ------------------------------------------------------------------------------

    def fetch_metadata(
        self,
        streams: Sequence[str] | None = None,
        groups: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> Metadata:
        """Brokers and streams (all, or the named ones; unknown names are left out) and the named groups."""
        names = [check_name(n) for n in streams] if streams is not None else None
        return self._refresh(names, timeout, [check_name(g, "group id") for g in groups])

    def fetch_partition_metadata(
        self, stream: str, partition: int = 0, *, timeout: float | None = None
    ) -> PartitionInfo:
        """One partition's metadata, from its leader (authoritative high watermark and newest offset)."""
        check_name(stream)
        _check_partition(partition)
        request = api_pb2.FetchPartitionMetadataRequest(stream=stream, partition=partition)
        resp = self._call_leader(
            "partition metadata", stream, partition,
            lambda stub, t: stub.FetchPartitionMetadata(request, timeout=t), timeout,
        )  # fmt: skip
        return partition_from_proto(stream, resp.metadata)

    # -- streams -------------------------------------------------------------------------------

    def create_stream(self, stream: Stream, *, timeout: float | None = None) -> None:
        """Create ``stream``; raises :class:`ErrStreamExists` if its name is taken."""
        if not isinstance(stream, Stream):
            raise TypeError(f"create_stream takes a Stream, not {type(stream).__name__}")
        if stream.name in RESERVED_STREAMS:
            raise ValueError(f"{stream.name!r} is reserved for the server's own use")
        request = create_stream_request(stream)
        self._call_any("create", lambda stub, t: stub.CreateStream(request, timeout=t), timeout)

    def delete_stream(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a stream and its data; raises :class:`ErrNoSuchStream` if there is none."""
        request = api_pb2.DeleteStreamRequest(name=check_name(name))
        self._call_any("delete", lambda stub, t: stub.DeleteStream(request, timeout=t), timeout)

    def pause_stream(
        self,
        name: str,
        partitions: Iterable[int] | None = None,
        *,
        resume_all: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Pause partitions (all when None); a publish or a subscribe with ``resume=True`` resumes them.

        With ``resume_all``, resuming one partition resumes every paused one.
        """
        request = api_pb2.PauseStreamRequest(
            name=check_name(name), partitions=_partitions(partitions), resumeAll=resume_all
        )
        self._call_any("pause", lambda stub, t: stub.PauseStream(request, timeout=t), timeout)

    def set_stream_readonly(
        self,
        name: str,
        partitions: Iterable[int] | None = None,
        *,
        readonly: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Make partitions (all when None) readonly, or writable again with ``readonly=False``."""
        request = api_pb2.SetStreamReadonlyRequest(
            name=check_name(name), partitions=_partitions(partitions), readonly=readonly
        )
        self._call_any("readonly", lambda stub, t: stub.SetStreamReadonly(request, timeout=t), timeout)

    # -- publishing ----------------------------------------------------------------------------

    def _target(self, message: Message, timeout: float | None) -> tuple[str, int]:
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, not {type(message).__name__}")
        if not message.stream:
            raise ValueError(
                "the message names no stream (set Message(stream=...), or subject= for a NATS subject)"
            )
        stream = check_name(message.stream)
        count = None
        if message.partition is None and message.partitioner is not None:
            count = self.partition_count(stream, timeout=timeout)
        return stream, choose_partition(message, stream, count, self._round_robin)

    def partition_count(self, stream: str, *, timeout: float | None = None) -> int:
        """How many partitions ``stream`` has (cached; asked of the cluster when unknown)."""
        count = self._cache.partition_count(check_name(stream))
        deadline = time.monotonic() + self._timeout(timeout)
        attempt = 0
        while count is None:
            # A broker that has not applied a new stream yet does not know it: ask again briefly.
            self._refresh([stream], max(0.001, deadline - time.monotonic()))
            count = self._cache.partition_count(stream)
            if count is None:
                if attempt + 1 >= self.options.retries or time.monotonic() >= deadline:
                    raise ErrNoSuchPartition(f"no stream named {stream!r}")
                time.sleep(self.options.backoff.delay(attempt))
                attempt += 1
        return count

    def publish(self, message: Message, *, timeout: float | None = None) -> Ack | None:
        """Publish and wait for the ack its policy asks for; None with ack policy NONE.

        A message with a ``stream`` goes to that stream (partition: explicit, else
        its partitioner's choice, else 0); one with only a ``subject`` goes to
        that NATS subject (see :meth:`publish_to_subject`).
        """
        if isinstance(message, Message) and not message.stream and message.subject:
            return self.publish_to_subject(message, timeout=timeout)
        stream, partition = self._target(message, timeout)
        request = publish_request(message, stream, partition, message.correlation_id or "")
        # The server waits for the ack only when the call has a deadline: _call_any always sets one.
        resp = self._call_any("publish", lambda stub, t: stub.Publish(request, timeout=t), timeout)
        return ack_from_proto(resp.ack, partition) if resp.HasField("ack") else None

    def publish_to_subject(
        self, message: Message, subject: str | None = None, *, timeout: float | None = None
    ) -> Ack | None:
        """Publish to a NATS subject (``subject`` or the message's): every stream on it records the message.

        Returns the first ack (None with ack policy NONE or when no stream listens).
        """
        target = check_subject(subject or message.subject or "")
        request = publish_to_subject_request(message, target)
        try:
            resp = self._call_any(
                "publish", lambda stub, t: stub.PublishToSubject(request, timeout=t), timeout
            )
        except ErrDeadlineExceeded:
            if message.ack_policy == 2:  # NONE never acks; anything else timed out waiting for one
                return None
            raise
        return ack_from_proto(resp.ack, None) if resp.HasField("ack") else None

    def _open_publish_stream(
        self, requests: Iterator[api_pb2.PublishRequest]
    ) -> tuple[Iterable[api_pb2.PublishResponse], str]:
        addresses = self._cache.addresses()
        random.shuffle(addresses)
        for address in addresses:
            if self._conns.ready(address, min(self.options.timeout, 2.0)):
                return self._conns.stub(address).PublishAsync(requests), address
        raise ErrConnection("publish: no broker reachable", addresses)

    def publish_async(self, message: Message, *, ack_timeout: float | None = None) -> Future[Ack | None]:
        """Send without waiting; the future gives the Ack (None with ack policy NONE) or the error.

        Messages go over one long-lived stream, pipelined, acks matched by
        correlation id; a future fails with :class:`ErrAckTimeout` when its ack
        does not arrive within ``ack_timeout`` (default ``options.ack_timeout``).
        """
        stream, partition = self._target(message, None)
        wait = self.options.ack_timeout if ack_timeout is None else ack_timeout
        if not wait > 0:
            raise ValueError(f"ack_timeout must be positive, not {wait!r}")
        request = publish_request(message, stream, partition, message.correlation_id or "")
        return self._publisher.submit(request, partition, wait)

    def publish_many(
        self,
        messages: Iterable[Message],
        *,
        ack_timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Publish pipelined and wait for every ack; results are in the messages' order.

        Each result is an Ack (None with ack policy NONE). If any message failed,
        the first error is raised once all have settled, with ``results`` (every
        outcome, errors included) attached; ``return_exceptions=True`` returns
        the errors in the list instead.
        """
        futures = [self.publish_async(m, ack_timeout=ack_timeout) for m in messages]
        wait_futures(futures)
        results: list[Any] = [f.exception() or f.result() for f in futures]
        if not return_exceptions:
            first = next((r for r in results if isinstance(r, BaseException)), None)
            if first is not None:
                first.results = results  # type: ignore[attr-defined]
                raise first
        return results

    # -- subscribing ---------------------------------------------------------------------------

    def subscribe(
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
    ) -> Subscription:
        """Read a partition: an iterator of :class:`Message` in offset order.

        ``stream`` is a name or a :class:`Stream` (whose ``start_at_*`` position
        applies unless ``start`` is given). Without a start position only new
        messages arrive; without a stop position the subscription runs until
        closed. ``read_isr_replica`` reads from a random in-sync replica
        instead of the leader; ``resume`` resumes a paused partition first.
        """
        name = check_name(stream.name if isinstance(stream, Stream) else stream)
        _check_partition(partition)
        begin = start or (stream.start if isinstance(stream, Stream) else Start())
        if not isinstance(begin, Start) or (stop is not None and not isinstance(stop, Stop)):
            raise TypeError(
                "start takes a Start (Start.earliest(), ...) and stop a Stop (Stop.latest(), ...)"
            )
        if (
            begin.kind == StartKind.OFFSET
            and stop is not None
            and stop.kind == StopKind.OFFSET
            and stop.offset < begin.offset
        ):
            raise ValueError(f"stop offset {stop.offset} is before start offset {begin.offset}")
        return self._subscribe(
            name, partition, start=begin, stop=stop, read_isr_replica=read_isr_replica, resume=resume,
            resubscribe_wait=resubscribe_wait, timeout=timeout,
        )  # fmt: skip

    def _subscribe(
        self,
        name: str,
        partition: int,
        *,
        start: Start,
        stop: Stop | None = None,
        read_isr_replica: bool = False,
        resume: bool = False,
        resubscribe_wait: float | None = None,
        timeout: float | None = None,
        consumer: tuple[str, int, str] | None = None,
    ) -> Subscription:
        wait = self.options.resubscribe_wait if resubscribe_wait is None else resubscribe_wait
        t = self._timeout(timeout)

        def open_call(request: api_pb2.SubscribeRequest, refresh: bool) -> tuple[Any, str]:
            pick = self._replica if read_isr_replica else self._leader
            address = pick(name, partition, refresh=refresh, timeout=t)
            return self._conns.stub(address, streaming=True).Subscribe(request), address

        return Subscription(
            open_call,
            stream=name, partition=partition, start=start, stop=stop,
            read_isr_replica=read_isr_replica, resume=resume, timeout=t,
            retries=self.options.retries, backoff=self.options.backoff, resubscribe_wait=wait,
            consumer=consumer,
        )  # fmt: skip

    def consumer(
        self,
        group_id: str,
        streams: Sequence[str],
        *,
        consumer_id: str | None = None,
        auto_offset: AutoOffset = "new",
        checkpoint_interval: float = 5.0,
    ) -> Consumer:
        """Join consumer group ``group_id`` for ``streams``; iterate the :class:`Consumer` for messages.

        See :class:`Consumer`. Close it (or use ``with``) to checkpoint and leave the group.
        """
        return Consumer(
            self, group_id, streams,
            consumer_id=consumer_id, auto_offset=auto_offset, checkpoint_interval=checkpoint_interval,
        )  # fmt: skip

    def activity(
        self, *, start: Start | None = None, stop: Stop | None = None, timeout: float | None = None
    ) -> Iterator[ActivityEvent]:
        """Events of the ``__activity`` stream (server option ``activity.stream.enabled``), each once.

        Delivery is at least once; events are de-duplicated by their increasing id.
        """
        last = -1
        with self.subscribe(
            ACTIVITY_STREAM, start=start or Start.earliest(), stop=stop, timeout=timeout
        ) as sub:
            for message in sub:
                event = decode_activity(message.value)
                if event.id > last:
                    last = event.id
                    yield event

    # -- cursors -------------------------------------------------------------------------------

    def _cursor_partition(self, cursor_id: str, stream: str, partition: int, timeout: float | None) -> int:
        count = self._cache.partition_count("__cursors")
        if count is None:
            self._refresh(["__cursors"], timeout)
            count = self._cache.partition_count("__cursors")
        if not count:
            raise ErrCursorsDisabled(
                "the server has no cursors stream: start it with cursors.stream.partitions > 0 "
                "(ServerOptions(cursors_partitions=1) for a LocalServer)"
            )
        return key_partition(cursor_key(cursor_id, stream, partition), count)

    def set_cursor(
        self, cursor_id: str, stream: str, partition: int, offset: int, *, timeout: float | None = None
    ) -> None:
        """Store ``offset`` as the position of ``cursor_id`` in a partition (resume from ``offset + 1``)."""
        check_name(cursor_id, "cursor id")
        check_name(stream)
        _check_partition(partition)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < -1:
            raise ValueError(f"offset must be an int >= -1, not {offset!r}")
        target = self._cursor_partition(cursor_id, stream, partition, timeout)
        request = api_pb2.SetCursorRequest(
            stream=stream, partition=partition, cursorId=cursor_id, offset=offset
        )
        self._call_leader(
            "cursor", "__cursors", target, lambda stub, t: stub.SetCursor(request, timeout=t), timeout
        )

    def fetch_cursor(
        self, cursor_id: str, stream: str, partition: int, *, timeout: float | None = None
    ) -> int:
        """The stored offset of ``cursor_id`` in a partition, -1 when none is stored."""
        check_name(cursor_id, "cursor id")
        check_name(stream)
        _check_partition(partition)
        target = self._cursor_partition(cursor_id, stream, partition, timeout)
        request = api_pb2.FetchCursorRequest(stream=stream, partition=partition, cursorId=cursor_id)
        resp = self._call_leader(
            "cursor", "__cursors", target, lambda stub, t: stub.FetchCursor(request, timeout=t), timeout
        )
        return int(resp.offset)


def _check_partition(partition: object) -> int:
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise ValueError(f"partition must be an int >= 0, not {partition!r}")
    return partition


def _partitions(partitions: Iterable[int] | None) -> list[int]:
    return [_check_partition(p) for p in partitions] if partitions is not None else []
