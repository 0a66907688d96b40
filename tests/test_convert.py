"""Models to protos: CreateStream options, publish defaults."""

from __future__ import annotations

from datetime import timedelta

from liftbridge_nb import Message, Stream
from liftbridge_nb._convert import create_stream_request, publish_request


def test_create_stream_sets_only_given_options_in_milliseconds() -> None:
    stream = Stream(
        subject="a",
        name="s",
        partitions=3,
        replication_factor=2,
        retention_max_age=timedelta(hours=1),
        compact_enabled=False,
        auto_pause_time=timedelta(seconds=2),
        min_isr=2,
        group="g",
    )
    req = create_stream_request(stream)
    assert (req.name, req.subject, req.partitions, req.replicationFactor, req.group) == ("s", "a", 3, 2, "g")
    assert req.retentionMaxAge.value == 3_600_000 and req.autoPauseTime.value == 2000
    assert req.HasField("compactEnabled") and req.compactEnabled.value is False
    assert req.minIsr.value == 2
    assert not req.HasField("retentionMaxBytes") and not req.HasField("encryption")
    assert create_stream_request(Stream(subject="a", name="s", max_replication=True)).replicationFactor == -1


def test_publish_defaults_expected_offset_to_minus_one() -> None:
    req = publish_request(Message("v", stream="s"), "s", 0)
    assert req.expectedOffset == -1 and req.ackPolicy == 0
    assert publish_request(Message("v", stream="s", expected_offset=0), "s", 0).expectedOffset == 0
