"""planning: read ranges from positions, against a real server (the stream browser's public API)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from liftbridge_nb import ErrPartitionPaused, Lift, Message, Start, Stream
from liftbridge_nb.planning import first_offset_at, high_watermark, plan_range
from tests.polling import wait_for


def test_ranges_from_offsets_names_and_times(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    empty = plan_range(client, stream_name, 0, None, None, 5)
    assert empty.empty and high_watermark(client, stream_name, 0, 5) == -1
    client.publish_many([Message(stream=stream_name, value=str(i)) for i in range(10)])
    wait_for(lambda: high_watermark(client, stream_name, 0, 5) == 9 or None, timeout=10, what="ten stored")
    everything = plan_range(client, stream_name, 0, None, None, 5)
    assert (everything.start, everything.end, everything.first, everything.next) == (
        Start.earliest(),
        10,
        None,
        10,
    )
    middle = plan_range(client, stream_name, 0, 3, 7, 5)
    assert (middle.start, middle.end, middle.first) == (Start.at_offset(3), 7, 3)
    latest = plan_range(client, stream_name, 0, "latest", None, 5)
    assert (latest.first, latest.end) == (9, 10)
    past = plan_range(client, stream_name, 0, 20, None, 5)
    assert past.empty, "a start past the end reads nothing"
    future = plan_range(client, stream_name, 0, None, timedelta(0), 5)
    assert future.end == 10, "an end of now takes everything stored"
    first = client.fetch_partition_metadata(stream_name, 0).messages_received.first
    assert first is not None
    assert first_offset_at(client, stream_name, 0, first - timedelta(hours=1), 9) == 0
    assert first_offset_at(client, stream_name, 0, first + timedelta(hours=1), 9) == 10, (
        "none after: last + 1"
    )


def test_a_paused_partition_says_so(client: Lift, stream_name: str) -> None:
    client.create_stream(Stream(subject=stream_name, name=stream_name))
    client.publish(Message(stream=stream_name, value="x"))
    client.pause_stream(stream_name)
    with pytest.raises(ErrPartitionPaused, match="is paused and read_stream does not resume it"):
        plan_range(client, stream_name, 0, None, None, 5)
