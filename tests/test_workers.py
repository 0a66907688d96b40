"""read_stream's worker processes, against the real server: the same frame as one process, and failures."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from liftbridge_nb import ErrNoSuchPartition, Lift, Message, Stream, frames
from liftbridge_nb._workers import Workers, read_piece
from liftbridge_nb.frames import COLUMNS, read_stream
from tests.polling import wait_for


def _fill(client: Lift, name: str) -> None:
    client.create_stream(Stream(subject=name, name=name, partitions=3))
    messages = [
        Message(stream=name, key=f"k{i % 5}", partitioner="key", headers={"n": str(i)} if i % 3 else {},
                value=json.dumps({"i": i, "even": i % 2 == 0}) if i % 4 else f"text {i}")
        for i in range(3000)
    ]  # fmt: skip
    messages.append(Message(stream=name, value=b"\xff\x00binary", partition=2))
    client.publish_many(messages)


def test_workers_read_what_one_process_reads(
    client: Lift, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client, stream_name)
    monkeypatch.setattr(frames, "_PIECE_MIN", 150)  # several stretches per partition, in any order
    alone = read_stream(stream_name, client=client, progress=False, workers=1)
    parallel = read_stream(stream_name, client=client, progress=False, workers=3)
    pd.testing.assert_frame_equal(parallel, alone)
    assert len(alone) == 3001 and {"value.i", "value.even"} <= set(alone.columns)
    assert str(alone["value.i"].dtype) == "Int64", "a quarter of the values are text: ints stay ints"
    assert alone["headers"].map(lambda h: all(isinstance(v, str) for v in h.values())).all()
    middle = read_stream(stream_name, 100, 700, client=client, progress=False, workers=2)
    pd.testing.assert_frame_equal(middle, read_stream(stream_name, 100, 700, client=client, progress=False))
    later = read_stream(
        stream_name, datetime.now(UTC) + timedelta(hours=1), client=client, progress=False, workers=2
    )
    assert later.empty and list(later.columns) == COLUMNS  # nothing at or after that time: no worker started


def test_large_reads_use_workers_by_default(
    client: Lift, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client, stream_name)
    started: list[int] = []

    class Spy(Workers):
        def __init__(self, n: int, lift: Lift) -> None:
            started.append(n)
            super().__init__(n, lift)

    monkeypatch.setattr(frames, "Workers", Spy)
    monkeypatch.setattr(frames, "_PARALLEL_FROM", 3000)
    monkeypatch.setattr(frames.os, "cpu_count", lambda: 8)  # type: ignore[attr-defined]
    assert len(read_stream(stream_name, 0, 500, client=client, progress=False)) == 1500
    assert started == []  # 1,500 messages: read here
    assert len(read_stream(stream_name, client=client, progress=False)) == 3001
    assert started == [3]  # up to 4 workers, but no more than there are stretches (one per partition)
    assert len(read_stream(stream_name, client=client, progress=False, max_messages=3001)) == 3001
    assert started == [3]  # a read that stops early is read here


def test_pieces_a_worker_cannot_read_come_back_unread(client: Lift, stream_name: str) -> None:
    _fill(client, stream_name)
    t = client.options.timeout
    pieces = [(0, 0, 50), (9, 0, 50), (1, 0, 50)]
    with Workers(2, client) as pool:
        got = dict(pool.read(stream_name, pieces, t))
    assert got[(9, 0, 50)] is None  # no partition 9: the worker's error
    assert [len(got[p].offset) for p in ((0, 0, 50), (1, 0, 50))] == [50, 50]  # type: ignore[union-attr]
    with pytest.raises(ErrNoSuchPartition):
        read_piece(client, stream_name, (9, 0, 50), t)  # read here, the error is typed

    with Workers(2, client) as pool:
        pool._procs[0].kill()
        got = dict(pool.read(stream_name, [(p, 0, 20) for p in range(3)] * 3, t))
    assert len(got) == 3 and all(c is None or len(c.offset) == 20 for c in got.values())
    with Workers(2, client) as pool:
        for proc in pool._procs:
            proc.kill()
        assert [c for _, c in pool.read(stream_name, [(0, 0, 10), (1, 0, 10), (2, 0, 10)], t)] == [None] * 3


def test_a_dead_worker_leaves_the_frame_exact(
    client: Lift, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client, stream_name)

    class OneDies(Workers):
        def __init__(self, n: int, lift: Lift) -> None:
            super().__init__(n, lift)
            self._procs[0].kill()

    monkeypatch.setattr(frames, "Workers", OneDies)
    monkeypatch.setattr(frames, "_PIECE_MIN", 200)
    got = read_stream(stream_name, client=client, progress=False, workers=2)
    pd.testing.assert_frame_equal(got, read_stream(stream_name, client=client, progress=False, workers=1))


def test_closing_mid_read_leaves_no_thread_error(
    client: Lift, stream_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client, stream_name)
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    tiny = [(p, i, i + 1) for i in range(200) for p in range(3)]  # the feeders always mid-exchange
    for _ in range(20):
        with Workers(2, client) as pool:
            reading = pool.read(stream_name, tiny, client.options.timeout)
            next(reading)  # a piece in, the others being read: closed now, as Ctrl-C closes it
    wait_for(
        lambda: not [t for t in threading.enumerate() if "_feed" in t.name] or None,
        timeout=10,
        what="the feeding threads to end",
    )
    assert [f"{f.exc_type.__name__}: {f.exc_value}" for f in failures] == []
