"""What Lift and AsyncLift share and that does no I/O: settings, validation, the calls to make."""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import grpc

from ._base import (
    MetadataCache,
    RoundRobin,
    choose_partition,
    cursor_key,
    key_partition,
    normalize_address,
    partitioned_by_count,
)
from ._convert import (
    ack_from_proto,
    create_stream_request,
    metadata_from_proto,
    publish_request,
    publish_to_subject_request,
)
from ._proto import api_pb2
from .config import Backoff, ClientOptions, TLSConfig, check_seconds
from .errors import (
    ErrConnection,
    ErrCursorsDisabled,
    ErrDeadlineExceeded,
    ErrEndOfReadonlyPartition,
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrNotLeader,
    ErrStopPositionReached,
    ErrStreamExists,
    LiftbridgeError,
    about,
    from_rpc_error,
    hint,
)
from .models import (
    INT32_MAX,
    Ack,
    Message,
    Metadata,
    Start,
    StartKind,
    Stop,
    StopKind,
    Stream,
    check_id,
    check_name,
    check_subject,
    from_unix_ns,
)

T = TypeVar("T")

ACTIVITY_STREAM = "__activity"
CURSORS_STREAM = "__cursors"
RESERVED_STREAMS = (CURSORS_STREAM, ACTIVITY_STREAM)

BROKER_RECEIVE_LIMIT = 4 * 1024 * 1024
"""The largest gRPC message a v1.9 broker takes (grpc-go's default): a larger one fails the whole call."""


def too_large_request(size: int, limit: int) -> ErrMessageTooLarge:
    """The error for a request over the size a broker takes in one gRPC message (nothing was sent)."""
    return ErrMessageTooLarge(
        f"publish refused before sending: the request is {size:,} bytes, over the {limit:,} bytes a "
        f"broker receives in one gRPC message{hint(ErrMessageTooLarge)}"
    )


@dataclass(frozen=True)
class Call:
    """One unary RPC to make: ``rpc`` names the stub method; ``leader_of`` routes it to a partition leader.

    ``forget`` names a stream whose cached state a success makes stale (an admin
    call changed it); ``complete`` tells whether an answer has what was asked
    (else, for a read, another broker is asked: see :class:`AnyBroker`);
    ``accepts`` is an error that ends the call as a success, with no answer.
    """

    op: str
    rpc: str
    request: Any
    leader_of: tuple[str, int] | None = None
    read_only: bool = False
    forget: str | None = None
    complete: Callable[[Any], bool] | None = None
    accepts: type[LiftbridgeError] | None = None

    def accepted(self, error: LiftbridgeError) -> bool:
        """Whether ``error`` counts as success (``exist_ok``: the stream is there already)."""
        return self.accepts is not None and isinstance(error, self.accepts)

    @property
    def stream(self) -> str | None:
        """The stream the call is about, if any (for telemetry)."""
        return getattr(self.request, "stream", None) or getattr(self.request, "name", None)

    @property
    def subject(self) -> str:
        """What the call is about, for its errors: ``"stream 'x' partition 2"``, ``"stream 'x'"``, ``""``."""
        partition = getattr(self.request, "partition", None)
        partitions = getattr(self.request, "partitions", ())  # CreateStream's is a count
        return about(self.stream, partition, [] if isinstance(partitions, int) else list(partitions))


class CollectorPause:
    """Python's cyclic garbage collector paused while a batch makes many objects (``with PAUSE:``).

    Each collection walks every object still alive, and a batch of a million
    messages and their acks keeps that many alive: building 1M messages took
    1.7 to 2.0 µs each with the collector running, 0.7 to 0.8 µs with it paused. A batch's
    objects hold no reference cycles, so nothing waits for it but cycles made
    meanwhile, collected once it ends. Nested and concurrent batches share one
    pause, ended by the last of them, and only if the collector was running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._holders += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._resume:
                gc.enable()


PAUSE = CollectorPause()
"""The process's one :class:`CollectorPause` (publish_many, publish_dataframe)."""


class Retries:
    """When a call tries again, shared by both clients; decided by the errors' flags.

    An error that is ``retriable`` (a leader that moved, a broker that went
    away) is tried again, with backoff, until the deadline: a failover takes
    seconds, and giving up after a few quick attempts would fail calls that a
    moment's patience saves. One that only says the metadata is in doubt
    (``refresh_metadata``: an unknown stream or partition) is looked up
    ``lookups`` times (followers learn of a new stream a moment after the
    leader), then it is the answer (with ``lookups=None``, at the deadline).
    Every other error is the answer at once, except a timeout of a read
    (``read=True``) with time left: a read may be sent again. :attr:`refresh`
    says whether the next attempt fetches metadata first.
    """

    def __init__(
        self,
        timeout: float,
        backoff: Backoff,
        lookups: int | None,
        *,
        read: bool = False,
        attempt: float = 0.0,
    ) -> None:
        self.deadline = time.monotonic() + timeout
        self.attempt = 0
        #: Whether the next attempt refreshes the metadata first (the last error put it in doubt).
        self.refresh = False
        self._backoff = backoff
        self._lookups = lookups
        self._read = read
        self._per_attempt = attempt
        self._misses = 0
        self._last: LiftbridgeError | None = None

    def seed(self, cause: LiftbridgeError) -> None:
        """Start as if ``cause`` had been retried already (it ends the call if only timeouts follow)."""
        self._last = cause

    def remaining(self) -> float:
        """Seconds for the next attempt: what is left (at most ``attempt`` when given), never 0.

        (0 would read as no deadline to gRPC.)
        """
        left = self.deadline - time.monotonic()
        if self._per_attempt:
            left = min(left, self._per_attempt)
        return max(0.001, left)

    def wait_after(self, error: LiftbridgeError) -> float:
        """Seconds to wait before trying again after ``error``; raises the call's error when it is over.

        A call that runs out of time after retrying ends with the error it retried
        (unreachable brokers, no leader), which says more than the timeout does.
        """
        timed_out = isinstance(error, ErrDeadlineExceeded)
        retry = error.retriable or (self._read and timed_out)
        if not retry and error.refresh_metadata:
            self._misses += 1
            retry = self._lookups is None or self._misses < self._lookups
        left = self.deadline - time.monotonic()
        if not retry or left <= 0:
            raise self._last if timed_out and self._last else error
        if not timed_out:
            self._last = error
        self.refresh = error.refresh_metadata or timed_out
        delay = self._backoff.delay(self.attempt)
        self.attempt += 1
        return min(delay, left)


class AnyBroker(Generic[T]):
    """The plan of a call that any broker can answer: brokers in random order until one answers.

    A broker whose error is ``retriable`` or puts the metadata in doubt (one
    unreachable, or one that does not know the stream yet) is passed over. A
    read-only call (``read_only``) also moves on from a broker that is too
    slow, each broker getting a share of the time left, and from one whose
    answer lacks what was asked (a broker that has not caught up with the
    metadata yet), keeping that answer in case no broker knows better. A write
    never moves on after a timeout: it may have taken effect, and sending it
    again could do it twice.
    """

    def __init__(self, op: str, addresses: Sequence[str], timeout: float, *, read_only: bool) -> None:
        self.op = op
        self.read_only = read_only
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._order = list(addresses)
        random.shuffle(self._order)
        self.tried: list[str] = []
        self.fallback: tuple[T, str] | None = None

    def next(self) -> tuple[str, float] | None:
        """The next broker to ask and the seconds it gets; None when none is left or time is up."""
        left = self.deadline - time.monotonic()
        rest = len(self._order) - len(self.tried)
        if left <= 0 or rest == 0:
            return None
        address = self._order[len(self.tried)]
        self.tried.append(address)
        share = max(left / rest, min(left, 1.0)) if self.read_only else left
        return address, share

    def moves_on(self, error: LiftbridgeError) -> bool:
        """Whether the plan tries another broker after ``error`` (else it is the answer).

        A broker that does not know the stream may only lag behind (a restarted one
        replays its metadata first); it refused the call, so asking another is safe.
        """
        if error.retriable or error.refresh_metadata:
            return True
        return self.read_only and isinstance(error, ErrDeadlineExceeded)

    def incomplete(self, answer: T, address: str) -> bool:
        """Keep an answer that lacks what was asked; True if another broker should be asked."""
        self.fallback = (answer, address)
        return self.read_only and len(self.tried) < len(self._order)

    def takes(self, call: Call, answer: T, address: str) -> bool:
        """Whether ``answer`` from ``address`` is the call's (else the next broker is asked)."""
        return call.complete is None or call.complete(answer) or not self.incomplete(answer, address)

    def outcome(self, last: LiftbridgeError | None) -> tuple[T, str]:
        """Once no broker is left: the answer kept, or the error (see :meth:`exhausted`)."""
        if self.fallback is not None:
            return self.fallback
        error = self.exhausted(last)
        if error is last:
            raise error
        raise error from last

    def exhausted(self, last: LiftbridgeError | None) -> LiftbridgeError:
        """The error once no broker answered: the addresses tried, and why."""
        if isinstance(last, ErrNoSuchPartition):
            return last
        tried = ", ".join(self.tried)
        if isinstance(last, ErrDeadlineExceeded) or len(self.tried) < len(self._order):
            return ErrDeadlineExceeded(f"{self.op} timed out after {self.timeout:g} s (tried {tried})")
        if isinstance(last, ErrConnection):  # gRPC's reason for the last one, and what to do about it
            return ErrConnection(
                f"{self.op}: no broker reachable", self.tried, last.code, reason=last.reason, hint=last.hint
            )
        return ErrConnection(f"{self.op}: no broker reachable", list(self.tried))


class Route:
    """Where a partition's calls go: its leader, or (``replica``) any of its in-sync replicas.

    Read from the metadata cache; :meth:`stale` says when the cache must be
    refreshed first, :meth:`address` picks the broker (or raises why there is
    none), and :meth:`serves` tells whether a broker still does.
    """

    def __init__(self, cache: MetadataCache, stream: str, partition: int, *, replica: bool = False) -> None:
        self.stream = stream
        self.partition = partition
        self.replica = replica
        self._cache = cache

    def stale(self, refresh: bool) -> bool:
        """Whether to fetch metadata before :meth:`address` (asked to, or the cache does not know)."""
        if refresh:
            return True
        if self.replica:
            return not self._cache.isr_addresses(self.stream, self.partition)
        return self._cache.leader_address(self.stream, self.partition) is None

    def address(self) -> str:
        """The broker to call: the leader, or a random in-sync replica (the leader when none is known)."""
        if self.replica and (isr := self._cache.isr_addresses(self.stream, self.partition)):
            return random.choice(isr)
        address = self._cache.leader_address(self.stream, self.partition)
        if address is None:
            if self._cache.partition(self.stream, self.partition) is None:
                raise self._cache.missing(self.stream, self.partition)
            raise ErrNotLeader(f"{self.stream}[{self.partition}] has no leader right now")
        return address

    def fresh(self, max_age: float) -> bool:
        """Whether the cache's metadata of the partition is at most ``max_age`` seconds old."""
        return self._cache.route(self.stream, self.partition, max_age) is not None

    def serves(self, address: str) -> bool:
        """Whether the cache says ``address`` still leads the partition (or, for a replica, is in its ISR)."""
        if address == self._cache.leader_address(self.stream, self.partition):
            return True
        return self.replica and address in self._cache.isr_addresses(self.stream, self.partition)


SILENCE_CHECK = 3.0
"""Seconds a subscription may hear nothing before it checks that its broker still serves it.

A broker that hangs (stopped, or cut off without a reset) keeps its connections
open: nothing ends the call, and keepalive pings, which a server allows only
every 5 minutes, would notice late. So a silent subscription looks at fresh
metadata every few seconds, and moves when another broker leads.
"""


class Resubscribe:
    """What a subscription does when its call breaks mid-stream; shared by both subscription shells.

    It ends quietly at its stop position. It opens again from the last offset
    + 1 after an error that is ``retriable`` (the connection lost, the leader
    gone, the call cancelled by anyone but :meth:`close`, the broker no longer
    serving it) or after the server closed the partition's log under it (code
    INTERNAL: a leader stepping down or shutting down), for up to ``wait``
    seconds, each attempt bounded by the call timeout and by what is left of
    the wait (:meth:`retries`). With ``wait=0`` it raises at once.
    """

    def __init__(self, wait: float, timeout: float, backoff: Backoff, lookups: int) -> None:
        self.wait = wait
        self._timeout = timeout
        self._backoff = backoff
        self._lookups = lookups

    @staticmethod
    def end(error: LiftbridgeError, stop: Stop | None) -> tuple[bool, LiftbridgeError | None]:
        """Whether ``error`` (at the handshake or mid-stream) ends the subscription, and what it raises.

        A stop position reached, or one before the start (nothing to read), ends it
        quietly. Without a stop position, the server stops at the newest offset of
        a readonly partition only, saying just that: that is
        :class:`ErrEndOfReadonlyPartition` (Go's ``ErrReadonlyPartition``).
        """
        over = (
            isinstance(error, ErrStopPositionReached) or "stop offset is before start" in str(error).lower()
        )
        if not over or stop is not None:
            return over, None
        return True, ErrEndOfReadonlyPartition(
            f"the partition is readonly and every message was delivered ({error})",
            getattr(error, "code", None),
            getattr(error, "details", ""),
        )

    def after(
        self, error: LiftbridgeError, stop: Stop | None, last_offset: int, start: Start
    ) -> Start | LiftbridgeError | None:
        """What a subscription does after ``error`` mid-stream, in both shells.

        None: it ends quietly (its stop position); an error: it ends raising that;
        a :class:`Start`: it resubscribes from there.
        """
        over, why = self.end(error, stop)
        if over:
            return why
        if not self.resubscribes(error):
            return error
        return self.start(last_offset, start)

    def resubscribes(self, error: LiftbridgeError) -> bool:
        """Whether a subscription that failed with ``error`` mid-stream opens again."""
        closed_log = getattr(error, "code", None) == grpc.StatusCode.INTERNAL
        return self.wait > 0 and (error.retriable or closed_log)

    def retries(self, cause: LiftbridgeError) -> Retries:
        """The retries of a resubscription after ``cause``: until ``wait`` is over, each within the timeout.

        The first attempt refreshes the metadata: the broker that served it is in
        doubt. Attempts that only time out end with ``cause`` (what was lost, and where).
        An unknown stream or partition is looked up again until the wait is over: a
        restarted server answers so until it has loaded its streams (for about half a
        second here), and a subscription had found them before.
        """
        retries = Retries(self.wait, self._backoff, None, read=True, attempt=self._timeout)
        retries.refresh = True
        retries.seed(cause)
        return retries

    def check_timeout(self) -> float:
        """Seconds a silent subscription's look at the metadata may take."""
        return self._timeout

    def silent(
        self, stream: str, partition: int, address: str, serves: bool | None
    ) -> LiftbridgeError | None:
        """Why a subscription silent for :data:`SILENCE_CHECK` s leaves ``address``; None to wait on.

        ``serves`` is what fresh metadata says: True, the broker still serves the
        partition (all is quiet); False, another broker leads it; None, no broker
        answered. That last one leaves only if the subscription may resubscribe:
        one with no ``resubscribe_wait`` is not ended by a look that failed.
        """
        if serves:
            return None
        if serves is False:
            return ErrNotLeader(f"{address} no longer leads {stream}[{partition}]: moving to its new leader")
        if not self.wait:
            return None
        return ErrConnection(
            f"subscription {stream}[{partition}]: {address} sent nothing for {SILENCE_CHECK:g} s "
            "and no broker answered for the metadata",
            [address],
        )

    def opening(self) -> Retries:
        """The retries of the first subscribe: within the call timeout."""
        return Retries(self._timeout, self._backoff, self._lookups)

    @staticmethod
    def start(last_offset: int, start: Start) -> Start:
        """Where a resubscription starts: after the last delivered offset, or where the first one did."""
        return Start.at_offset(last_offset + 1) if last_offset >= 0 else start


def check_partition(partition: object) -> int:
    """A partition number: an int >= 0 (and below 2**31, the protocol's int32)."""
    if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition <= INT32_MAX:
        raise ValueError(f"partition must be an int >= 0 (and below 2**31), not {partition!r}")
    return partition


def _partitions(partitions: Iterable[int] | None) -> list[int]:
    if partitions is None:
        return []
    if isinstance(partitions, str) or not isinstance(partitions, Iterable):
        raise TypeError(f"partitions takes a list of partition numbers (partitions=[0]), not {partitions!r}")
    return [check_partition(p) for p in partitions]


class LiftCore:
    """Settings, metadata cache and request building for both clients."""

    def __init__(
        self,
        ip_address: str | None,
        timeout: float | None,
        addresses: Sequence[str] | None,
        tls: TLSConfig | None,
        options: ClientOptions | None,
    ) -> None:
        if isinstance(addresses, str):
            raise TypeError("addresses takes a list of 'host:port' strings")
        seeds = ([ip_address] if ip_address else []) + list(addresses or [])
        if not seeds:
            raise ValueError(
                f"give the address of at least one broker: {type(self).__name__}('host:9292') "
                "or addresses=[...]"
            )
        if not isinstance(options, ClientOptions | None) or not isinstance(tls, TLSConfig | None):
            raise TypeError("options takes a ClientOptions and tls a TLSConfig")
        opts = options or ClientOptions()
        self.options = replace(opts, timeout=timeout) if timeout is not None else opts
        self.tls = tls
        self._cache = MetadataCache(list(dict.fromkeys(normalize_address(a) for a in seeds)))
        self._round_robin = RoundRobin()

    @property
    def addresses(self) -> list[str]:
        """Brokers known to the client: discovered ones first, then the seeds."""
        return self._cache.addresses()

    def _timeout(self, timeout: float | None) -> float:
        return self.options.timeout if timeout is None else check_seconds("timeout", timeout)

    def _ack_timeout(self, wait: float | None) -> float:
        """A pipelined publish's ``ack_timeout``: the options' unless given."""
        return self.options.ack_timeout if wait is None else check_seconds("ack_timeout", wait)

    def _resubscribe_wait(self, wait: float | None) -> float:
        """A subscription's ``resubscribe_wait``: the options' unless given (0 allowed: never resubscribe)."""
        if wait is None:
            return self.options.resubscribe_wait
        return check_seconds("resubscribe_wait", wait, zero=True)

    @staticmethod
    def _messages(messages: Iterable[Message]) -> list[Message]:
        """What publish_many takes: an iterable of Message, every one checked before any is sent."""
        if isinstance(messages, Message) or not isinstance(messages, Iterable):
            raise TypeError(f"publish_many takes a list of Message, not {type(messages).__name__}")
        items = list(messages)
        for i, m in enumerate(items):
            if not isinstance(m, Message):
                what = f"{type(m).__name__} {m!r:.40}"
                raise TypeError(f"publish_many takes a list of Message; item {i} is {what}")
        return items

    # -- routing plans (the clients only do the I/O) -------------------------------------------

    def _retries(self, timeout: float | None) -> Retries:
        """The retries of a call routed to a partition leader, within ``timeout``."""
        return Retries(self._timeout(timeout), self.options.backoff, self.options.retries)

    def _any_broker(self, call: Call, timeout: float | None) -> AnyBroker[Any]:
        """The plan of a call any broker answers."""
        what = f"{call.op} on {call.subject}" if call.subject else call.op  # named in its errors
        return AnyBroker[Any](what, self._cache.addresses(), self._timeout(timeout), read_only=call.read_only)

    def _route(self, stream: str, partition: int, *, replica: bool = False) -> Route:
        return Route(self._cache, stream, partition, replica=replica)

    def _resubscribe_plan(self, wait: float | None, timeout: float) -> Resubscribe:
        return Resubscribe(self._resubscribe_wait(wait), timeout, self.options.backoff, self.options.retries)

    def _error(self, call: Call, exc: grpc.RpcError, address: str) -> LiftbridgeError:
        """The error of ``call`` that failed at ``address`` (a leader's failed precondition: not leader)."""
        return from_rpc_error(
            exc, call.op, address=address, leader_routed=call.leader_of is not None, tls=self.tls,
            subject=call.subject,
        )  # fmt: skip

    def _done(self, call: Call) -> None:
        """After ``call`` succeeded: forget the cached state it made stale."""
        if call.forget:
            self._cache.forget(call.forget)  # a publish straight to NATS must look again

    # -- requests ------------------------------------------------------------------------------

    @staticmethod
    def _names(names: Sequence[str] | None, what: str = "streams") -> list[str] | None:
        """A list of names as given (None for all); one name given bare is refused, not read as letters."""
        if isinstance(names, str | bytes):
            raise TypeError(f"{what} takes a list of names ({what}=[{names!r}]), not one {names!r}")
        return list(names) if names is not None else None

    def _metadata_call(self, streams: Sequence[str] | None, groups: Sequence[str] = ()) -> Call:
        names = [check_name(n) for n in self._names(streams) or []]
        groups = [check_id(g, "group id") for g in self._names(groups, "groups") or []]
        request = api_pb2.FetchMetadataRequest(streams=names, groups=groups)
        return Call(
            "metadata", "FetchMetadata", request, read_only=True,
            complete=lambda resp: self._knows_streams(resp, names),
        )  # fmt: skip

    @staticmethod
    def _knows_streams(resp: api_pb2.FetchMetadataResponse, streams: list[str] | None) -> bool:
        """Whether a metadata answer has every stream asked for (a lagging broker may not yet)."""
        known = {s.name for s in resp.streamMetadata if s.error != api_pb2.StreamMetadata.UNKNOWN_STREAM}
        return not streams or set(streams) <= known

    def _take_metadata(
        self, resp: api_pb2.FetchMetadataResponse, address: str, streams: list[str] | None
    ) -> Metadata:
        metadata, _unknown = metadata_from_proto(resp)
        self._cache.update(metadata, address, streams=streams)
        return metadata

    def _partition_metadata_call(self, stream: str, partition: int) -> Call:
        request = api_pb2.FetchPartitionMetadataRequest(
            stream=check_name(stream), partition=check_partition(partition)
        )
        return Call("partition metadata", "FetchPartitionMetadata", request, (stream, partition))

    def _create_call(self, stream: Stream, exist_ok: bool) -> Call:
        if not isinstance(stream, Stream):
            raise TypeError(f"create_stream takes a Stream, not {type(stream).__name__}")
        if stream.name in RESERVED_STREAMS:
            raise ValueError(f"{stream.name!r} is reserved for the server's own use")
        accepts = ErrStreamExists if exist_ok else None
        return Call("create", "CreateStream", create_stream_request(stream), accepts=accepts)

    def _delete_call(self, name: str) -> Call:
        return Call("delete", "DeleteStream", api_pb2.DeleteStreamRequest(name=check_name(name)), forget=name)

    def _pause_call(self, name: str, partitions: Iterable[int] | None, resume_all: bool) -> Call:
        request = api_pb2.PauseStreamRequest(
            name=check_name(name), partitions=_partitions(partitions), resumeAll=resume_all
        )
        return Call("pause", "PauseStream", request, forget=name)

    def _readonly_call(self, name: str, partitions: Iterable[int] | None, readonly: bool) -> Call:
        request = api_pb2.SetStreamReadonlyRequest(
            name=check_name(name), partitions=_partitions(partitions), readonly=readonly
        )
        return Call("readonly", "SetStreamReadonly", request, forget=name)

    @property
    def _max_request_bytes(self) -> int:
        """The largest publish request sent: the channel's send limit, at most what a broker receives."""
        return min(self.options.max_message_bytes, BROKER_RECEIVE_LIMIT)

    def _check_size(self, request: api_pb2.PublishRequest | api_pb2.PublishToSubjectRequest) -> None:
        """Raise :class:`ErrMessageTooLarge` for a request no broker would take (before sending it)."""
        size = request.ByteSize()
        if size > self._max_request_bytes:
            raise too_large_request(size, self._max_request_bytes)

    def _publish_stream(self, message: Message) -> tuple[str, bool]:
        """The stream a message goes to, and whether choosing its partition needs the partition count."""
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, not {type(message).__name__}")
        return self._publish_stream_name(message.stream), partitioned_by_count(message)

    @staticmethod
    def _publish_stream_name(stream: str | None) -> str:
        """A message's stream, checked: one that may be published to."""
        if not stream:
            raise ValueError(
                "the message names no stream (set Message(stream=...), or subject= for a NATS subject)"
            )
        if stream in RESERVED_STREAMS:
            raise ValueError(f"{stream!r} is reserved for the server's own use; publish to your own streams")
        return check_name(stream)

    def _partition(self, message: Message, stream: str, count: int | None) -> int:
        """The partition ``message`` goes to (``count``: the stream's partitions, if the choice needs it)."""
        return choose_partition(message, stream, count, self._round_robin)

    @staticmethod
    def _publish_call(message: Message, stream: str, partition: int) -> Call:
        request = publish_request(message, stream, partition, message.correlation_id or "")
        return Call("publish", "Publish", request)

    @staticmethod
    def _ack(
        resp: api_pb2.PublishResponse | api_pb2.PublishToSubjectResponse, partition: int | None
    ) -> Ack | None:
        return ack_from_proto(resp.ack, partition) if resp.HasField("ack") else None

    def _publish_subject_call(self, message: Message, subject: str | None) -> Call:
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, not {type(message).__name__}")
        target = check_subject(subject or message.subject or "")
        return Call("publish", "PublishToSubject", publish_to_subject_request(message, target))

    def _subscription_start(
        self, stream: Stream | str, partition: int, start: Start | None, stop: Stop | None
    ) -> tuple[str, Start]:
        name = check_name(stream.name if isinstance(stream, Stream) else stream)
        check_partition(partition)
        begin = start or (stream.start if isinstance(stream, Stream) else Start())
        if not isinstance(begin, Start) or (stop is not None and not isinstance(stop, Stop)):
            raise TypeError(
                "start takes a Start (Start.earliest(), ...) and stop a Stop (Stop.latest(), ...)"
            )
        explicit = begin.kind == StartKind.OFFSET and stop is not None and stop.kind == StopKind.OFFSET
        if explicit and stop is not None and stop.offset < begin.offset:
            raise ValueError(f"stop offset {stop.offset} is before start offset {begin.offset}")
        timed = begin.kind == StartKind.TIMESTAMP and stop is not None and stop.kind == StopKind.TIMESTAMP
        if timed and stop is not None and stop.timestamp_ns < begin.timestamp_ns:
            first, last = from_unix_ns(begin.timestamp_ns), from_unix_ns(stop.timestamp_ns)
            raise ValueError(
                f"stop time {last:%Y-%m-%d %H:%M:%S} UTC is before start time {first:%Y-%m-%d %H:%M:%S} UTC "
                "(naive datetimes are local time)"
            )
        return name, begin

    def _cursor_call(
        self,
        cursor_id: str,
        stream: str,
        partition: int,
        cursors_partitions: int | None,
        offset: int | None = None,
    ) -> Call:
        check_id(cursor_id, "cursor id")
        check_name(stream)
        check_partition(partition)
        if not cursors_partitions:
            raise ErrCursorsDisabled(f"cursors are disabled{hint(ErrCursorsDisabled)}")
        target = (CURSORS_STREAM, key_partition(cursor_key(cursor_id, stream, partition), cursors_partitions))
        if offset is None:
            return Call(
                "cursor", "FetchCursor",
                api_pb2.FetchCursorRequest(stream=stream, partition=partition, cursorId=cursor_id), target,
            )  # fmt: skip
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < -1:
            raise ValueError(f"offset must be an int >= -1, not {offset!r}")
        request = api_pb2.SetCursorRequest(
            stream=stream, partition=partition, cursorId=cursor_id, offset=offset
        )
        return Call("cursor", "SetCursor", request, target)
