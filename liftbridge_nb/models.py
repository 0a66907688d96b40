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
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_MIN_NS = -(2**63) + 1000  # the earliest whole microsecond of 64-bit nanoseconds


class AckPolicy(enum.IntEnum):
    """When the server acknowledges a published message."""

    LEADER = 0  #: once the partition leader has stored it (the default)
    ALL = 1  #: once every in-sync replica has it
    NONE = 2  #: never: fire and forget

    @classmethod
    def of(cls, value: AckPolicy | str | int) -> AckPolicy:
        """Accept an AckPolicy, its name in any case (``"all"``), or its number (0, 1 or 2)."""
        if type(value) is cls:
            return value
        try:
            if isinstance(value, str):
                return cls[value.upper()]
            if isinstance(value, int) and not isinstance(value, bool):
                return cls(value)
        except (KeyError, ValueError):
            pass
        raise ValueError(
            f"ack_policy must be 'leader', 'all' or 'none' (or AckPolicy.LEADER, ALL, NONE), not {value!r}"
        )


def to_unix_ns(when: datetime) -> int:
    """Nanoseconds since the epoch, exactly.

    A naive datetime is local time, as ``datetime.timestamp()`` reads it.

    ``pandas.Timestamp`` values keep their nanoseconds.
    """
    if not isinstance(when, datetime):
        raise TypeError(f"expected a datetime, not {type(when).__name__}")
    if when != when:  # pandas.NaT: a datetime equal to nothing, itself included
        raise ValueError("expected a datetime, not NaT (not a time)")
    try:
        # datetime's own astimezone: pandas.Timestamp's is tz_convert, which refuses a naive time.
        aware = when if when.tzinfo is not None else datetime.astimezone(when)
        micros = (aware - _EPOCH) // timedelta(microseconds=1)
    except (OverflowError, ValueError, OSError):
        micros = INT64_MAX  # out of range whichever way: refused below
    ns = micros * 1000 + int(getattr(when, "nanosecond", 0))
    if not _MIN_NS <= ns <= INT64_MAX:
        raise ValueError(
            f"time {when} is out of range: the server takes times as 64-bit nanoseconds since 1970, "
            f"from {from_unix_ns(_MIN_NS):%Y-%m-%d} to {from_unix_ns(INT64_MAX):%Y-%m-%d} UTC"
        )
    return ns


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


MAX_NAME_BYTES = 255
"""The longest stream name, in bytes of UTF-8: the server makes it a directory's name."""

MAX_SUBJECT_BYTES = 1024
"""The longest NATS subject taken: the server's NATS takes at most 4 KiB a protocol line."""

MAX_PARTITIONS = 10_000
"""The most partitions a stream may have: each is a directory of files and NATS subscriptions."""

NAME_RULE = (
    "a stream name is 1 to 255 bytes of UTF-8 without whitespace, in dot-separated parts that are not "
    "empty (no leading, trailing or double dot), and a new one also without control characters, '/', "
    "'\\' or parts * or >: the server makes it a directory and a part of NATS subjects"
)
SUBJECT_RULE = (
    "a subject is 1 to 1024 bytes of UTF-8 without whitespace or control characters, in dot-separated "
    "non-empty tokens (no leading, trailing or double dot)"
)
ID_RULE = "an id is a non-empty string of UTF-8 without whitespace or control characters"
_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_BREAKING = re.compile(r"[\s\x00]")  # what no name may hold: the server crashes on it


def _checked_text(value: object, what: str, rule: str, unprintable: re.Pattern[str] = _UNPRINTABLE) -> bytes:
    """``value`` as UTF-8 if it is a non-empty str without whitespace or control characters."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{what} must be non-empty: {rule}")
    if unprintable.search(value):
        raise ValueError(f"{what} {value!r} must be without whitespace or control characters: {rule}")
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} is not valid UTF-8 text: {rule}") from None


def check_name(name: object, what: str = "stream name", *, new: bool = False) -> str:
    r"""A stream name the server can hold, else ``TypeError``/``ValueError`` naming it and the rule.

    Liftbridge v1.9.0 makes the name a directory (``streams/<name>/<partition>``)
    and a part of NATS subjects (``<namespace>.<name>.<partition>.replicate``); a
    name that is not a valid path component and subject token sequence makes
    every server that holds it crash, again at each restart. So no call sends
    one: a name is 1 to 255 bytes of UTF-8 without whitespace or NUL, in
    dot-separated parts that are not empty (no ``.``, ``..``, ``a..b``, ``a.``).

    A new stream's name (``new=True``: :class:`Stream`) must also be without
    control characters, ``/`` or ``\`` (``a/b`` would live inside the
    directory of ``a``, and go when ``a`` is deleted) and parts ``*`` or ``>``
    (its replication subjects would be wildcards). A stream named so elsewhere
    can still be read, paused and deleted. A valid new name is a valid subject.
    """
    unprintable = _UNPRINTABLE if new else _BREAKING
    size = len(_checked_text(name, what, NAME_RULE, unprintable))
    assert isinstance(name, str)
    if size > MAX_NAME_BYTES:
        raise ValueError(f"{what} {name[:40]!r}... is {size} bytes, over {MAX_NAME_BYTES}: {NAME_RULE}")
    parts = name.split(".")
    if "" in parts:
        raise ValueError(f"{what} {name!r} has an empty dot-separated part: {NAME_RULE}")
    if new and ("/" in name or "\\" in name):
        raise ValueError(f"{what} {name!r} must be without '/' or '\\': {NAME_RULE}")
    if new and ("*" in parts or ">" in parts):
        raise ValueError(f"{what} {name!r} has a wildcard part (* or >): {NAME_RULE}")
    return name


def check_id(value: object, what: str) -> str:
    """A group, consumer or cursor id: a non-empty str of UTF-8 without whitespace or control characters."""
    _checked_text(value, what, ID_RULE)
    assert isinstance(value, str)
    return value


def check_subject(subject: object, what: str = "subject") -> str:
    """One NATS subject (no wildcards), else ``TypeError``/``ValueError`` naming it and the rule.

    1 to 1024 bytes of UTF-8 without whitespace or control characters, in
    dot-separated non-empty tokens; a ``*`` or ``>`` token is refused: a stream
    on a wildcard subject takes in, and acknowledges, messages published to
    other streams, and a message can only be published to one subject.
    """
    size = len(_checked_text(subject, what, SUBJECT_RULE))
    assert isinstance(subject, str)
    if size > MAX_SUBJECT_BYTES:
        raise ValueError(
            f"{what} {subject[:40]!r}... is {size} bytes, over {MAX_SUBJECT_BYTES}: {SUBJECT_RULE}"
        )
    tokens = subject.split(".")
    if "" in tokens:
        raise ValueError(f"{what} {subject!r} has an empty token: {SUBJECT_RULE}")
    if "*" in tokens or ">" in tokens:
        raise ValueError(
            f"{what} {subject!r} is a wildcard subject: name one subject (a stream on a wildcard would "
            "take in, and acknowledge, messages published to other streams)"
        )
    return subject


def _offset(offset: object, what: str) -> int:
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"{what} must be an int, not {type(offset).__name__}")
    if offset < 0:
        raise ValueError(f"{what} must be >= 0, not {offset}")
    if offset > INT64_MAX:
        raise ValueError(f"{what} must be at most 2**63 - 1 (the server's offsets are 64-bit), not {offset}")
    return offset


def _int(value: object, what: str, minimum: int, maximum: int) -> int:
    """An int (not a bool) from ``minimum`` to ``maximum``, else an error naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__} {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{what} must be from {minimum} to {maximum}, not {value!r}")
    return value


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
        if ago < timedelta(0):
            raise ValueError(f"the time delta is how long ago, so >= 0, not {ago!r} (a time to come)")
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

    Everything is checked here, before anything is sent: the name against
    :func:`check_name` (what the server can hold), the subject against
    :func:`check_subject` (one subject: a stream on a wildcard would take in,
    and acknowledge, messages published to other streams), ``partitions`` from
    1 to 10,000, and ``min_isr`` at most ``replication_factor`` (a partition
    with fewer replicas than its minimum in-sync set never commits a message).
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
        check_name(self.name, new=True)
        check_subject(self.subject, "stream subject")
        if self.group:  # "" is no group, as for the server
            check_id(self.group, "group")
        elif self.group is not None and not isinstance(self.group, str):
            raise TypeError(f"group must be a str or None, not {type(self.group).__name__}")
        rf = _int(self.replication_factor, "replication_factor", -1, INT32_MAX)
        if rf == 0:
            raise ValueError("replication_factor must be >= 1 (or -1 for every broker), not 0")
        _int(self.partitions, "partitions", 1, MAX_PARTITIONS)
        for name in ("retention_max_bytes", "retention_max_messages", "segment_max_bytes"):
            value = getattr(self, name)
            if value is not None:
                _int(value, name, 0, INT64_MAX)
        for name in ("compact_max_goroutines", "min_isr"):
            value = getattr(self, name)
            if value is not None:
                _int(value, name, 1, INT32_MAX)
        for name in (
            "max_replication", "compact_enabled", "auto_pause_disable_if_subscribers",
            "optimistic_concurrency_control", "encryption",
        ):  # fmt: skip
            value = getattr(self, name)
            if not (isinstance(value, bool) or (value is None and name != "max_replication")):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        if self.min_isr is not None and not self.max_replication and rf != -1 and self.min_isr > rf:
            raise ValueError(
                f"min_isr {self.min_isr} is above replication_factor {rf}: the partitions could never "
                "commit a message (ack policy ALL would time out, readers would see nothing); "
                "give min_isr <= replication_factor"
            )
        for name in ("retention_max_age", "cleaner_interval", "segment_max_age", "auto_pause_time"):
            _ms(getattr(self, name), name)
        if not isinstance(self.start, Start):
            raise TypeError(f"start takes a Start (Start.earliest(), ...), not {type(self.start).__name__}")

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


_STR_OR_NONE = (str, type(None))
SERVER_HEADERS = ("subject", "reply")
"""Headers the server sets on every message it stores (the NATS subject and reply inbox it came by),
overwriting the publisher's: refused at publish, moved to ``subject``/``reply_subject`` on read."""


@dataclass(slots=True, init=False)
class Message:
    """A message to publish, or one read from a stream.

    To publish, give ``stream`` (or ``subject``, for :meth:`Lift.publish` to a
    NATS subject), ``value`` and optionally ``key``, ``headers``, ``partition``
    or a ``partitioner`` (``"key"``, ``"round_robin"`` or a function of key and
    partition count), ``ack_policy`` and ``expected_offset``. Values, keys and
    header values may be ``str`` (sent as UTF-8) or ``bytes``; they are kept as
    ``bytes``. With neither ``partition`` nor ``partitioner``, a message with a
    key goes to the key's partition (CRC-32 of the key modulo the partition
    count, go-liftbridge's ``PartitionByKey``), one without to partition 0.
    (go-liftbridge itself sends a keyed message to partition 0 unless given a
    partitioner; ``partition=0`` does that here.)

    A message read from a stream also has ``offset``, ``timestamp`` (Unix
    nanoseconds, see :attr:`time`), ``partition``, ``subject`` (the NATS
    subject it arrived on) and ``reply_subject``. Its ``headers`` are the
    publisher's (the server's own ``subject``/``reply`` entries are moved to
    those attributes). The server overwrites headers named ``subject`` and
    ``reply`` with its own, so a message to publish cannot have them
    (``ValueError``).
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
        if not (isinstance(stream, _STR_OR_NONE) and isinstance(subject, _STR_OR_NONE)) or not isinstance(
            correlation_id, _STR_OR_NONE
        ):
            what, text = next(
                (w, t)
                for w, t in (("stream", stream), ("subject", subject), ("correlation_id", correlation_id))
                if not isinstance(t, _STR_OR_NONE)
            )
            raise TypeError(f"{what} must be a str, not {type(text).__name__} {text!r}")
        self.stream = stream
        self.subject = subject
        self.headers = _headers(headers)
        self.ack_policy = AckPolicy.of(ack_policy)
        self.partition = _partition(partition)
        if partitioner is not None and not (callable(partitioner) or partitioner in ("key", "round_robin")):
            raise ValueError(f"partitioner must be 'key', 'round_robin' or a function, not {partitioner!r}")
        self.partitioner = partitioner
        if expected_offset is not None and (
            not isinstance(expected_offset, int)
            or isinstance(expected_offset, bool)
            or not -1 <= expected_offset <= INT64_MAX
        ):
            raise ValueError(
                f"expected_offset must be an int >= -1 (and below 2**63), not {expected_offset!r}"
            )
        self.expected_offset = expected_offset
        self.correlation_id = correlation_id
        self.offset = -1
        self.timestamp = 0
        self.reply_subject = ""

    def _row(
        self,
        value: str | bytes,
        key: str | bytes | None,
        headers: Mapping[str, str | bytes] | None,
        partition: int | None,
    ) -> Message:
        """A copy with its own value, key, headers and partition, checked as ``Message()`` checks them.

        A message per row of a frame, without checking again what every row shares.
        """
        msg = object.__new__(Message)
        msg.stream, msg.subject, msg.partitioner = self.stream, self.subject, self.partitioner
        msg.ack_policy, msg.expected_offset, msg.correlation_id = (
            self.ack_policy,
            self.expected_offset,
            self.correlation_id,
        )
        msg.offset, msg.timestamp, msg.reply_subject = self.offset, self.timestamp, self.reply_subject
        msg.value = _to_bytes(value, "value")
        msg.key = None if key is None else _to_bytes(key, "key")
        msg.headers = _headers(headers)
        msg.partition = _partition(partition)
        return msg

    @classmethod
    def _received(
        cls,
        *,
        stream: str,
        partition: int,
        offset: int,
        timestamp: int,
        key: bytes | None,
        value: bytes,
        headers: Mapping[str, bytes],
        subject: str,
        reply_subject: str,
        own_headers: bool = False,
    ) -> Message:
        """A message read from a stream (no validation: the server's data is taken as is).

        ``own_headers``: ``headers`` is a dict of the publisher's headers only (the server's are out).
        """
        msg = object.__new__(cls)
        msg.value = value
        msg.key = key or None
        msg.stream = stream
        msg.subject = subject
        if own_headers:
            msg.headers = headers  # type: ignore[assignment]
        else:
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


def _headers(headers: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    """A message's headers, checked: names as :func:`_header_name` takes them, values as bytes."""
    if headers is None:
        return {}
    if not isinstance(headers, dict) and not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a dict of names to str or bytes, not {type(headers).__name__}")
    return {_header_name(k): _to_bytes(v, f"header {k!r}") for k, v in headers.items()}


def _partition(partition: int | None) -> int | None:
    if partition is not None and (
        not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition <= INT32_MAX
    ):
        raise ValueError(f"partition must be an int >= 0 (and below 2**31), not {partition!r}")
    return partition


def _header_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"header names must be non-empty str, not {name!r}")
    if name in SERVER_HEADERS:
        raise ValueError(
            f"header {name!r} is the server's own: it overwrites the 'subject' and 'reply' headers of every "
            f"message with the NATS subject and reply inbox, so a {name!r} of yours would be lost; "
            "name it otherwise"
        )
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
        """When the leader sent this ack (UTC); None if the server gave no time.

        With ack policy ALL that is once every in-sync replica had the message,
        with LEADER once the leader had stored it.
        """
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
