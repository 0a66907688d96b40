"""Proto messages <-> liftbridge_nb models: the only module besides transports that touches _proto."""

from __future__ import annotations

from ._proto import api_pb2
from .models import (
    Ack,
    AckPolicy,
    BrokerInfo,
    EventTimes,
    GroupInfo,
    Message,
    Metadata,
    PartitionInfo,
    Start,
    Stop,
    Stream,
    StreamInfo,
    from_unix_ns,
)


def create_stream_request(stream: Stream) -> api_pb2.CreateStreamRequest:
    """CreateStreamRequest for ``stream``; unset options stay unset (the server's defaults)."""
    req = api_pb2.CreateStreamRequest(
        subject=stream.subject,
        name=stream.name,
        group=stream.group or "",
        replicationFactor=-1 if stream.max_replication else stream.replication_factor,
        partitions=stream.partitions,
    )
    durations = stream.durations_ms()
    int64s = {
        "retentionMaxBytes": stream.retention_max_bytes,
        "retentionMaxMessages": stream.retention_max_messages,
        "retentionMaxAge": durations["retention_max_age"],
        "cleanerInterval": durations["cleaner_interval"],
        "segmentMaxBytes": stream.segment_max_bytes,
        "segmentMaxAge": durations["segment_max_age"],
        "autoPauseTime": durations["auto_pause_time"],
    }
    int32s = {"compactMaxGoroutines": stream.compact_max_goroutines, "minIsr": stream.min_isr}
    bools = {
        "compactEnabled": stream.compact_enabled,
        "autoPauseDisableIfSubscribers": stream.auto_pause_disable_if_subscribers,
        "optimisticConcurrencyControl": stream.optimistic_concurrency_control,
        "encryption": stream.encryption,
    }
    for name, value in int64s.items():
        if value is not None:
            getattr(req, name).value = value
    for name, value in int32s.items():
        if value is not None:
            getattr(req, name).value = value
    for name, flag in bools.items():
        if flag is not None:
            getattr(req, name).value = flag
    return req


def subscribe_request(
    stream: str,
    partition: int,
    start: Start,
    stop: Stop | None,
    *,
    read_isr_replica: bool = False,
    resume: bool = False,
    consumer: tuple[str, int, str] | None = None,
) -> api_pb2.SubscribeRequest:
    """SubscribeRequest; ``consumer`` is (group id, group epoch, consumer id)."""
    req = api_pb2.SubscribeRequest(
        stream=stream,
        partition=partition,
        startPosition=int(start.kind),  # type: ignore[arg-type]
        startOffset=start.offset,
        startTimestamp=start.timestamp_ns,
        readISRReplica=read_isr_replica,
        resume=resume,
    )
    if stop is not None:
        req.stopPosition = int(stop.kind)  # type: ignore[assignment]
        req.stopOffset = stop.offset
        req.stopTimestamp = stop.timestamp_ns
    if consumer is not None:
        req.consumer.groupId, req.consumer.groupEpoch, req.consumer.consumerId = consumer
    return req


def publish_request(
    message: Message, stream: str, partition: int, correlation_id: str = ""
) -> api_pb2.PublishRequest:
    """PublishRequest; ``expectedOffset`` is -1 (no expectation) unless the message sets one."""
    return api_pb2.PublishRequest(
        key=message.key or b"",
        value=message.value,
        stream=stream,
        partition=partition,
        headers=message.headers,
        correlationId=correlation_id,
        ackPolicy=int(message.ack_policy),  # type: ignore[arg-type]
        expectedOffset=-1 if message.expected_offset is None else message.expected_offset,
    )


def envelope_message(message: Message) -> api_pb2.Message:
    """The Message a publish over NATS carries in Liftbridge's envelope (``offset``: the expected one)."""
    proto = api_pb2.Message(
        key=message.key or b"",
        value=message.value,
        ackPolicy=int(message.ack_policy),  # type: ignore[arg-type]
        offset=-1 if message.expected_offset is None else message.expected_offset,
    )
    if message.headers:  # filling a map field costs, even from an empty dict
        proto.headers.update(message.headers)
    return proto


def publish_to_subject_request(message: Message, subject: str) -> api_pb2.PublishToSubjectRequest:
    """PublishToSubjectRequest for a message sent to a NATS subject."""
    return api_pb2.PublishToSubjectRequest(
        key=message.key or b"",
        value=message.value,
        subject=subject,
        headers=message.headers,
        ackPolicy=int(message.ack_policy),  # type: ignore[arg-type]
        correlationId=message.correlation_id or "",
    )


_ACK_POLICIES = {int(p): p for p in AckPolicy}  # a dict lookup: AckPolicy(n) costs more than the rest


def ack_from_proto(ack: api_pb2.Ack, partition: int | None) -> Ack:
    """An Ack; ``partition`` is the one the client published to (the proto does not say)."""
    return Ack(
        stream=ack.stream,
        partition=partition,
        offset=ack.offset,
        partition_subject=ack.partitionSubject,
        msg_subject=ack.msgSubject,
        ack_inbox=ack.ackInbox,
        correlation_id=ack.correlationId,
        ack_policy=_ACK_POLICIES[ack.ackPolicy],
        reception_timestamp=ack.receptionTimestamp,
        commit_timestamp=ack.commitTimestamp,
    )


def _times(t: api_pb2.PartitionEventTimestamps) -> EventTimes:
    return EventTimes(
        from_unix_ns(t.firstTimestamp) if t.firstTimestamp else None,
        from_unix_ns(t.latestTimestamp) if t.latestTimestamp else None,
    )


def partition_from_proto(stream: str, p: api_pb2.PartitionMetadata) -> PartitionInfo:
    """PartitionInfo of one partition of ``stream``."""
    return PartitionInfo(
        stream=stream,
        id=p.id,
        leader=p.leader,
        replicas=tuple(p.replicas),
        isr=tuple(p.isr),
        high_watermark=p.highWatermark,
        newest_offset=p.newestOffset,
        paused=p.paused,
        readonly=p.readonly,
        messages_received=_times(p.messagesReceivedTimestamps),
        paused_times=_times(p.pauseTimestamps),
        readonly_times=_times(p.readonlyTimestamps),
    )


def metadata_from_proto(resp: api_pb2.FetchMetadataResponse) -> tuple[Metadata, list[str]]:
    """Metadata, and the names the server reported as unknown streams."""
    brokers = tuple(
        BrokerInfo(b.id, b.host, b.port, b.partitionCount, b.leaderCount)
        for b in sorted(resp.brokers, key=lambda b: b.id)
    )
    streams: dict[str, StreamInfo] = {}
    unknown: list[str] = []
    for s in resp.streamMetadata:
        if s.error == api_pb2.StreamMetadata.UNKNOWN_STREAM:
            unknown.append(s.name)
            continue
        streams[s.name] = StreamInfo(
            name=s.name,
            subject=s.subject,
            partitions={pid: partition_from_proto(s.name, p) for pid, p in sorted(s.partitions.items())},
            created=from_unix_ns(s.creationTimestamp) if s.creationTimestamp else None,
        )
    groups = {
        g.groupId: GroupInfo(g.groupId, g.coordinator, g.epoch)
        for g in resp.groupMetadata
        if g.error == api_pb2.ConsumerGroupMetadata.OK
    }
    return Metadata(brokers, streams, groups), unknown
