"""The stream browser's pages (widgets/_paging.py) against the real server: N rows merged by time."""

from __future__ import annotations

import functools
import os
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest

from liftbridge_nb import Lift, Message, Stream, read_stream
from liftbridge_nb.widgets._paging import Page, Pager

NEEDLE = "needle-in-the-haystack"


@dataclass
class Data:
    stream: str
    whole: pd.DataFrame  # every row, in merge order
    needles: list[tuple[int, int]]  # (partition, offset) of the values holding NEEDLE


@pytest.fixture(scope="module")
def data(server_address: str) -> Iterator[Data]:
    """3 partitions at uneven rates: all three in turn, then partition 0 alone, then 1 and 2."""
    name = f"paging-{os.getpid()}-{zlib.crc32(server_address.encode())}"
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=name, name=name, partitions=3))
        plan = [i % 3 for i in range(150)] + [0] * 100 + [1 + i % 2 for i in range(60)]
        messages = []
        for i, partition in enumerate(plan):
            text = NEEDLE if i in (40, 205, 300) else "hay"
            messages.append(Message(stream=name, partition=partition, value=f'{{"i": {i}, "s": "{text}"}}'))
        for message in messages:  # one at a time: each its own arrival time
            client.publish(message)
        whole = read_stream(name, client=client, value="bytes", key="bytes", progress=False)
        needles = [
            (int(p), int(o))
            for p, o, v in zip(whole["partition"], whole["offset"], whole["value"], strict=True)
            if NEEDLE.encode() in v
        ]
        assert len(whole) == len(plan) and len(needles) == 3
        yield Data(name, whole, needles)


def ids(rows: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(rows["partition"].astype(int), rows["offset"].astype(int), strict=True))


def reproduced(page: Page, client: Lift) -> list[tuple[int, int]]:
    """The rows of the page's code line, run as a user would (the client standing for %lift_connect's)."""
    frame = eval(page.code(), {"read_stream": functools.partial(read_stream, client=client, progress=False)})
    return ids(frame)


def test_pages_are_n_rows_in_all_in_merge_order_and_walk_the_whole_stream(client: Lift, data: Data) -> None:
    pager = Pager(client, data.stream, [0, 1, 2], size=40)
    page = pager.first()
    assert len(page.rows) == 40 and page.at_start and not page.at_end
    walked = ids(page.rows)
    assert walked == ids(data.whole)[:40]
    pages = 1
    while not page.at_end:
        page = pager.after(page)
        walked += ids(page.rows)
        pages += 1
        assert len(page.rows) == 40 or page.at_end
    assert walked == ids(data.whole)  # every row once, in order, across uneven partitions
    assert pages == -(-len(data.whole) // 40)
    assert page.total == len(data.whole) and page.before == len(data.whole) - len(page.rows)


def test_walking_back_from_the_end_gives_the_same_rows(client: Lift, data: Data) -> None:
    pager = Pager(client, data.stream, [0, 1, 2], size=25)
    page = pager.last()
    assert page.at_end and ids(page.rows) == ids(data.whole)[-25:]
    walked = ids(page.rows)
    while not page.at_start:
        page = pager.before(page)
        walked = ids(page.rows) + walked
    assert walked == ids(data.whole)


def test_the_code_line_reproduces_the_page(client: Lift, data: Data) -> None:
    pager = Pager(client, data.stream, [0, 1, 2], size=30)
    page = pager.after(pager.after(pager.first()))
    assert page.code().startswith(f"read_stream({data.stream!r}, {{0: ")
    assert reproduced(page, client) == ids(page.rows)
    one = Pager(client, data.stream, [1], size=10).first()
    assert set(one.starts) == {1} and reproduced(one, client) == ids(one.rows)


def test_the_filter_reads_on_until_the_page_is_full_and_says_how_much_it_scanned(
    client: Lift, data: Data
) -> None:
    pager = Pager(client, data.stream, [0, 1, 2], size=2, chunk=20)
    page = pager.first(NEEDLE)
    assert ids(page.rows) == data.needles[:2]  # the second lies far beyond the first chunk of each
    assert page.full and page.scanned > 20
    assert page.code().endswith(f".lift.grep({NEEDLE!r})")
    assert reproduced(page, client) == ids(page.rows)
    rest = pager.after(page)
    assert ids(rest.rows) == data.needles[2:] and rest.at_end and rest.full
    back = pager.before(rest)
    assert ids(back.rows) == data.needles[:2]


def test_a_scan_limit_or_a_stop_ends_the_filter_early_and_the_page_says_so(client: Lift, data: Data) -> None:
    limited = Pager(client, data.stream, [0, 1, 2], size=3, chunk=20, scan_limit=60).first(NEEDLE)
    assert not limited.full and limited.scanned >= 60
    assert ids(limited.rows) == data.needles[:1]  # what it found within what it read
    assert reproduced(limited, client) == ids(limited.rows)
    again = Pager(client, data.stream, [0, 1, 2], size=3, chunk=20, scan_limit=60).after(limited)
    assert not set(ids(again.rows)) & set(ids(limited.rows))  # it goes on where the scan stopped
    stop = threading.Event()
    stop.set()
    stopped = Pager(client, data.stream, [0, 1, 2], size=3, chunk=20).first("no such text", stop)
    assert not stopped.full and stopped.rows.empty and stopped.scanned <= 20


def test_a_page_at_a_time_or_at_offsets(client: Lift, data: Data) -> None:
    pager = Pager(client, data.stream, [0, 1, 2], size=10)
    middle = data.whole.iloc[200]
    page = pager.at_time(middle["timestamp"])
    assert ids(page.rows) == ids(data.whole)[200:210]
    starts = page.starts
    assert ids(pager.at_offsets(starts).rows) == ids(page.rows)
    clamped = pager.at_offsets({0: 10**6, 1: 0, 2: 0})
    assert clamped.starts[0] == clamped.bounds[0].next
