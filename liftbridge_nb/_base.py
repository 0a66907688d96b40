"""The client's I/O-free core: partitioning, addresses, the metadata cache and routing."""

from __future__ import annotations

import threading
import time
import zlib
from collections import defaultdict

from .config import DEFAULT_PORT
from .errors import ErrNoSuchPartition, no_such
from .models import Message, Metadata, PartitionInfo

_UNROUTABLE = {"", "0.0.0.0", "::", "[::]"}


def key_partition(key: bytes | None, partitions: int) -> int:
    """go-liftbridge's key partitioner: CRC-32 (IEEE) of the key, unsigned, modulo the count."""
    if partitions <= 0:
        return 0
    return (zlib.crc32(key or b"") & 0xFFFFFFFF) % partitions


class RoundRobin:
    """go-liftbridge's round-robin partitioner: a counter per stream, starting at 0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: defaultdict[str, int] = defaultdict(int)

    def __call__(self, stream: str, partitions: int) -> int:
        if partitions <= 0:
            return 0
        with self._lock:
            n = self._counters[stream]
            self._counters[stream] = n + 1
        return n % partitions


def partitioned_by_count(message: Message) -> bool:
    """Whether :func:`choose_partition` needs the stream's partition count for ``message``."""
    return message.partition is None and (message.partitioner is not None or bool(message.key))


def choose_partition(message: Message, stream: str, partitions: int | None, round_robin: RoundRobin) -> int:
    """The partition a message is published to: the one rule of every publishing path.

    An explicit ``partition``; else the ``partitioner``'s choice; else, for a
    message with a (non-empty) key, the key's partition (:func:`key_partition`,
    as Kafka's default partitioner does); else 0. go-liftbridge sends a keyed
    message to partition 0 unless a partitioner option is given: to do that
    here, give ``partition=0``.
    """
    if message.partition is not None:
        return message.partition
    p = message.partitioner or ("key" if message.key else None)
    if p is None:
        return 0
    count = partitions or 0
    if p == "key":
        return key_partition(message.key, count)
    if p == "round_robin":
        return round_robin(stream, count)
    assert callable(p)
    chosen = p(message.key, count)
    if not isinstance(chosen, int) or not 0 <= chosen < max(count, 1):
        raise ValueError(f"partitioner returned {chosen!r}; {stream!r} has {count} partitions")
    return chosen


def cursor_key(cursor_id: str, stream: str, partition: int) -> bytes:
    """The key a cursor is stored under in ``__cursors``."""
    return f"{cursor_id},{stream},{partition}".encode()


def normalize_address(address: str) -> str:
    """``host:port`` with the default port added; rejects what cannot be an address."""
    if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address.strip()):
        raise ValueError(f"a broker address is 'host:port', not {address!r}")
    address = address.strip()
    for prefix in ("grpc://", "liftbridge://"):
        address = address.removeprefix(prefix)
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return f"{address}:{DEFAULT_PORT}"
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"a broker address is 'host:port' with a port from 1 to 65535, not {address!r}")
    return address


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of a normalized address."""
    host, _, port = address.rpartition(":")
    return host, int(port)


class MetadataCache:
    """What the client knows of brokers and partitions; thread-safe; refreshed by the client.

    Advertised hosts that cannot be dialled (``0.0.0.0``, ``::``) are mapped to
    the host the metadata came from: with a single broker, to the very address
    dialled (a container's published port differs from the one it advertises).
    """

    def __init__(self, seeds: list[str]) -> None:
        self.seeds = seeds
        self._lock = threading.Lock()
        self._brokers: dict[str, str] = {}
        self._partitions: dict[str, dict[int, PartitionInfo]] = {}
        self._subjects: dict[str, tuple[str, float]] = {}  # stream: (subject, when fetched)

    def update(self, metadata: Metadata, dialled: str, *, streams: list[str] | None) -> None:
        """Take in a FetchMetadata answer (for ``streams``, or all streams when None)."""
        dialled_host, _ = split_address(dialled)
        brokers = {}
        for b in metadata.brokers:
            if b.host in _UNROUTABLE:
                brokers[b.id] = dialled if len(metadata.brokers) == 1 else f"{dialled_host}:{b.port}"
            else:
                brokers[b.id] = b.address
        with self._lock:
            self._brokers = brokers
            if streams is None:
                self._partitions, self._subjects = {}, {}
            for name in streams or []:
                self._partitions.pop(name, None)
                self._subjects.pop(name, None)
            now = time.monotonic()
            for name, info in metadata.streams.items():
                self._partitions[name] = dict(info.partitions)
                self._subjects[name] = (info.subject, now)

    def addresses(self) -> list[str]:
        """Known broker addresses, then the seeds not among them."""
        with self._lock:
            known = list(dict.fromkeys(self._brokers.values()))
        return known + [s for s in self.seeds if s not in known]

    def broker_address(self, broker_id: str) -> str | None:
        """The address of a broker by id."""
        with self._lock:
            return self._brokers.get(broker_id)

    def partition(self, stream: str, partition: int) -> PartitionInfo | None:
        """Cached metadata of one partition."""
        with self._lock:
            return self._partitions.get(stream, {}).get(partition)

    def route(self, stream: str, partition: int, max_age: float) -> tuple[str, PartitionInfo] | None:
        """The stream's subject and the partition's metadata, if fetched within ``max_age`` seconds."""
        with self._lock:
            subject, fetched = self._subjects.get(stream, ("", 0.0))
            info = self._partitions.get(stream, {}).get(partition)
            return (subject, info) if info and subject and time.monotonic() - fetched <= max_age else None

    def forget(self, stream: str) -> None:
        """Make the next :meth:`route` of ``stream`` miss (its metadata is in doubt)."""
        with self._lock:
            self._subjects.pop(stream, None)

    def partition_count(self, stream: str) -> int | None:
        """Number of partitions of a cached stream."""
        with self._lock:
            parts = self._partitions.get(stream)
            return len(parts) if parts is not None else None

    def missing(self, stream: str, partition: int) -> ErrNoSuchPartition:
        """The error for a partition not in the cache: ErrNoSuchStream when its stream is not either."""
        return no_such(stream, partition, self.partition_count(stream))

    def leader_address(self, stream: str, partition: int) -> str | None:
        """Where the partition's leader is, if known."""
        info = self.partition(stream, partition)
        return self.broker_address(info.leader) if info and info.leader else None

    def isr_addresses(self, stream: str, partition: int) -> list[str]:
        """Addresses of the partition's in-sync replicas, as known."""
        info = self.partition(stream, partition)
        if info is None:
            return []
        return [a for a in (self.broker_address(b) for b in info.isr) if a]
