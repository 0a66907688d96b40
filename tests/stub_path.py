"""The minimal client path through the generated stubs that proves a server works.

Create a stream, publish with an ack, subscribe from the earliest offset, fetch
metadata. The real client (liftbridge_nb's Lift) replaces this in its own tests.
"""

from __future__ import annotations

import grpc

from liftbridge_nb._proto import api_pb2, api_pb2_grpc

TIMEOUT = 10.0


def stub(address: str) -> tuple[grpc.Channel, api_pb2_grpc.APIStub]:
    channel = grpc.insecure_channel(address)
    return channel, api_pb2_grpc.APIStub(channel)


def create_stream(api: api_pb2_grpc.APIStub, name: str, *, replication: int = 1) -> None:
    api.CreateStream(
        api_pb2.CreateStreamRequest(subject=f"{name}.subject", name=name, replicationFactor=replication),
        timeout=TIMEOUT,
    )


def publish(
    api: api_pb2_grpc.APIStub, name: str, values: list[bytes], *, ack_policy: int = api_pb2.LEADER
) -> list[int]:
    """Publish each value and return the acked offsets (a deadline is what makes the server ack)."""
    offsets = []
    for value in values:
        resp = api.Publish(
            api_pb2.PublishRequest(stream=name, value=value, ackPolicy=ack_policy, expectedOffset=-1),  # type: ignore[arg-type]
            timeout=TIMEOUT,
        )
        assert resp.HasField("ack"), "the server did not ack a publish sent with a deadline"
        offsets.append(resp.ack.offset)
    return offsets


def read_all(api: api_pb2_grpc.APIStub, name: str) -> list[api_pb2.Message]:
    """Everything in partition 0, from the earliest offset to the newest at subscribe time."""
    call = api.Subscribe(
        api_pb2.SubscribeRequest(
            stream=name, startPosition=api_pb2.EARLIEST, stopPosition=api_pb2.STOP_LATEST
        ),
        timeout=TIMEOUT,
    )
    handshake = next(iter(call))
    assert handshake == api_pb2.Message(), "Subscribe's first item is the empty handshake"
    out: list[api_pb2.Message] = []
    try:
        out.extend(call)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:  # "Stop offset reached"
            raise
    return out


def partition_metadata(api: api_pb2_grpc.APIStub, name: str) -> api_pb2.PartitionMetadata:
    resp = api.FetchMetadata(api_pb2.FetchMetadataRequest(streams=[name]), timeout=TIMEOUT)
    (meta,) = resp.streamMetadata
    assert meta.error == api_pb2.StreamMetadata.OK
    return meta.partitions[0]


def roundtrip(address: str, name: str, count: int = 5) -> list[bytes]:
    """Create ``name``, publish ``count`` values with acks, and read them back."""
    channel, api = stub(address)
    with channel:
        create_stream(api, name)
        values = [f"message {i}".encode() for i in range(count)]
        assert publish(api, name, values) == list(range(count))
        got = read_all(api, name)
        assert [m.offset for m in got] == list(range(count))
        assert all(m.stream == name and m.partition == 0 and m.timestamp > 0 for m in got)
        meta = partition_metadata(api, name)
        assert meta.newestOffset == count - 1 and meta.highWatermark == count - 1
        return [m.value for m in got]
