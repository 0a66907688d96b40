"""read_stream against the real server: ranges, decoders, ordering, chunks, engines, interruption."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from liftbridge_nb import (
    Ack,
    ErrDecode,
    ErrNoSuchPartition,
    ErrOutOfRange,
    Lift,
    Message,
    Stream,
    Subscription,
)
from liftbridge_nb.frames import COLUMNS, HINTS, LEAD, TRAIL, read_stream
from liftbridge_nb.models import from_unix_ns
from liftbridge_nb.server import LocalCluster
from tests import faults
from tests.kernel import Kernel
from tests.polling import wait_for


@dataclass
class Data:
    stream: str
    acks: list[Ack]
    values: list[bytes]


@pytest.fixture(scope="module")
def data(server_address: str) -> Iterator[Data]:
    """A 3-partition stream: 30 JSON orders keyed by customer, then a text and a binary value."""
    name = f"frames-{os.getpid()}-{zlib.crc32(server_address.encode())}"
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=name, name=name, partitions=3))
        messages = [
            Message(
                stream=name,
                key=f"customer-{i % 7}",
                partitioner="key",
                value=json.dumps({"order": i, "amount": i * 2.5, "customer": {"id": i % 7, "tier": "gold"}}),
                headers={"source": "test"},
            )
            for i in range(30)
        ]
        messages.append(Message(stream=name, value="plain text", partition=1))
        messages.append(Message(stream=name, value=b"\xff\x00binary", partition=2))
        acks = [client.publish(m) for m in messages]
        assert all(a is not None for a in acks)
        yield Data(name, [a for a in acks if a], [m.value for m in messages])


def test_whole_stream_columns_order_and_dtypes(client: Lift, data: Data) -> None:
    df = read_stream(data.stream, client=client, progress=False)
    fields = ["value.order", "value.amount", "value.customer.id", "value.customer.tier"]
    assert list(df.columns) == [*LEAD, *fields, *TRAIL], "what to look at first, raw values after"
    assert LEAD == ["partition", "offset", "timestamp", "key"]
    assert TRAIL == ["value", "headers", "stream", "subject", "reply_subject"]
    # Two values are no JSON objects: their rows lack the integer fields, which stay integers.
    assert {c: str(df[c].dtype) for c in fields[:3]} == {
        "value.order": "Int64", "value.amount": "float64", "value.customer.id": "Int64"
    }  # fmt: skip
    assert sorted(df["value.order"].dropna().tolist()) == list(range(30))
    assert len(df) == 32 and list(df.index) == list(range(32))
    assert str(df["partition"].dtype) == "int32" and str(df["offset"].dtype) == "int64"
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    ordered = df.sort_values(["timestamp", "partition", "offset"], kind="stable")
    assert list(ordered.index) == list(range(32))
    stamps = {(a.partition, a.offset): a.reception_timestamp for a in data.acks}
    ns = df["timestamp"].astype("int64")
    assert [stamps[(int(p), int(o))] for p, o in zip(df["partition"], df["offset"], strict=True)] == list(ns)
    json_rows = df[df["value.order"].notna()]
    assert len(json_rows) == 30 and (json_rows["headers"] == {"source": "test"}).all(), "text, as the values"
    for partition, key, text, order in zip(
        json_rows["partition"], json_rows["key"], json_rows["value"], json_rows["value.order"], strict=True
    ):
        assert partition == zlib.crc32(str(key).encode()) % 3, "the key partitioner's partition"
        assert json.loads(str(text))["order"] == order
    assert "plain text" in set(df["value"])
    assert b"\xff\x00binary" in set(df["value"].map(lambda v: v if isinstance(v, bytes) else None))


def test_a_frame_holds_nothing_in_pyarrows_default_pool(client: Lift, stream_name: str) -> None:
    # Its Arrow buffers come from malloc: pyarrow's default pool (mimalloc) keeps what is freed, and
    # a read of 1M rows peaked 34 MiB higher with them there, and kept 80 MiB once the frame was gone.
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    text = [Message(stream=stream_name, value=f"text {i}", partition=0) for i in range(3000)]
    objects = [Message(stream=stream_name, value=json.dumps({"n": i}), partition=1) for i in range(3000)]
    client.publish_many(text + objects)
    pool = pa.default_memory_pool()
    for partitions in ([0], [1], None):  # text, JSON objects, both (rows sorted by time)
        before = pool.bytes_allocated()
        df = read_stream(stream_name, partitions=partitions, client=client, progress=False)
        assert len(df) == 3000 * (2 if partitions is None else 1)
        assert str(df["subject"].dtype) == str(df["stream"].dtype) == "str"
        grown = pool.bytes_allocated() - before  # a scalar or two; a column would be 8 bytes a row or more
        assert grown < len(df), (partitions, grown)


def test_offset_ranges_are_half_open_and_exact(client: Lift, data: Data) -> None:
    df = read_stream(data.stream, 2, 5, client=client, progress=False)
    assert sorted(df.groupby("partition")["offset"].apply(list).tolist()) == [[2, 3, 4]] * 3
    assert read_stream(data.stream, 4, 4, client=client, progress=False).empty
    one = read_stream(data.stream, 0, 1, partitions=[1], client=client, progress=False)
    assert list(one["offset"]) == [0] and list(one["partition"]) == [1]
    assert len(read_stream(data.stream, "latest", client=client, progress=False)) == 3
    assert len(read_stream(data.stream, 0, 10**9, client=client, progress=False)) == 32
    with pytest.raises(ValueError, match="after end"):
        read_stream(data.stream, 5, 2, client=client, progress=False)


def test_positions_per_partition_read_those_partitions_each_from_its_own(client: Lift, data: Data) -> None:
    """``{partition: position}`` for start and end (what the stream browser's code line gives)."""
    df = read_stream(data.stream, {0: 1, 2: 3}, {0: 4, 2: 5}, client=client, progress=False)
    assert {p: list(g["offset"]) for p, g in df.groupby("partition")} == {0: [1, 2, 3], 2: [3, 4]}
    assert list(df.sort_values(["timestamp", "partition", "offset"]).index) == list(df.index)
    # One side a mapping, the other one position for each: the mapping names the partitions.
    tail = read_stream(data.stream, {1: 2}, client=client, progress=False)
    assert list(tail["partition"].unique()) == [1] and tail["offset"].min() == 2
    stamps = sorted(a.reception_timestamp for a in data.acks if a.partition == 0)
    early = pd.Timestamp(stamps[2], unit="ns", tz="UTC")
    timed = read_stream(data.stream, {0: early}, {0: "latest"}, client=client, progress=False)
    assert list(timed["partition"].unique()) == [0] and timed["offset"].min() == 2
    with pytest.raises(ValueError, match=r"start maps partitions \[0, 2\] but end maps \[0\]"):
        read_stream(data.stream, {0: 1, 2: 3}, {0: 4}, client=client)
    with pytest.raises(ValueError, match="leave partitions= out"):
        read_stream(data.stream, {0: 1}, partitions=[1], client=client)
    with pytest.raises(ErrOutOfRange, match="start offset 5 of partition 0 is after end offset 2"):
        read_stream(data.stream, {0: 5}, {0: 2}, client=client)
    with pytest.raises(ErrOutOfRange, match="start offset 999 of partition 2 is past its end"):
        read_stream(data.stream, {0: 0, 2: 999}, client=client)
    with pytest.raises(ValueError, match=r"start\[1\] offset must be >= 0"):
        read_stream(data.stream, {1: -1}, client=client)
    with pytest.raises(TypeError, match="maps partition numbers"):
        read_stream(data.stream, {"0": 1}, client=client)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="empty mapping"):
        read_stream(data.stream, {}, client=client)
    with pytest.raises(ErrNoSuchPartition, match="no partition 3"):
        read_stream(data.stream, {3: 0}, client=client)


def test_time_and_relative_ranges(client: Lift, data: Data) -> None:
    stamps = sorted(a.reception_timestamp for a in data.acks)
    lo, hi = stamps[10], stamps[20]
    start, end = pd.Timestamp(lo, unit="ns", tz="UTC"), pd.Timestamp(hi, unit="ns", tz="UTC")
    df = read_stream(data.stream, start, end, client=client, progress=False)
    assert sorted(t.value for t in df["timestamp"]) == stamps[10:20], "[start, end) to the nanosecond"
    iso = from_unix_ns(lo).isoformat()
    assert len(read_stream(data.stream, iso, client=client, progress=False)) >= 22
    assert len(read_stream(data.stream, timedelta(hours=1), client=client, progress=False)) == 32
    assert read_stream(
        data.stream, datetime.now(UTC) + timedelta(hours=1), client=client, progress=False
    ).empty
    assert read_stream(data.stream, end="earliest", client=client, progress=False).empty
    with pytest.raises(ValueError, match="after end"):
        read_stream(data.stream, timedelta(minutes=1), timedelta(hours=1), client=client, progress=False)


def test_naive_times_are_local_time(client: Lift, data: Data, local_zone: timezone) -> None:
    stamps = sorted(a.reception_timestamp for a in data.acks)
    # Between two messages' times (they are far more than a microsecond apart), as naive local times.
    start, end = (
        pd.Timestamp((stamps[i - 1] + stamps[i]) // 2, unit="ns", tz="UTC")
        .tz_convert(local_zone)
        .tz_localize(None)
        for i in (10, 20)
    )
    for naive in (
        (start, end),
        (start.isoformat(), end.isoformat()),
        (start.floor("us").to_pydatetime(), end.floor("us").to_pydatetime()),
    ):
        df = read_stream(data.stream, *naive, client=client, progress=False)
        assert sorted(t.value for t in df["timestamp"]) == stamps[10:20], f"read as local time: {naive}"


def test_empty_results_keep_their_columns(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    df = read_stream(stream_name, client=client, progress=False)
    assert df.empty and list(df.columns) == COLUMNS
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]" and str(df["partition"].dtype) == "int32"


def test_decoders_and_errors(client: Lift, data: Data) -> None:
    with pytest.raises(ErrDecode, match=r"partition 2 offset \d+: value not UTF-8") as info:
        read_stream(data.stream, client=client, value="utf8", progress=False)
    assert info.value.partition == 2
    coerced = read_stream(data.stream, client=client, value="json", errors="coerce", progress=False)
    bad = coerced[coerced["decode_error"].notna()]
    assert len(bad) == 2 and all(r.startswith("value not JSON") for r in bad["decode_error"])
    assert b"\xff\x00binary" in list(bad["value"])
    raw = read_stream(data.stream, client=client, value="bytes", key="bytes", progress=False)
    assert all(isinstance(v, bytes) for v in raw["value"]) and "value.order" not in raw
    assert list(raw["headers"].iloc[:1]) == [{"source": b"test"}], "raw values, raw headers"
    assert list(coerced.columns).index("decode_error") == list(coerced.columns).index("value") + 1
    nested = read_stream(
        data.stream, 0, 1, client=client, value="json", flatten=False, errors="coerce", progress=False
    )
    assert all(
        isinstance(v, dict) and v["customer"]["tier"] == "gold"
        for v in nested["value"]
        if isinstance(v, dict)
    )
    lengths = read_stream(data.stream, client=client, value=len, progress=False)
    assert set(lengths["value"]) >= {len("plain text")}
    with pytest.raises(ValueError, match="value must be one of"):
        read_stream(data.stream, client=client, value="yaml")  # type: ignore[call-overload]


def test_chunks_and_engines(client: Lift, data: Data) -> None:
    whole = read_stream(data.stream, client=client, progress=False)
    chunks = list(read_stream(data.stream, client=client, chunksize=10, progress=False))
    assert [len(c) for c in chunks] == [10, 10, 10, 2]
    joined = pd.concat(chunks, ignore_index=True)
    assert list(zip(joined["partition"], joined["offset"], strict=True)) == list(
        zip(whole["partition"], whole["offset"], strict=True)
    )
    assert len(read_stream(data.stream, client=client, max_messages=7, progress=False)) == 7
    assert (
        sum(
            len(c)
            for c in read_stream(data.stream, client=client, chunksize=5, max_messages=12, progress=False)
        )
        == 12
    )
    table = read_stream(data.stream, client=client, engine="arrow", value="bytes", progress=False)
    assert (
        isinstance(table, pa.Table)
        and table.num_rows == 32
        and table.schema.field("offset").type == pa.int64()
    )
    import polars as pl

    frame = read_stream(data.stream, client=client, engine="polars", value="bytes", progress=False)
    assert isinstance(frame, pl.DataFrame) and frame.height == 32


def test_ctrl_c_stops_every_partition_read(
    client: Lift, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=3))
    client.publish_many(
        [
            Message(stream=stream_name, value=b"x" * 100, partition=i % 3, ack_policy="none")
            for i in range(90000)
        ]
    )
    wait_for(
        lambda: (
            sum(client.fetch_partition_metadata(stream_name, p).high_watermark + 1 for p in range(3)) == 90000
            or None
        ),
        timeout=30,
        what="every message stored",
    )
    opened = []
    original = Lift._subscribe

    def recording(self: Lift, *args: object, **kwargs: object) -> object:
        sub = original(self, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(sub)
        return sub

    first_batch = Subscription.next_batch

    def interrupted(self: Subscription) -> object:
        batch = first_batch(self)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C once the first batch is in: every partition is open
        return batch

    monkeypatch.setattr(Lift, "_subscribe", recording)
    monkeypatch.setattr(Subscription, "next_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_stream(stream_name, client=client, progress=False)
    assert len(opened) == 3 and all(s.closed for s in opened), "every partition is read at once; all closed"
    wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("read_stream")] or None,
             timeout=10, what="the partition readers to stop")  # fmt: skip


def test_progress_bars_show_the_total(client: Lift, data: Data, capsys: pytest.CaptureFixture[str]) -> None:
    def bar(**kwargs: object) -> str:
        got = read_stream(data.stream, client=client, progress=True, **kwargs)  # type: ignore[call-overload]
        if "chunksize" in kwargs:
            list(got)
        return capsys.readouterr().err.rsplit("\r", 1)[-1]  # the bar's last state

    per_partition = [sum(a.partition == p for a in data.acks) for p in range(3)]
    assert "| 32/32 [" in bar()  # from the oldest offset, which the server does not tell up front
    assert f"| {per_partition[1]}/{per_partition[1]} [" in bar(partitions=[1])
    assert "| 12/12 [" in bar(start=datetime.now(UTC) - timedelta(hours=1), max_messages=4)  # 4 of each
    assert "| 32/32 [" in bar(chunksize=10)
    assert "| 7/7 [" in bar(chunksize=5, max_messages=7)
    assert "| 3/3 [" in bar(start="latest")


BIG = 150_000  # small messages: long enough a read to be interrupted in the middle


@pytest.fixture(scope="module")
def big(server_address: str) -> str:
    """A 2-partition stream of BIG small messages."""
    name = f"frames-big-{uuid.uuid4().hex[:8]}"
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=name, name=name, partitions=2))
        client.publish_many(
            [Message(stream=name, value=b"%d" % i, partition=i % 2, ack_policy="none") for i in range(BIG)]
        )
        wait_for(
            lambda: (
                sum(client.fetch_partition_metadata(name, p).high_watermark + 1 for p in range(2)) == BIG
                or None
            ),
            timeout=120,
            what="every message stored",
        )
    return name


@pytest.mark.parametrize("how", ["function", "magic"])
def test_ctrl_c_in_a_cell_prints_one_line(
    kernel: Kernel, server_address: str, big: str, how: str, tmp_path: Path
) -> None:
    marker = tmp_path / "subscribed"
    kernel.run(
        "from pathlib import Path\n"
        "from liftbridge_nb import Lift, read_stream\n"
        "%load_ext liftbridge_nb.magics\n"
        f"%lift_connect {server_address}\n"
        f"marker = Path({str(marker)!r})\n"
        "if not hasattr(Lift, 'unmarked'):\n"
        "    Lift.unmarked = Lift._subscribe\n"
        "    def marking(self, *args, **kwargs):  # tells the test that reading has begun\n"
        "        marker.touch()\n"
        "        kwargs['stop'] = None  # and keeps it reading: the interrupt lands in a read, however fast\n"
        "        return Lift.unmarked(self, *args, **kwargs)\n"
        "    Lift._subscribe = marking\n"
    )
    read = f"read_stream({big!r}, address={server_address!r}, progress=False)"
    code = {"function": f"df = {read}", "magic": f"df = %lift_read {big} --no-progress"}[how]
    cell, latency = kernel.run_and_interrupt(code, lambda _: marker.exists())
    line = re.fullmatch(r"read_stream interrupted after ([\d,]+) of (at most )?150,000 messages", cell.shown)
    assert line, f"one line, nothing else: {cell.shown!r}"
    assert int(line.group(1).replace(",", "")) <= BIG
    assert cell.error and cell.error["ename"] == "ReadInterrupted"
    assert latency < 5, "stops at once (a bound against a hang: about 0.1 s)"
    after = kernel.run("print('next')")  # what a reader prints late lands here
    assert after.shown == "next\n" and after.stderr == ""
    if how == "function":
        marker.unlink()
        caught, _ = kernel.run_and_interrupt(
            f"try:\n    {read}\n"
            "except KeyboardInterrupt as exc:\n"
            "    print(type(exc).__name__, 0 <= exc.read < exc.total if exc.total else exc.read >= 0)",
            lambda _: marker.exists(),
        )
        assert caught.shown == "ReadInterrupted True\n" and caught.status == "ok"


def test_bad_arguments(client: Lift, data: Data) -> None:
    with pytest.raises(ErrNoSuchPartition, match="no partition 3"):
        read_stream(data.stream, partitions=[3], client=client)
    with pytest.raises(ValueError, match="start offset must be >= 0, not -1"):
        read_stream(data.stream, -1, client=client)
    with pytest.raises(TypeError, match="start takes an offset, a datetime"):
        read_stream(data.stream, 1.5, client=client)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="not a position"):
        read_stream(data.stream, "yesterday-ish", client=client)
    with pytest.raises(ValueError, match="engine"):
        read_stream(data.stream, client=client, engine="excel")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"partitions lists partition 0 more than once \(list each once\)"):
        read_stream(data.stream, partitions=[0, 1, 0], client=client)  # it returned every row of 0 twice
    with pytest.raises(ValueError, match="give client= or address=, not both"):
        read_stream(data.stream, client=client, address="127.0.0.1:1")  # the address was ignored
    with pytest.raises(ValueError, match="a timedelta is how long ago, so >= 0"):
        read_stream(data.stream, timedelta(hours=-1), client=client)  # read nothing, silently
    with pytest.raises(ValueError, match=r"end=.* is a time to come"):
        read_stream(data.stream, end=timedelta(seconds=-1), client=client)
    with pytest.raises(ValueError, match="start: expected a datetime, not NaT"):
        read_stream(data.stream, pd.NaT, client=client)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="end: time 9999-01-01 00:00:00 is out of range"):
        read_stream(data.stream, end=datetime(9999, 1, 1), client=client)
    with pytest.raises(
        ValueError, match=r"partition must be an int >= 0 \(and below 2\*\*31\), not 2147483648"
    ):
        read_stream(data.stream, partitions=[2**31], client=client)
    assert len(read_stream(data.stream, partitions=(2, 0), client=client, progress=False)) == sum(
        a.partition in (0, 2) for a in data.acks
    )


def test_past_the_end_is_one_typed_line_in_a_cell(kernel: Kernel, server_address: str, data: Data) -> None:
    kernel.run(f"from liftbridge_nb import read_stream, ErrOutOfRange; address = {server_address!r}")
    cell = kernel.run(f"read_stream({data.stream!r}, 10**6, address=address)")
    assert cell.error is not None and cell.error["ename"] == "ErrOutOfRange"
    ends = ", ".join(f"{p}: {1 + max(a.offset for a in data.acks if a.partition == p)}" for p in range(3))
    assert cell.shown == (
        f"ErrOutOfRange: start offset 1000000 is past the end of {data.stream!r} "
        f"(next offset by partition: {ends}); {HINTS['past_end']}"
    )
    caught = kernel.run(
        f"try:\n    read_stream({data.stream!r}, 5, 2, address=address)\n"
        "except ValueError as exc:\n    print(type(exc).__name__, exc)"
    )
    assert (
        caught.shown
        == "ErrOutOfRange start offset 5 is after end offset 2: " + HINTS["start_after_end"] + "\n"
    )


def test_dask_engine_on_a_two_worker_cluster(client: Lift, data: Data) -> None:
    from distributed import Client, LocalCluster

    lazy = read_stream(data.stream, client=client, engine="dask", value="bytes", chunksize=4)
    sizes = pd.Series([a.partition for a in data.acks]).value_counts()
    assert lazy.npartitions == sum(-(-n // 4) for n in sizes), "a task per partition and 4 offsets"
    two_workers = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with two_workers as cluster, Client(cluster):  # type: ignore[no-untyped-call]
        computed = lazy.compute()
    expected = read_stream(data.stream, client=client, value="bytes", progress=False)
    key = ["partition", "offset"]
    got = computed.sort_values(key).reset_index(drop=True)
    want = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want)
    empty = read_stream(data.stream, 4, 4, client=client, engine="dask")
    assert len(empty.compute()) == 0
    with pytest.raises(ValueError, match="past the end"):
        read_stream(data.stream, 10**6, client=client, engine="dask")


@pytest.mark.cluster
def test_a_leader_killed_mid_read_leaves_the_frame_exact(cluster: LocalCluster, stream_name: str) -> None:
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        values = [f"{i:05d}".encode() for i in range(40_000)]
        client.publish_many([Message(stream=stream_name, value=v, ack_policy="all") for v in values])
        chunks: list[pd.DataFrame] = []
        for chunk in read_stream(stream_name, client=client, value="bytes", chunksize=4_000, progress=False):
            if not chunks:
                killed = faults.kill_leader(cluster, stream_name)
            chunks.append(chunk)
        frame = pd.concat(chunks, ignore_index=True)
        faults.rejoin(cluster, stream_name, killed)
    assert len(chunks) == 10
    assert frame["offset"].tolist() == list(range(40_000))
    assert frame["value"].tolist() == values
