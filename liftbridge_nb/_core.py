"""What Lift and AsyncLift share and that does no I/O: settings, validation, the calls to make."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from ._base import MetadataCache, RoundRobin, choose_partition, cursor_key, key_partition, normalize_address
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
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrNotLeader,
    LiftbridgeError,
    hint,
)
from .models import (
    Ack,
    Message,
    Metadata,
    Start,
    StartKind,
    Stop,
    StopKind,
    Stream,
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
    """One unary RPC to make: ``rpc`` names the stub method; ``leader_of`` routes it to a partition leader."""

    op: str
    rpc: str
    request: Any
    leader_of: tuple[str, int] | None = None
    read_only: bool = False

    @property
    def stream(self) -> str | None:
        """The stream the call is about, if any (for telemetry)."""
        return getattr(self.request, "stream", None) or getattr(self.request, "name", None)


class Retries:
    """When a call routed to a partition leader tries again, shared by both clients.

    A leader that moved or a broker that went away is tried again, with
    backoff, until the call's deadline: a failover takes seconds, and giving up
    after a few quick attempts would fail calls that a moment's patience saves.
    An unknown stream or partition is looked up ``lookups`` times (followers
    learn of a new stream a moment after the leader), then it is the answer.
    Every other error is the answer at once.
    """

    def __init__(self, timeout: float, backoff: Backoff, lookups: int) -> None:
        self.deadline = time.monotonic() + timeout
        self.attempt = 0
        self._backoff = backoff
        self._lookups = lookups
        self._misses = 0
        self._last: LiftbridgeError | None = None

    def remaining(self) -> float:
        """Seconds left for the next attempt (never 0, which gRPC would read as no deadline)."""
        return max(0.001, self.deadline - time.monotonic())

    def wait_after(self, error: LiftbridgeError) -> float:
        """Seconds to wait before trying again after ``error``; raises the call's error when it is over.

        A call that runs out of time after retrying ends with the error it retried
        (unreachable brokers, no leader), which says more than the timeout does.
        """
        retry = isinstance(error, ErrNotLeader | ErrConnection)
        if isinstance(error, ErrNoSuchPartition):
            self._misses += 1
            retry = self._misses < self._lookups
        left = self.deadline - time.monotonic()
        if not retry or left <= 0:
            raise self._last if isinstance(error, ErrDeadlineExceeded) and self._last else error
        self._last = error
        delay = self._backoff.delay(self.attempt)
        self.attempt += 1
        return min(delay, left)


class AnyBroker(Generic[T]):
    """The plan of a call that any broker can answer: brokers in random order until one answers.

    An unreachable broker is passed over. A read-only call (``read_only``)
    also moves on from a broker that is too slow, each broker getting a share of
    the time left, and from one whose answer lacks what was asked (a broker
    that has not caught up with the metadata yet), keeping that answer in case
    no broker knows better. A write never moves on after a timeout: it may have
    taken effect, and sending it again could do it twice.
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
        if isinstance(error, ErrConnection | ErrNoSuchPartition):
            return True
        return self.read_only and isinstance(error, ErrDeadlineExceeded)

    def incomplete(self, answer: T, address: str) -> bool:
        """Keep an answer that lacks what was asked; True if another broker should be asked."""
        self.fallback = (answer, address)
        return self.read_only and len(self.tried) < len(self._order)

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


def check_partition(partition: object) -> int:
    """A partition number: an int >= 0."""
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
        raise ValueError(f"partition must be an int >= 0, not {partition!r}")
    return partition


def _partitions(partitions: Iterable[int] | None) -> list[int]:
    return [check_partition(p) for p in partitions] if partitions is not None else []


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
        t = self.options.timeout if timeout is None else timeout
        if not isinstance(t, int | float) or not t > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {t!r}")
        return float(t)

    # -- requests ------------------------------------------------------------------------------

    def _metadata_call(self, streams: Sequence[str] | None, groups: Sequence[str] = ()) -> Call:
        names = [check_name(n) for n in streams] if streams is not None else []
        groups = [check_name(g, "group id") for g in groups]
        request = api_pb2.FetchMetadataRequest(streams=names, groups=groups)
        return Call("metadata", "FetchMetadata", request, read_only=True)

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

    def _create_call(self, stream: Stream) -> Call:
        if not isinstance(stream, Stream):
            raise TypeError(f"create_stream takes a Stream, not {type(stream).__name__}")
        if stream.name in RESERVED_STREAMS:
            raise ValueError(f"{stream.name!r} is reserved for the server's own use")
        return Call("create", "CreateStream", create_stream_request(stream))

    def _delete_call(self, name: str) -> Call:
        return Call("delete", "DeleteStream", api_pb2.DeleteStreamRequest(name=check_name(name)))

    def _pause_call(self, name: str, partitions: Iterable[int] | None, resume_all: bool) -> Call:
        request = api_pb2.PauseStreamRequest(
            name=check_name(name), partitions=_partitions(partitions), resumeAll=resume_all
        )
        return Call("pause", "PauseStream", request)

    def _readonly_call(self, name: str, partitions: Iterable[int] | None, readonly: bool) -> Call:
        request = api_pb2.SetStreamReadonlyRequest(
            name=check_name(name), partitions=_partitions(partitions), readonly=readonly
        )
        return Call("readonly", "SetStreamReadonly", request)

    @property
    def _max_request_bytes(self) -> int:
        """The largest publish request sent: the channel's send limit, at most what a broker receives."""
        return min(self.options.max_message_bytes, BROKER_RECEIVE_LIMIT)

    def _check_size(self, request: api_pb2.PublishRequest | api_pb2.PublishToSubjectRequest) -> None:
        """Raise :class:`ErrMessageTooLarge` for a request no broker would take (before sending it)."""
        size = request.ByteSize()
        if size > self._max_request_bytes:
            raise too_large_request(size, self._max_request_bytes)

    def _publish_timeout(self, timeout: float | None) -> float:
        """A publish call's timeout: ``timeout`` (checked) or the client's."""
        return self._timeout(None if timeout is None else check_seconds("timeout", timeout))

    def _ack_timeout(self, ack_timeout: float | None) -> float:
        """A pipelined publish's ack timeout: ``ack_timeout`` (checked) or the client's."""
        return self.options.ack_timeout if ack_timeout is None else check_seconds("ack_timeout", ack_timeout)

    def _publish_stream(self, message: Message) -> tuple[str, bool]:
        """The stream a message goes to, and whether choosing its partition needs the partition count."""
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, not {type(message).__name__}")
        if not message.stream:
            raise ValueError(
                "the message names no stream (set Message(stream=...), or subject= for a NATS subject)"
            )
        if message.stream in RESERVED_STREAMS:
            raise ValueError(
                f"{message.stream!r} is reserved for the server's own use; publish to your own streams"
            )
        return check_name(message.stream), message.partition is None and message.partitioner is not None

    def _publish_call(self, message: Message, stream: str, count: int | None) -> tuple[Call, int]:
        partition = choose_partition(message, stream, count, self._round_robin)
        request = publish_request(message, stream, partition, message.correlation_id or "")
        return Call("publish", "Publish", request), partition

    @staticmethod
    def _ack(
        resp: api_pb2.PublishResponse | api_pb2.PublishToSubjectResponse, partition: int | None
    ) -> Ack | None:
        return ack_from_proto(resp.ack, partition) if resp.HasField("ack") else None

    def _publish_subject_call(self, message: Message, subject: str | None) -> Call:
        if not isinstance(message, Message):
            raise TypeError(f"expected a Message, not {type(message).__name__}")
        target = check_subject(subject or message.subject or "")
        if any(token in ("*", ">") for token in target.split(".")):
            raise ValueError(f"cannot publish to the wildcard subject {target!r}: name one subject")
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
        check_name(cursor_id, "cursor id")
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
