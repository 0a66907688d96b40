"""The I/O-free core: partitioners, addresses, the metadata cache."""

from __future__ import annotations

import re
import zlib

import pytest

from liftbridge_nb import Message
from liftbridge_nb._base import (
    MetadataCache,
    RoundRobin,
    choose_partition,
    cursor_key,
    key_partition,
    normalize_address,
    partitioned_by_count,
)
from liftbridge_nb.models import BrokerInfo, EventTimes, Metadata, PartitionInfo, StreamInfo


def test_key_partitioner_is_unsigned_crc32_ieee() -> None:
    assert key_partition(b"123456789", 1_000_000_007) == 0xCBF43926 % 1_000_000_007  # the CRC-32 check value
    key = next(k for k in (f"k{i}".encode() for i in range(100)) if zlib.crc32(k) & 0x80000000)
    signed = zlib.crc32(key) - (1 << 32)
    assert key_partition(key, 7) == zlib.crc32(key) % 7 != abs(signed) % 7
    assert key_partition(None, 5) == zlib.crc32(b"") % 5 == 0
    assert key_partition(b"x", 0) == 0


def test_round_robin_per_stream() -> None:
    rr = RoundRobin()
    assert [rr("a", 3) for _ in range(4)] == [0, 1, 2, 0]
    assert rr("b", 3) == 0


def test_choose_partition_order() -> None:
    rr = RoundRobin()
    assert choose_partition(Message(stream="s", partition=2, partitioner="key"), "s", 4, rr) == 2
    assert choose_partition(Message(stream="s"), "s", 4, rr) == 0
    assert (
        choose_partition(Message(stream="s", key="k", partitioner="key"), "s", 4, rr) == zlib.crc32(b"k") % 4
    )
    with pytest.raises(ValueError, match="partitioner returned 9"):
        choose_partition(Message(stream="s", partitioner=lambda k, n: 9), "s", 4, rr)


def test_a_key_without_partition_or_partitioner_goes_to_the_key_partition() -> None:
    rr = RoundRobin()
    keys = [f"customer-{i}".encode() for i in range(24)]
    chosen = [choose_partition(Message(stream="s", key=k), "s", 5, rr) for k in keys]
    assert chosen == [(zlib.crc32(k) & 0xFFFFFFFF) % 5 for k in keys] and len(set(chosen)) > 1
    assert all(partitioned_by_count(Message(stream="s", key=k)) for k in keys), "it needs the count"
    assert choose_partition(Message(stream="s", key="k", partition=3), "s", 5, rr) == 3, "explicit wins"
    assert [choose_partition(Message(stream="s", key="k", partitioner="round_robin"), "s", 5, rr)
            for _ in range(2)] == [0, 1], "a partitioner wins"  # fmt: skip
    for unkeyed in (Message(stream="s"), Message(stream="s", key="")):
        assert choose_partition(unkeyed, "s", 5, rr) == 0 and not partitioned_by_count(unkeyed)
    assert not partitioned_by_count(Message(stream="s", key="k", partition=0))


def test_cursor_key_uses_commas() -> None:
    assert cursor_key("c", "s", 3) == b"c,s,3"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost", "localhost:9292"),
        ("h:1", "h:1"),
        (" h:2 ", "h:2"),
        ("[::1]:3", "[::1]:3"),
        ("[::1]", "[::1]:9292"),
    ],
)
def test_normalize_address(given: str, expected: str) -> None:
    assert normalize_address(given) == expected


@pytest.mark.parametrize("bad", ["", "  ", "a b:1", "h:0", "h:99999", "h:x", ":1"])
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(ValueError, match=r"a broker address is 'host:port'.*" + re.escape(repr(bad))):
        normalize_address(bad)


def _metadata(*brokers: tuple[str, str, int]) -> Metadata:
    never = EventTimes(None, None)
    part = PartitionInfo(
        "s", 0, brokers[0][0], (brokers[0][0],), (brokers[0][0],), 1, 1, False, False, never, never, never
    )
    return Metadata(
        tuple(BrokerInfo(i, h, p, 1, 1) for i, h, p in brokers),
        {"s": StreamInfo("s", "s", {0: part}, None)},
    )


def test_unroutable_advertised_host_maps_to_the_dialled_address() -> None:
    cache = MetadataCache(["localhost:32768"])
    cache.update(_metadata(("b1", "0.0.0.0", 9292)), "localhost:32768", streams=None)
    assert cache.leader_address("s", 0) == "localhost:32768"  # one broker: the published port
    cache.update(_metadata(("b1", "0.0.0.0", 9292), ("b2", "::", 9293)), "10.0.0.5:9292", streams=None)
    assert cache.broker_address("b2") == "10.0.0.5:9293"
    cache.update(_metadata(("b1", "127.0.0.1", 5000)), "localhost:32768", streams=None)
    assert cache.addresses() == ["127.0.0.1:5000", "localhost:32768"]
    assert cache.partition_count("s") == 1 and cache.partition("s", 1) is None
