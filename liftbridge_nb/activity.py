"""The ``__activity`` stream decoded: what happened to streams and consumer groups, in order."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from ._proto import api_pb2
from .errors import LiftbridgeError

_OP_FIELDS = {
    api_pb2.CREATE_STREAM: "createStreamOp",
    api_pb2.DELETE_STREAM: "deleteStreamOp",
    api_pb2.PAUSE_STREAM: "pauseStreamOp",
    api_pb2.RESUME_STREAM: "resumeStreamOp",
    api_pb2.SET_STREAM_READONLY: "setStreamReadonlyOp",
    api_pb2.JOIN_CONSUMER_GROUP: "joinConsumerGroupOp",
    api_pb2.LEAVE_CONSUMER_GROUP: "leaveConsumerGroupOp",
}


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """One event of the activity stream; fields that do not apply to ``op`` are empty.

    ``op`` is the lower-case operation name: ``create_stream``, ``delete_stream``,
    ``pause_stream``, ``resume_stream``, ``set_stream_readonly``,
    ``join_consumer_group`` or ``leave_consumer_group``.
    """

    id: int
    op: str
    stream: str = ""
    partitions: tuple[int, ...] = ()
    resume_all: bool = False
    readonly: bool = False
    group_id: str = ""
    consumer_id: str = ""
    streams: tuple[str, ...] = ()
    expired: bool = False


def decode_activity(value: bytes) -> ActivityEvent:
    """Decode the value of a message of ``__activity``."""
    event = api_pb2.ActivityStreamEvent()
    try:
        event.ParseFromString(value)
    except DecodeError as exc:
        raise LiftbridgeError(f"not an activity stream event: {exc}") from exc
    op = getattr(event, _OP_FIELDS[event.op]) if event.op in _OP_FIELDS else None
    return ActivityEvent(
        id=event.id,
        op=api_pb2.ActivityStreamOp.Name(event.op).lower(),
        stream=getattr(op, "stream", ""),
        partitions=tuple(getattr(op, "partitions", ())),
        resume_all=getattr(op, "resumeAll", False),
        readonly=getattr(op, "readonly", False),
        group_id=getattr(op, "groupId", ""),
        consumer_id=getattr(op, "consumerId", ""),
        streams=tuple(getattr(op, "streams", ())),
        expired=getattr(op, "expired", False),
    )
