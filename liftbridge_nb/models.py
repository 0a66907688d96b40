"""The values the client takes and returns: Stream, Message, Ack, start/stop positions, metadata."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

Partitioner = Callable[[bytes | None, int], int]
"""A function of (key, number of partitions) returning the partition to publish to."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WHITESPACE = re.compile(r"\s")


class AckPolicy(enum.IntEnum):
    """When the server acknowledges a published message."""

    LEADER = 0  #: once the partition leader has stored it (the default)
    ALL = 1  #: once every in-sync replica has it
    NONE = 2  #: never: fire and forget

    @classmethod
    def of(cls, value: AckPolicy | str | int) -> AckPolicy:
        """Accept an AckPolicy, its name in any case (``"all"``), or its number."""
        if type(value) is cls:
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"ack policy must be leader, all or none, not {value!r}") from None
        return cls(value)


def to_unix_ns(when: datetime) -> int:
    """Nanoseconds since the epoch, exactly.

    A naive datetime is local time, as ``datetime.timestamp()`` reads it.

    ``pandas.Timestamp`` values keep their nanoseconds.
    """
    if not isinstance(when, datetime):
        raise TypeError(f"expected a datetime, not {type(when).__name__}")
    aware = when if when.tzinfo is not None else when.astimezone()
    micros = (aware - _EPOCH) // timedelta(microseconds=1)
    return micros * 1000 + int(getattr(when, "nanosecond", 0))


def from_unix_ns(ns: int) -> datetime:
    """An aware UTC datetime for nanoseconds since the epoch (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _to_bytes(value: str | bytes | bytearray | memoryview, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _ms(value: timedelta | None, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, timedelta):
        raise TypeError(f"{what} must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{what} must not be negative: {value}")
    return value // timedelta(milliseconds=1)


def check_name(name: object, what: str = "stream name") -> str:
    """A valid stream name: a non-empty string without whitespace."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name or _WHITESPACE.search(name):
        raise ValueError(f"{what} must be non-empty and without whitespace: {name!r}")
    return name


def check_subject(subject: object) -> str:
    """A valid NATS subject: dot-separated non-empty tokens without whitespace."""
    if not isinstance(subject, str):
        raise TypeError(f"subject must be a str, not {type(subject).__name__}")
    if not subject or _WHITESPACE.search(subject) or "" in subject.split("."):
        raise ValueError(f"subject must be dot-separated non-empty tokens without whitespace: {subject!r}")
    return subject


def _offset(offset: object, what: str) -> int:
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"{what} must be an int, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"{what} must be >= 0, not {offset}")
    return offset


class StartKind(enum.IntEnum):
    """Where a subscription starts (the API's StartPosition)."""

    NEW_ONLY = 0
    OFFSET = 1
    EARLIEST = 2
    LATEST = 3
    TIMESTAMP = 4


class StopKind(enum.IntEnum):
    """Where a subscription stops (the API's StopPosition)."""

    ON_CANCEL = 0
    OFFSET = 1
    LATEST = 2
    TIMESTAMP = 3


@dataclass(frozen=True, slots=True)
class Start:
    """A subscription's start position; build one with the class methods."""

    kind: StartKind = StartKind.NEW_ONLY
    offset: int = 0
    timestamp_ns: int = 0

    @classmethod
    def new_only(cls) -> Start:
        """Only messages published after subscribing (the default)."""
        return cls()

    @classmethod
    def earliest(cls) -> Start:
        """The oldest retained message."""
        return cls(StartKind.EARLIEST)

    @classmethod
    def latest(cls) -> Start:
        """The newest existing message, inclusive."""
        return cls(StartKind.LATEST)

    @classmethod
    def at_offset(cls, offset: int) -> Start:
        """The message at ``offset`` (0 included), or the oldest retained one after it."""
        return cls(StartKind.OFFSET, offset=_offset(offset, "offset"))

    @classmethod
    def at_time(cls, when: datetime) -> Start:
        """The first message received at or after ``when`` (naive means local time)."""
        return cls(StartKind.TIMESTAMP, timestamp_ns=to_unix_ns(when))

    @classmethod
    def at_time_delta(cls, ago: timedelta) -> Start:
        """The first message received at most ``ago`` before now."""
        if not isinstance(ago, timedelta):
            raise TypeError(f"expected a timedelta, not {type(ago).__name__}")
        return cls.at_time(datetime.now(UTC) - ago)


@dataclass(frozen=True, slots=True)
class Stop:
    """A subscription's stop position; build one with the class methods."""

    kind: StopKind = StopKind.ON_CANCEL
    offset: int = 0
    timestamp_ns: int = 0

    @classmethod
    def at_offset(cls, offset: int) -> Stop:
        """End after delivering ``offset``."""
        return cls(StopKind.OFFSET, offset=_offset(offset, "stop offset"))

    @classmethod
    def at_time(cls, when: datetime) -> Stop:
        """End after the last message received at or before ``when``."""
        return cls(StopKind.TIMESTAMP, timestamp_ns=to_unix_ns(when))

    @classmethod
    def latest(cls) -> Stop:
        """End after the newest message that exists when subscribing."""
        return cls(StopKind.LATEST)


@dataclass(frozen=True)
class Stream:
    """A stream: what :meth:`Lift.create_stream` creates and :meth:`Lift.subscribe` reads.

    ``max_replication=True`` replicates to every broker; ``group`` makes the
    stream share its subject's messages with the other streams of that NATS
    queue group. ``None`` options take the server's defaults; durations are
    ``timedelta``. The ``start_at_*`` methods return a copy that a
    subscription starts from.
    """

    subject: str
    name: str
    group: str | None = None
    replication_factor: int = 1
    max_replication: bool = False
    partitions: int = 1
    retention_max_bytes: int | None = None
    retention_max_messages: int | None = None
    retention_max_age: timedelta | None = None
    cleaner_interval: timedelta | None = None
    segment_max_bytes: int | None = None
    segment_max_age: timedelta | None = None
    compact_enabled: bool | None = None
    compact_max_goroutines: int | None = None
    auto_pause_time: timedelta | None = None
    auto_pause_disable_if_subscribers: bool | None = None
    min_isr: int | None = None
    optimistic_concurrency_control: bool | None = None
    encryption: bool | None = None
    start: Start = field(default_factory=Start)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_subject(self.subject)
        if self.replication_factor < 1 and self.replication_factor != -1:
            raise ValueError(
                f"replication_factor must be >= 1 (or -1 for every broker): {self.replication_factor}"
            )
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1: {self.partitions}")
        for name in ("retention_max_bytes", "retention_max_messages", "segment_max_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0: {value}")
        for name in ("compact_max_goroutines", "min_isr"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1: {value}")
        for name in ("retention_max_age", "cleaner_interval", "segment_max_age", "auto_pause_time"):
            _ms(getattr(self, name), name)

    def durations_ms(self) -> dict[str, int | None]:
        """The duration options in milliseconds, as CreateStream takes them."""
        return {
            "retention_max_age": _ms(self.retention_max_age, "retention_max_age"),
            "cleaner_interval": _ms(self.cleaner_interval, "cleaner_interval"),
            "segment_max_age": _ms(self.segment_max_age, "segment_max_age"),
            "auto_pause_time": _ms(self.auto_pause_time, "auto_pause_time"),
        }

    def start_at_offset(self, offset: int) -> Stream:
        """Subscribe from ``offset`` (0 included)."""
        return replace(self, start=Start.at_offset(offset))

    def start_at_time(self, when: datetime) -> Stream:
        """Subscribe from the first message received at or after ``when`` (naive = local time)."""
        return replace(self, start=Start.at_time(when))

    def start_at_time_delta(self, ago: timedelta) -> Stream:
        """Subscribe from the first message received at most ``ago`` before now."""
        return replace(self, start=Start.at_time_delta(ago))

    def start_at_latest_received(self) -> Stream:
        """Subscribe from the newest existing message."""
        return replace(self, start=Start.latest())

    def start_at_earliest_received(self) -> Stream:
        """Subscribe from the oldest retained message."""
        return replace(self, start=Start.earliest())


SERVER_HEADERS = ("subject", "reply")


@dataclass(slots=True, init=False)
class Message:
    """A message to publish, or one read from a stream.

    To publish, give ``stream`` (or ``subject``, for :meth:`Lift.publish` to a
    NATS subject), ``value`` and optionally ``key``, ``headers``, ``partition``
    or a ``partitioner`` (``"key"``, ``"round_robin"`` or a function of key and
    partition count), ``ack_policy`` and ``expected_offset``. Values, keys and
    header values may be ``str`` (sent as UTF-8) or ``bytes``; they are kept as
    ``bytes``.

    A message read from a stream also has ``offset``, ``timestamp`` (Unix
    nanoseconds, see :attr:`time`), ``partition``, ``subject`` (the NATS
    subject it arrived on) and ``reply_subject``. Its ``headers`` are the
    publisher's (the server's own ``subject``/``reply`` entries are moved to
    those attributes).
    """

    value: bytes
    key: bytes | None
    stream: str | None
    subject: str | None
    headers: dict[str, bytes]
    partition: int | None
    partitioner: Partitioner | Literal["key", "round_robin"] | None
    ack_policy: AckPolicy
    expected_offset: int | None
    correlation_id: str | None
    offset: int
    timestamp: int
    reply_subject: str

    def __init__(
        self,
        value: str | bytes = b"",
        key: str | bytes | None = None,
        stream: str | None = None,
        subject: str | None = None,
        headers: Mapping[str, str | bytes] | None = None,
        partition: int | None = None,
        partitioner: Partitioner | Literal["key", "round_robin"] | None = None,
        ack_policy: AckPolicy | Literal["leader", "all", "none"] = AckPolicy.LEADER,
        expected_offset: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.value = _to_bytes(value, "value")
        self.key = None if key is None else _to_bytes(key, "key")
        self.stream = stream
        self.subject = subject
        self.headers = {_header_name(k): _to_bytes(v, f"header {k!r}") for k, v in (headers or {}).items()}
        self.ack_policy = AckPolicy.of(ack_policy)
        if partition is not None and (
            not isinstance(partition, int) or isinstance(partition, bool) or partition < 0
        ):
            raise ValueError(f"partition must be an int >= 0, not {partition!r}")
        self.partition = partition
        if partitioner is not None and not (callable(partitioner) or partitioner in ("key", "round_robin")):
            raise ValueError(f"partitioner must be 'key', 'round_robin' or a function, not {partitioner!r}")
        self.partitioner = partitioner
        if expected_offset is not None and (not isinstance(expected_offset, int) or expected_offset < -1):
            raise ValueError(f"expected_offset must be an int >= -1, not {expected_offset!r}")
        self.expected_offset = expected_offset
        self.correlation_id = correlation_id
        self.offset = -1
        self.timestamp = 0
        self.reply_subject = ""

    @classmethod
    def _received(
        cls,
        *,
        stream: str,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes,
        value: bytes,
        headers: Mapping[str, bytes],
        subject: str,
        reply_subject: str,
    ) -> Message:
        """A message read from a stream (no validation: the server's data is taken as is)."""
        msg = object.__new__(cls)
        msg.value = value
        msg.key = key or None
        msg.stream = stream
        msg.subject = subject
        msg.headers = {k: v for k, v in headers.items() if k not in SERVER_HEADERS} if headers else {}
        msg.partition = partition
        msg.partitioner = None
        msg.ack_policy = AckPolicy.LEADER
        msg.expected_offset = None
        msg.correlation_id = None
        msg.offset = offset
        msg.timestamp = timestamp
        msg.reply_subject = reply_subject
        return msg

    @property
    def time(self) -> datetime:
        """When the partition leader received the message (UTC, microseconds)."""
        return from_unix_ns(self.timestamp)


def _header_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"header names must be non-empty str, not {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Ack:
    """The server's acknowledgement of a published message."""

    stream: str
    partition: int | None
    offset: int
    partition_subject: str
    msg_subject: str
    ack_inbox: str
    correlation_id: str
    ack_policy: AckPolicy
    reception_timestamp: int
    commit_timestamp: int

    @property
    def received_at(self) -> datetime:
        """When the leader received the message (UTC)."""
        return from_unix_ns(self.reception_timestamp)

    @property
    def committed_at(self) -> datetime | None:
        """When every in-sync replica had it (UTC); None unless the policy was ALL."""
        return from_unix_ns(self.commit_timestamp) if self.commit_timestamp else None


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """A broker of the cluster and the address it advertises."""

    id: str
    host: str
    port: int
    partition_count: int
    leader_count: int

    @property
    def address(self) -> str:
        """``host:port`` as advertised (may be ``0.0.0.0``; the client maps that to the host it dialled)."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EventTimes:
    """When an event first and last happened to a partition (None: never)."""

    first: datetime | None
    latest: datetime | None


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """A partition's metadata: leader, replicas and in-sync replicas are broker ids."""

    stream: str
    id: int
    leader: str
    replicas: tuple[str, ...]
    isr: tuple[str, ...]
    high_watermark: int
    newest_offset: int
    paused: bool
    readonly: bool
    messages_received: EventTimes
    paused_times: EventTimes
    readonly_times: EventTimes

    @property
    def under_replicated(self) -> bool:
        """Whether fewer replicas are in sync than there are replicas."""
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream's metadata."""

    name: str
    subject: str
    partitions: Mapping[int, PartitionInfo]
    created: datetime | None

    def to_dataframe(self) -> pd.DataFrame:
        """One row per partition of this stream (see :func:`partitions_dataframe`)."""
        return partitions_dataframe(
            [p for _, p in sorted(self.partitions.items())], {self.name: self.subject}
        )


def partitions_dataframe(partitions: Sequence[PartitionInfo], subjects: Mapping[str, str]) -> pd.DataFrame:
    """One row per partition: leader, replicas, ISR, offsets, paused, readonly, last message time."""
    import pandas as pd

    rows = [
        (
            p.stream, p.id, subjects.get(p.stream, ""), p.leader, list(p.replicas), list(p.isr),
            p.under_replicated, p.high_watermark, p.newest_offset, p.paused, p.readonly,
            p.messages_received.latest,
        )
        for p in partitions
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=_PARTITION_COLUMNS)
    frame["partition"] = frame["partition"].astype("int32")
    for col in ("high_watermark", "newest_offset"):
        frame[col] = frame[col].astype("int64")
    frame["last_message_time"] = pd.to_datetime(frame["last_message_time"], utc=True).astype(
        "datetime64[ns, UTC]"
    )
    return frame


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group's metadata."""

    id: str
    coordinator: str
    epoch: int


@dataclass(frozen=True)
class Metadata:
    """What :meth:`Lift.fetch_metadata` returns: brokers, streams, consumer groups."""

    brokers: tuple[BrokerInfo, ...]
    streams: Mapping[str, StreamInfo]
    groups: Mapping[str, GroupInfo] = field(default_factory=dict)

    def partitions(self) -> list[PartitionInfo]:
        """Every partition of every stream, by stream name then partition id."""
        return [p for name in sorted(self.streams) for _, p in sorted(self.streams[name].partitions.items())]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per partition of every stream (see :func:`partitions_dataframe`)."""
        return partitions_dataframe(self.partitions(), {n: s.subject for n, s in self.streams.items()})

    def brokers_dataframe(self) -> pd.DataFrame:
        """One row per broker: id, host, port, partition and leader counts."""
        import pandas as pd

        return pd.DataFrame(
            [(b.id, b.host, b.port, b.partition_count, b.leader_count) for b in self.brokers],
            columns=["id", "host", "port", "partitions", "leaders"],
        )


_PARTITION_COLUMNS = [
    "stream", "partition", "subject", "leader", "replicas", "isr", "under_replicated",
    "high_watermark", "newest_offset", "paused", "readonly", "last_message_time",
]  # fmt: skip
