"""What Lift and AsyncLift share and that does no I/O: settings, validation, the calls to make."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ._base import MetadataCache, RoundRobin, choose_partition, cursor_key, key_partition, normalize_address
from ._convert import (
    ack_from_proto,
    create_stream_request,
    metadata_from_proto,
    publish_request,
    publish_to_subject_request,
)
from ._proto import api_pb2
from .config import ClientOptions, TLSConfig
from .errors import ErrCursorsDisabled
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

ACTIVITY_STREAM = "__activity"
CURSORS_STREAM = "__cursors"
RESERVED_STREAMS = (CURSORS_STREAM, ACTIVITY_STREAM)


@dataclass(frozen=True)
class Call:
    """One unary RPC to make: ``rpc`` names the stub method; ``leader_of`` routes it to a partition leader."""

    op: str
    rpc: str
    request: Any
    leader_of: tuple[str, int] | None = None

    @property
    def stream(self) -> str | None:
        """The stream the call is about, if any (for telemetry)."""
        return getattr(self.request, "stream", None) or getattr(self.request, "name", None)


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
        return Call("metadata", "FetchMetadata", api_pb2.FetchMetadataRequest(streams=names, groups=groups))

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
            raise ErrCursorsDisabled(
                "the server has no cursors stream: start it with cursors.stream.partitions > 0 "
                "(ServerOptions(cursors_partitions=1) for a LocalServer)"
            )
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
