"""Widgets at the state level against the real server: set values, click, read what is shown."""

from __future__ import annotations

import json
import threading
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from liftbridge_nb import Lift, Message, Stream
from liftbridge_nb.server import LocalCluster
from liftbridge_nb.widgets import ClusterView, LiveTail, PublishForm, StreamBrowser
from tests import faults
from tests.polling import wait_for


@pytest.fixture
def filled(client: Lift, stream_name: str) -> str:
    """A 2-partition stream: 30 JSON messages on partition 0, 5 binary ones on partition 1."""
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    json_rows = [json.dumps({"n": i, "big": "x" * 500}) for i in range(30)]
    client.publish_many(
        [Message(stream=stream_name, key=f"k{i}", value=v, partition=0) for i, v in enumerate(json_rows)]
    )
    binary = [bytes([0xFF, i]) for i in range(5)]
    client.publish_many(
        [Message(stream=stream_name, value=b, partition=1, headers={"h": "v"}) for b in binary]
    )
    return stream_name


def test_browser_pages_from_the_server(client: Lift, filled: str) -> None:
    browser = StreamBrowser(client, filled, page_size=10)
    assert filled in browser.stream.options and browser.partition.options == ("all", 0, 1)
    shown = browser.to_dataframe()
    assert sorted(zip(shown["partition"], shown["offset"], strict=True)) == [(0, i) for i in range(10)] + [
        (1, i) for i in range(5)
    ]
    assert "15 scanned, 15 matched" in browser.status.value
    assert "x" * 100 not in browser.table.value, "large values are previewed, not dumped"
    browser.partition.value = 0
    browser.go_button.click()
    browser.next_button.click()
    assert list(browser.to_dataframe()["offset"]) == list(range(10, 20))
    assert browser.code.value == f"read_stream({filled!r}, 10, 20, partitions=[0])"
    browser.prev_button.click()
    assert list(browser.to_dataframe()["offset"]) == list(range(10))
    browser.mode.value = "newest"
    browser.newest.value = 3
    browser.page_size.value = 3
    browser.go_button.click()
    assert list(browser.to_dataframe()["offset"]) == [27, 28, 29]
    browser.filter.value = '"n": 28'
    assert list(browser.to_dataframe()["offset"]) == [28] and "3 scanned, 1 matched" in browser.status.value
    assert "&quot;n&quot;: 28" in browser.detail.value and "lift-hex" in browser.detail.value
    browser.filter.value = ""
    browser.partition.value = 1
    browser.mode.value = "offset"
    browser.start_offset.value = 2
    browser.go_button.click()
    assert list(browser.to_dataframe()["offset"]) == [2, 3, 4]
    assert (
        "0xff02" in browser.table.value and "ff 02" in browser.detail.value and "h: v" in browser.detail.value
    )


def test_browser_errors_stay_inside(client: Lift, filled: str) -> None:
    missing = StreamBrowser(client, "no-such-stream")
    assert "lift-error" in missing.status.value and "no-such-stream" in missing.status.value
    browser = StreamBrowser(client, filled)
    browser.mode.value = "offset"
    browser.start_offset.value = -5
    browser.go_button.click()
    assert "must be &gt;= 0" in browser.status.value
    browser.start_offset.value = 0
    browser.go_button.click()
    assert "lift-error" not in browser.status.value, "still usable after an error"


def test_browser_time_box_reads_local_time(client: Lift, filled: str, local_zone: timezone) -> None:
    browser = StreamBrowser(client, filled, page_size=5)
    browser.partition.value = 0
    browser.mode.value = "time"
    now = datetime.now(local_zone)
    # In the placeholder's format (to the minute), naive: local time, 5 h 30 ahead of UTC here.
    browser.start_time.value = f"{now - timedelta(minutes=1):%Y-%m-%dT%H:%M}"
    assert browser.start_time.placeholder == "2026-11-30T08:00"
    browser.go_button.click()
    assert list(browser.to_dataframe()["offset"]) == [0, 1, 2, 3, 4], browser.status.value
    browser.start_time.value = f"{now + timedelta(minutes=2):%Y-%m-%dT%H:%M}"
    browser.go_button.click()
    assert browser.to_dataframe().empty and "lift-error" not in browser.status.value
    for bad, why in (("yesterday-ish", "not a time: &#x27;yesterday-ish&#x27;"), ("", "give a start time"),
                     ("9999-01-01", "out of range")):  # fmt: skip
        browser.start_time.value = bad
        browser.go_button.click()
        assert "lift-error" in browser.status.value and why in browser.status.value, browser.status.value


def test_live_tail_follows_new_messages_in_the_background(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    tail = LiveTail(client, stream_name, window=5)
    assert tail.running
    for i in range(8):  # published from the test's own thread while the tail reads
        client.publish(Message(stream=stream_name, value=f"m{i}", partition=i % 2))
    wait_for(lambda: tail.received == 8 or None, timeout=20, what="the tail to see 8 messages")
    window = tail.to_dataframe()
    values = [v.decode() for v in window["value"]]
    assert len(values) == 5 and len(set(values)) == 5 and {"m6", "m7"} <= set(values), values
    newest: dict[int, list[int]] = {}
    for partition, offset in zip(window["partition"], window["offset"], strict=True):
        newest.setdefault(int(partition), []).append(int(offset))
    newest = {p: sorted(offsets) for p, offsets in newest.items()}
    # Each partition has offsets 0-3; the window keeps the newest received, so each one's last few.
    assert all(offsets == list(range(4 - len(offsets), 4)) for offsets in newest.values()), newest
    wait_for(
        lambda: ("m7" in tail.table.value and "m6" in tail.table.value) or None, timeout=10, what="the view"
    )
    tail.toggle_pause()
    frozen = tail.table.value
    client.publish(Message(stream=stream_name, value="while paused"))
    wait_for(lambda: tail.received == 9 or None, timeout=20, what="the paused tail to keep counting")
    assert tail.table.value == frozen
    tail.toggle_pause()
    assert "while paused" in tail.table.value
    tail.stop()
    wait_for(lambda: (not tail.running) or None, timeout=10, what="the tail to stop")
    assert "msg/s" in tail.rate.value


def test_live_tail_stops_by_itself(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    tail = LiveTail(client, stream_name, max_messages=3)
    done = threading.Event()
    for i in range(5):
        client.publish(Message(stream=stream_name, value=str(i)))
    wait_for(lambda: (not tail.running) or None, timeout=20, what="the bound to stop the tail")
    done.set()
    assert tail.received == 3 and "after 3 messages" in tail.status.value
    short = LiveTail(client, stream_name, max_seconds=1)
    wait_for(lambda: (not short.running) or None, timeout=20, what="the time bound")
    assert "after 1 s" in short.status.value


def test_cluster_view(client: Lift, filled: str) -> None:
    view = ClusterView(client)
    assert "1 broker," in view.status.value and filled in view.partitions.value
    assert "node0" in view.brokers.value and view.under_replicated == []
    view.auto.value = True
    view.interval.value = 0.5
    client.create_stream(Stream(subject=f"{filled}-b", name=f"{filled}-b"))
    wait_for(lambda: f"{filled}-b" in view.partitions.value or None, timeout=20, what="auto-refresh")
    view.close()


def test_publish_form(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
    form = PublishForm(client, stream_name)
    form.value.value = '{"hello": 1}'
    form.headers.value = "a=1\nb=2"
    form.partition.value = 1
    form.ack.value = "all"
    form.publish_button.click()
    assert form.result.value == "acked: partition 1, offset 0"
    form.headers.value = "broken"
    form.publish_button.click()
    assert "lift-error" in form.result.value and "key=value" in form.result.value
    form.headers.value = ""
    form.partition.value = 7
    form.publish_button.click()
    assert "ErrNoSuchPartition" in form.result.value
    form.partition.value = -1
    form.publish_button.click()
    assert form.result.value == "acked: partition 0, offset 0", "usable again after errors"
    form.key.value = "customer-1"  # partition -1 with a key: the key's partition (CRC-32), as everywhere
    form.publish_button.click()
    assert form.result.value == f"acked: partition {zlib.crc32(b'customer-1') % 2}, offset 1"


@pytest.mark.cluster
def test_live_tail_follows_two_leader_kills(cluster: LocalCluster, stream_name: str) -> None:
    with Lift(addresses=cluster.addresses) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        faults.wait_in_isr(cluster, stream_name)
        tail = LiveTail(client, stream_name, window=100)
        try:
            for round_ in range(3):
                for i in range(20):
                    message = Message(stream=stream_name, value=f"{round_}-{i}", ack_policy="all")
                    faults.publish_until_acked(client, message)
                if round_ < 2:
                    faults.rejoin(cluster, stream_name, faults.kill_leader(cluster, stream_name))
            # A publish retried after a timeout may be stored twice: the log, not the count, is the truth.
            log = faults.read_log(client, stream_name)
            wait_for(lambda: tail.received >= len(log) or None, timeout=90, what="the whole log in the tail")
            assert tail.running
            shown = tail.to_dataframe()
        finally:
            tail.stop()
    assert shown["offset"].tolist() == [m.offset for m in log] == list(range(len(log))), "no gap, no dup"
    assert tail.received == len(log) >= 60
    assert {f"{r}-{i}" for r in range(3) for i in range(20)} <= set(shown["value"].map(bytes.decode))
