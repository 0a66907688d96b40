"""Lift: the synchronous Liftbridge client."""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, TypeVar

import grpc

from .. import _native
from .. import _telemetry as telemetry
from .._base import choose_partition, partitioned_by_count, split_address
from .._convert import ack_from_proto, envelope_message, partition_from_proto
from .._core import ACTIVITY_STREAM, CURSORS_STREAM, PAUSE, SILENCE_CHECK, Call, LiftCore, Route
from .._proto import api_pb2, api_pb2_grpc
from ..activity import ActivityEvent, decode_activity
from ..config import ClientOptions, TLSConfig
from ..errors import (
    ErrAckTimeout,
    ErrAckUncertain,
    ErrConnection,
    ErrDeadlineExceeded,
    ErrNoSuchPartition,
    ErrNotLeader,
    LiftbridgeError,
)
from ..models import Ack, AckPolicy, Message, Metadata, PartitionInfo, Start, Stop, Stream
from ._connections import ACK_POLICIES, Connections
from ._consumer import AutoOffset, Consumer
from ._nats import NatsPublisher, NatsTarget, subject_of
from ._publisher import AsyncPublisher, Routes
from ._subscription import Subscription

log = logging.getLogger("liftbridge_nb")

T = TypeVar("T")
RpcFn = Callable[[api_pb2_grpc.APIStub, float], T]


class Lift(LiftCore):
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
        super().__init__(ip_address, timeout, addresses, tls, options)
        self._conns = Connections(tls, self.options)
        self._publisher = AsyncPublisher(
            self._open_publish_stream,
            max_request_bytes=self._max_request_bytes,
            routes=_CacheRoutes(self),
            backoff=self.options.backoff,
            lookups=self.options.retries,
        )
        self._nats = NatsPublisher(self.options.nats) if self.options.nats else None

    @property
    def nats_address(self) -> str | None:
        """Where acked publishes go straight to NATS (``nats://host:port``, credentials left out), if set."""
        return self._nats.address if self._nats is not None else None

    def close(self) -> None:
        """Close every connection: subscriptions end, pending acks fail, later calls raise ErrClientClosed."""
        self._publisher.close()
        if self._nats is not None:
            self._nats.close()
        self._conns.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- routing (the plans are LiftCore's; this only does the I/O) -----------------------------

    def _run(self, call: Call, timeout: float | None) -> Any:
        """Make ``call``: on its partition's leader, or on any broker."""
        with telemetry.span(call.op, call.rpc, call.stream):
            try:
                if call.leader_of is not None:
                    answer = self._call_leader(call, timeout)
                else:
                    answer, _ = self._call_any(call, timeout)
            except LiftbridgeError as exc:
                if not call.accepted(exc):
                    raise
                answer = None
        self._done(call)
        return answer

    def _invoke(self, call: Call, address: str, timeout: float) -> Any:
        return getattr(self._conns.stub(address), call.rpc)(call.request, timeout=timeout)

    def _call_any(self, call: Call, timeout: float | None) -> tuple[Any, str]:
        """Call any broker (see :class:`AnyBroker`); returns the answer and the address that gave it."""
        plan = self._any_broker(call, timeout)
        error: LiftbridgeError | None = None
        while (turn := plan.next()) is not None:
            address, share = turn
            try:
                answer = self._invoke(call, address, share)
            except grpc.RpcError as exc:
                error = self._error(call, exc, address)
                if not plan.moves_on(error):
                    raise error from exc
                log.debug("%s: moving on from %s: %s", call.op, address, error)
                continue
            if plan.takes(call, answer, address):
                return answer, address
        return plan.outcome(error)

    def _call_at(self, call: Call, address: str, timeout: float | None) -> Any:
        """Call one given broker, errors typed."""
        try:
            return self._invoke(call, address, self._timeout(timeout))
        except grpc.RpcError as exc:
            raise self._error(call, exc, address) from exc

    def _call_leader(self, call: Call, timeout: float | None) -> Any:
        """Call the partition's leader, refreshing metadata and retrying (see :class:`Retries`)."""
        assert call.leader_of is not None
        route = self._route(*call.leader_of)
        retries = self._retries(timeout)
        while True:
            try:
                address = self._address(route, retries.refresh, retries.remaining())
                try:
                    return self._invoke(call, address, retries.remaining())
                except grpc.RpcError as exc:
                    raise self._error(call, exc, address) from exc
            except LiftbridgeError as exc:
                time.sleep(retries.wait_after(exc))

    def _address(self, route: Route, refresh: bool, timeout: float) -> str:
        """The broker ``route`` names, refreshing the metadata first when asked to or when it is unknown."""
        if route.stale(refresh):
            self._refresh([route.stream], timeout)
        return route.address()

    def _refresh(
        self, streams: list[str] | None, timeout: float | None, groups: Sequence[str] = ()
    ) -> Metadata:
        resp, address = self._call_any(self._metadata_call(streams, groups), timeout)
        return self._take_metadata(resp, address, streams)

    # -- metadata ------------------------------------------------------------------------------

    def fetch_metadata(
        self,
        streams: Sequence[str] | None = None,
        groups: Sequence[str] = (),
        *,
        timeout: float | None = None,
    ) -> Metadata:
        """Brokers and streams (all, or the named ones; unknown names are left out) and the named groups."""
        return self._refresh(self._names(streams), timeout, groups)

    def fetch_partition_metadata(
        self, stream: str, partition: int = 0, *, timeout: float | None = None
    ) -> PartitionInfo:
        """One partition's metadata, from its leader (authoritative high watermark and newest offset)."""
        resp = self._run(self._partition_metadata_call(stream, partition), timeout)
        return partition_from_proto(stream, resp.metadata)

    def partition_count(self, stream: str, *, timeout: float | None = None) -> int:
        """How many partitions ``stream`` has (cached; asked of the cluster when unknown)."""
        retries = self._retries(timeout)
        while (count := self._cache.partition_count(stream)) is None:
            # A broker that has not applied a new stream yet does not know it: ask again briefly.
            self._refresh([stream], retries.remaining())
            if (count := self._cache.partition_count(stream)) is None:
                # ErrNoSuchStream, with what to do, once the lookups are used up
                time.sleep(retries.wait_after(self._cache.missing(stream, 0)))
        return count

    # -- streams -------------------------------------------------------------------------------

    def create_stream(self, stream: Stream, *, exist_ok: bool = False, timeout: float | None = None) -> None:
        """Create ``stream``; raises :class:`ErrStreamExists` if its name is taken.

        With ``exist_ok``, a stream of that name already there is success (as for
        :func:`os.makedirs`), and it is kept as it is, whatever its settings: a notebook
        that creates its streams can run again.
        """
        self._run(self._create_call(stream, exist_ok), timeout)

    def delete_stream(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a stream and its data; raises :class:`ErrNoSuchStream` if there is none."""
        self._run(self._delete_call(name), timeout)

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
        self._run(self._pause_call(name, partitions, resume_all), timeout)

    def set_stream_readonly(
        self,
        name: str,
        partitions: Iterable[int] | None = None,
        *,
        readonly: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Make partitions (all when None) readonly, or writable again with ``readonly=False``."""
        self._run(self._readonly_call(name, partitions, readonly), timeout)

    # -- publishing ----------------------------------------------------------------------------

    def _look_up(self, stream: str, policy: AckPolicy, timeout: float | None) -> None:
        """Learn a stream's leaders before an ack of policy leader is judged by them (once per stream).

        A lookup that fails leaves the publish to the brokers, which say what is wrong.
        """
        if policy != AckPolicy.LEADER or self._cache.partition_count(stream) is not None:
            return
        try:
            self._refresh([stream], timeout)
        except LiftbridgeError as exc:
            log.debug("publish: looking up %s failed: %s", stream, exc)

    def publish(self, message: Message, *, timeout: float | None = None) -> Ack | None:
        """Publish and wait for the ack its policy asks for; None with ack policy NONE.

        A message with a ``stream`` goes to that stream (partition: explicit, else
        its partitioner's choice, else the key's partition (CRC-32 of the key
        modulo the partition count) when it has a key, else 0; every publishing
        path chooses so); one with only a ``subject`` goes to
        that NATS subject (see :meth:`publish_to_subject`). Only the ack of the
        message's own stream counts (other streams may listen on its subject).
        With ack policy ``leader``, an ack that arrives after the partition's
        leader changed raises :class:`ErrAckUncertain`: a deposed leader acks what
        it later truncates (ack policy ``all`` has no such failure). A message
        over the size a broker takes raises :class:`ErrMessageTooLarge` unsent.
        """
        limit = self._timeout(timeout)
        if isinstance(message, Message) and not message.stream and message.subject:
            return self.publish_to_subject(message, timeout=limit)
        started = time.perf_counter()
        stream, needs_count = self._publish_stream(message)
        count = self.partition_count(stream, timeout=limit) if needs_count else None
        partition = self._partition(message, stream, count)

        def left() -> float:
            return max(0.001, limit - (time.perf_counter() - started))

        ack = None
        if message.ack_policy != AckPolicy.NONE:
            with telemetry.span("publish", "PublishAsync", stream):
                self._look_up(stream, message.ack_policy, left())
                if self._nats is not None:
                    ack = self._publish_nats(self._nats, message, stream, partition, left())
                if ack is None:
                    ack = self._publish_streamed(message, stream, partition, left())
        if ack is None:
            # Ack policy NONE goes unary too: the stream never answers it, not even a refusal (an OCC
            # stream refuses NONE). The server waits for an ack only when the call has a deadline: it has.
            call = self._publish_call(message, stream, partition)
            request: api_pb2.PublishRequest = call.request
            self._check_size(request)
            ack = self._ack(self._run(call, left()), partition)
            if ack is not None and ack.stream != request.stream:
                raise ErrAckUncertain(
                    f"the ack came from stream {ack.stream!r}, which listens on the subject of "
                    f"{request.stream!r}: whether {request.stream!r} stored the message is unknown",
                    message,
                )
        if ack is not None:
            telemetry.acked(ack.stream, started)
        return ack

    def _publish_nats(
        self, nats: NatsPublisher, message: Message, stream: str, partition: int, timeout: float
    ) -> Ack | None:
        """One acked publish straight to NATS; None when the brokers should take it.

        The partition's state comes from metadata at most a second old: a partition
        paused since is refused by its silence (the ack times out), and the next
        publish looks again.
        """
        route = self._cache.route(stream, partition, _FRESH)
        if route is None:
            self._refresh([stream], timeout)
            route = self._cache.route(stream, partition, _FRESH)
            if route is None:
                return None  # no such stream or partition: the brokers say so
        try:
            max_payload = nats.ready(timeout, used_within=_FRESH)
        except ErrConnection as exc:
            log.warning("publish goes through the brokers: %s", exc)
            return None
        target = _nats_target(message, stream, route[0], route[1], partition, max_payload)
        if target is None:
            return None
        doubts = self._publisher.doubts
        sent_to = doubts.sent(stream, partition) if message.ack_policy == AckPolicy.LEADER else None
        outcome = nats.publish(target, timeout, self._look_again([stream]))
        if outcome is None:
            return None  # the connection broke before it was sent
        if isinstance(outcome, LiftbridgeError):
            if isinstance(outcome, ErrAckTimeout):
                self._cache.forget(stream)
            raise outcome
        if sent_to is not None and (doubt := doubts.judge(stream, partition, sent_to, message)) is not None:
            raise doubt
        return _nats_ack(outcome, partition, message)

    def _look_again(self, streams: list[str]) -> Callable[[], None]:
        """What NATS publishing calls when acks are overdue: look the streams' leaders up again."""

        def look() -> None:
            try:
                self._refresh(streams, 2.0)
            except LiftbridgeError as exc:
                log.debug("publish: looking up %s failed: %s", streams, exc)

        return look

    def _publish_streamed(self, message: Message, stream: str, partition: int, timeout: float) -> Ack | None:
        """One acked publish over the PublishAsync stream: a round trip, not a new call (half the latency).

        None when the unary call should decide instead, which asks every broker
        and says why: no broker took the stream (nothing was sent), or the
        message was refused before it was stored by every broker tried (see
        :class:`AsyncPublisher`). A stream that broke with the message in flight is
        the answer: the message may be stored, and sending it again could store it twice.
        """
        try:  # half the time at most to open the stream: the unary call may need the rest
            self._publisher.open(timeout / 2)
        except ErrConnection:
            return None
        try:
            return self._publisher.publish(message, stream, partition, timeout)
        except ErrNoSuchPartition:
            return None

    def publish_to_subject(
        self, message: Message, subject: str | None = None, *, timeout: float | None = None
    ) -> Ack | None:
        """Publish to a NATS subject (``subject`` or the message's): every stream on it records the message.

        Returns the first ack, from whichever stream on the subject acks first
        (None with ack policy NONE). When no stream acks within ``timeout`` (none
        listens on the subject, or their leaders are down) it raises
        :class:`ErrAckTimeout`, as go-liftbridge does: the message may have reached none.
        """
        limit = self._timeout(timeout)
        call = self._publish_subject_call(message, subject)
        self._check_size(call.request)
        try:
            return self._ack(self._run(call, limit), None)
        except ErrDeadlineExceeded as exc:
            if message.ack_policy == AckPolicy.NONE:
                return None
            raise _no_subject_ack(call.request.subject, limit) from exc

    def _publish_address(self, timeout: float | None) -> str:
        """A broker to publish through: the first, in random order, that answers."""
        addresses = self._cache.addresses()
        random.shuffle(addresses)
        wait = min(self.options.timeout, 2.0) if timeout is None else timeout / len(addresses)
        for address in addresses:
            if self._conns.ready(address, wait):
                return address
        raise ErrConnection("publish: no broker reachable", addresses)

    def _open_publish_stream(self, timeout: float | None) -> tuple[_native.PublishCall, str]:
        address = self._publish_address(timeout)
        return self._conns.publish(address), address

    def publish_async(self, message: Message, *, ack_timeout: float | None = None) -> Future[Ack | None]:
        """Send without waiting; the future gives the Ack (None with ack policy NONE) or the error.

        Messages go over one long-lived stream, pipelined, acks matched by
        correlation id, stream and partition; a future fails with
        :class:`ErrAckTimeout` when its ack does not arrive within
        ``ack_timeout`` (default ``options.ack_timeout``), with
        :class:`ErrAckUncertain` when an ack of policy leader may come from a
        deposed leader (see :meth:`publish`), and with :class:`ErrMessageTooLarge`,
        unsent, when the message is over the size a broker takes.
        """
        future = self._send_async(message, self._ack_timeout(ack_timeout), io=True)
        assert future is not None  # with io=True it waits rather than returning None
        return future

    def _send_async(self, message: Message, ack_timeout: float, *, io: bool) -> Future[Ack | None] | None:
        """publish_async's work; with ``io=False``, None where it would wait on I/O (a lookup, a connection).

        (AsyncLift sends on the event loop what needs no I/O, the rest from a thread.)
        """
        stream, needs_count = self._publish_stream(message)
        lookup = self._cache.partition_count(stream) is None and (
            needs_count or message.ack_policy == AckPolicy.LEADER
        )
        if not io and (lookup or not self._publisher.is_open):
            return None
        call, partition = self._routed(message, stream, needs_count)
        future = self._publisher.submit(call.request, partition, ack_timeout, message=message)
        telemetry.track_ack(future, stream)
        return future

    def _routed(self, message: Message, stream: str, needs_count: bool) -> tuple[Call, int]:
        """The message's publish call and partition, its stream looked up first where that is needed."""
        count = self.partition_count(stream) if needs_count else None
        self._look_up(stream, message.ack_policy, None)
        partition = self._partition(message, stream, count)
        return self._publish_call(message, stream, partition), partition

    def publish_many(
        self,
        messages: Iterable[Message],
        *,
        ack_timeout: float | None = None,
        return_exceptions: bool = False,
        window: int = 1024,
    ) -> list[Any]:
        """Publish pipelined and wait for every ack; results are in the messages' order.

        Every message is checked first (a Message, naming a stream that may be
        published to): a bad one raises before any is sent. At most ``window``
        messages are in flight at once, so that the ack timeout measures the
        server, not the queue. Each result is an Ack (None with ack policy
        NONE). If any message failed, the first error is raised once all have
        settled, with ``results`` (every outcome, errors included) attached;
        ``return_exceptions=True`` returns the errors in the list instead. Every
        message gets an outcome: once no broker can be reached, the rest fail
        with that :class:`ErrConnection` without being tried. A message too
        large for a broker gets :class:`ErrMessageTooLarge`, unsent, and the rest
        go on; acks are judged as :meth:`publish_async` judges them.

        The batch goes through a broker even with ``ClientOptions(nats=...)``:
        the native data plane's pipelined stream outruns publishing to NATS
        from Python (see the README's benchmarks); :meth:`publish` uses NATS.
        """
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, not {window!r}")
        wait = self._ack_timeout(ack_timeout)
        with PAUSE:  # a million messages and acks alive: see CollectorPause
            items = self._messages(messages)
            for stream in {m.stream for m in items}:
                self._publish_stream_name(stream)  # a bad one raises before any message is sent
            results: list[Any] = [None] * len(items)
            self._publish_pipelined(items, results, wait, window)
        return settle(results, return_exceptions)

    def _publish_pipelined(
        self, items: list[Message], results: list[Any], ack_timeout: float, window: int
    ) -> None:
        """publish_many's work: every message, in one native batch through a broker.

        Every stream is looked up first where routing needs it (its partition count,
        its leaders for acks of policy leader); a message to a stream that cannot
        be is refused with that error. If no broker can be reached, every message
        fails with that :class:`ErrConnection`, none tried.
        """
        where = list(range(len(items)))
        counted = {items[i].stream or "" for i in where if partitioned_by_count(items[i])}
        judged = {items[i].stream or "" for i in where if items[i].ack_policy == AckPolicy.LEADER}
        counts: dict[str, int] = {}
        refused: dict[str, LiftbridgeError] = {}
        for stream in sorted(counted | judged):
            try:
                if stream in counted:
                    counts[stream] = self.partition_count(stream)
                if stream in judged:
                    self._look_up(stream, AckPolicy.LEADER, None)
            except ErrConnection as exc:
                for i in where:
                    results[i] = exc
                return
            except LiftbridgeError as exc:
                refused[stream] = exc
        if refused:
            for i in where:
                if (error := refused.get(items[i].stream or "")) is not None:
                    results[i] = error
            where = [i for i in where if (items[i].stream or "") not in refused]
        chosen = [items[i] for i in where]
        rr = self._round_robin
        partitions = [choose_partition(m, m.stream or "", counts.get(m.stream or ""), rr) for m in chosen]
        if chosen:
            send = self._send_batch
            outcomes = self._publisher.publish_batch(chosen, partitions, ack_timeout, window, send)
            for i, outcome in zip(where, outcomes, strict=True):
                results[i] = outcome

    def _send_batch(
        self,
        messages: list[Message],
        partitions: list[int],
        id_prefix: str,
        window: int,
        ack_timeout: float,
        max_request_bytes: int,
    ) -> tuple[_native.BatchCall, str]:
        """A native batch publish (see :meth:`AsyncPublisher.publish_batch`) on a broker that answers."""
        address = self._publish_address(None)
        call = self._conns.native.publish_batch(
            address,
            messages,
            partitions,
            ack_type=Ack,
            policies=ACK_POLICIES,
            id_prefix=id_prefix,
            window=window,
            ack_timeout=ack_timeout,
            max_request_bytes=max_request_bytes,
        )
        return call, address

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
        name, begin = self._subscription_start(stream, partition, start, stop)
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
        bulk: bool = False,
    ) -> Subscription:
        """A subscription; ``bulk`` reads large batches, for a frame (:meth:`Subscription.next_batch`)."""
        route = self._route(name, partition, replica=read_isr_replica)

        def open_call(request: bytes, after: int, refresh: bool, limit: float) -> tuple[_native.Call, str]:
            address = self._address(route, refresh, limit)
            return self._conns.subscribe(address, request, after, bulk=bulk), address

        def serves(address: str, limit: float) -> bool | None:
            try:
                if not route.fresh(SILENCE_CHECK):  # one look serves every subscription of the stream
                    self._refresh([name], limit)
            except LiftbridgeError:
                return None
            return route.serves(address)

        return Subscription(
            open_call, serves, lambda: self._conns.closed,
            stream=name, partition=partition, start=start, stop=stop,
            read_isr_replica=read_isr_replica, resume=resume,
            plan=self._resubscribe_plan(resubscribe_wait, self._timeout(timeout)), consumer=consumer,
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

    def _cursors_partitions(self, timeout: float | None) -> int | None:
        if self._cache.partition_count(CURSORS_STREAM) is None:
            self._refresh([CURSORS_STREAM], timeout)
        return self._cache.partition_count(CURSORS_STREAM)

    def set_cursor(
        self, cursor_id: str, stream: str, partition: int, offset: int, *, timeout: float | None = None
    ) -> None:
        """Store ``offset`` as the position of ``cursor_id`` in a partition (resume from ``offset + 1``)."""
        self._cursor_call(cursor_id, stream, partition, 1, offset)  # validate before any I/O
        self._run(
            self._cursor_call(cursor_id, stream, partition, self._cursors_partitions(timeout), offset),
            timeout,
        )

    def fetch_cursor(
        self, cursor_id: str, stream: str, partition: int, *, timeout: float | None = None
    ) -> int:
        """The stored offset of ``cursor_id`` in a partition, -1 when none is stored."""
        self._cursor_call(cursor_id, stream, partition, 1)
        call = self._cursor_call(cursor_id, stream, partition, self._cursors_partitions(timeout))
        return int(self._run(call, timeout).offset)


class _CacheRoutes(Routes):
    """The publisher's view of the client's metadata cache."""

    def __init__(self, client: Lift) -> None:
        self._client = client
        self._addresses: dict[str, str] = {}  # every leader's address as last known (a dead one is unlisted)

    def leader(self, stream: str, partition: int) -> str | None:
        """The partition's leader id, as cached."""
        info = self._client._cache.partition(stream, partition)
        leader = info.leader or None if info is not None else None
        if leader is not None and (address := self._client._cache.broker_address(leader)):
            self._addresses[leader] = address
        return leader

    def look_up(self, streams: list[str], timeout: float) -> None:
        """Refresh the cache for ``streams``."""
        self._client._refresh(streams, timeout)

    def exists(self, stream: str, partition: int) -> bool:
        """Whether the cache knows the partition."""
        return self._client._cache.partition(stream, partition) is not None

    def stepped_down(self, stream: str, partition: int, broker: str, timeout: float) -> bool:
        """Whether ``broker`` answers that it does not lead the partition (or no longer has it)."""
        address = self._client._cache.broker_address(broker) or self._addresses.get(broker)
        if address is None:
            return False
        call = self._client._partition_metadata_call(stream, partition)
        try:
            resp = self._client._call_at(call, address, timeout)
        except (ErrNotLeader, ErrNoSuchPartition):
            return True
        except LiftbridgeError:  # hung, cut off, or down: it may still ack
            return False
        return bool(resp.metadata.leader != broker)

    def refuses(self, broker: str, timeout: float) -> bool:
        """Whether a TCP connection to the broker's address is refused (a hung one's is still taken)."""
        address = self._client._cache.broker_address(broker) or self._addresses.get(broker)
        if address is None:
            return False
        try:
            socket.create_connection(split_address(address), timeout=timeout).close()
        except ConnectionRefusedError:
            return True
        except OSError:  # unreachable or slow: perhaps cut off, and alive
            return False
        return False


_FRESH = 1.0  # seconds: how old a partition's state may be for a lone publish to go to NATS


def _no_subject_ack(subject: str, timeout: float) -> ErrAckTimeout:
    return ErrAckTimeout(
        f"no ack within {timeout:g} s from any stream on subject {subject!r}: no stream listens on it "
        "(create one with Stream(subject=...)), or the leaders of those that do are down"
    )


def _nats_target(
    message: Message, stream: str, subject: str, state: PartitionInfo | None, partition: int, max_payload: int
) -> NatsTarget | None:
    """Where and what to publish on NATS; None for what only the brokers handle right.

    That is a partition unknown, paused (its leader does not listen) or readonly,
    ack policy NONE (only a broker refuses it where it must be refused), and a
    message too large for NATS (leaving room for the envelope, correlation id and inbox).
    """
    if state is None or state.paused or state.readonly or message.ack_policy == AckPolicy.NONE:
        return None
    proto = envelope_message(message)
    return (subject_of(subject, partition), proto, stream) if proto.ByteSize() < max_payload - 512 else None


def _nats_ack(ack: api_pb2.Ack, partition: int, message: Message) -> Ack:
    """The Ack of a message sent over NATS, with the correlation id its sender gave, if any.

    (Over NATS, acks are matched by correlation ids of the client's own.)
    """
    acked = ack_from_proto(ack, partition)
    return replace(acked, correlation_id=message.correlation_id) if message.correlation_id else acked


def settle(results: list[Any], return_exceptions: bool) -> list[Any]:
    """publish_many's outcome: the results, or the first error with every result attached."""
    if not return_exceptions:
        first = next((r for r in results if isinstance(r, BaseException)), None)
        if first is not None:
            first.results = results  # type: ignore[attr-defined]
            raise first
    return results
