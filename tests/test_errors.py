"""from_rpc_error: the one place gRPC errors become typed ones."""

from __future__ import annotations

import grpc
import pytest

from liftbridge_nb import errors as e


class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


C = grpc.StatusCode


@pytest.mark.parametrize(
    ("code", "details", "op", "mid", "cls"),
    [
        (C.ALREADY_EXISTS, "stream already exists", "create", False, e.ErrStreamExists),
        (C.NOT_FOUND, "stream does not exist", "delete", False, e.ErrNoSuchStream),
        (C.NOT_FOUND, "No such partition", "subscribe", False, e.ErrNoSuchPartition),
        (C.NOT_FOUND, "stream deleted", "subscribe", True, e.ErrStreamDeleted),
        (C.FAILED_PRECONDITION, "Server not partition leader", "subscribe", False, e.ErrNotLeader),
        (C.FAILED_PRECONDITION, "partition paused", "subscribe", True, e.ErrPartitionPaused),
        (C.FAILED_PRECONDITION, "partition is readonly", "publish", False, e.ErrReadonlyPartition),
        (C.RESOURCE_EXHAUSTED, "End of readonly partition", "subscribe", True, e.ErrEndOfReadonlyPartition),
        (C.RESOURCE_EXHAUSTED, "Stop offset reached", "subscribe", True, e.ErrStopPositionReached),
        (C.RESOURCE_EXHAUSTED, "Stream is empty", "subscribe", False, e.ErrStopPositionReached),
        (C.INTERNAL, "Cursors stream does not exist", "cursor", False, e.ErrCursorsDisabled),
        (
            C.INTERNAL,
            "Failed to create stream reader: segment has been closed",
            "subscribe",
            False,
            e.ErrPartitionPaused,
        ),
        (C.INVALID_ARGUMENT, "message exceeds max replication size", "publish", False, e.ErrMessageTooLarge),
        (C.INVALID_ARGUMENT, "Subject is invalid", "create", False, e.ErrInvalidArgument),
        (C.UNKNOWN, "incorrect expected offset", "publish", False, e.ErrIncorrectOffset),
        (C.UNKNOWN, "nats: maximum payload exceeded", "publish", False, e.ErrMessageTooLarge),
        (C.UNKNOWN, "The client is not authorized", "publish", False, e.ErrPermissionDenied),
        (C.UNAVAILABLE, "connection refused", "metadata", False, e.ErrConnection),
        (C.DEADLINE_EXCEEDED, "Deadline Exceeded", "publish", False, e.ErrDeadlineExceeded),
        (C.DATA_LOSS, "??", "publish", False, e.ApiError),
    ],
)
def test_mapping(code: grpc.StatusCode, details: str, op: str, mid: bool, cls: type[Exception]) -> None:
    err = e.from_rpc_error(_Rpc(code, details), op, address="h:1", mid_stream=mid)
    assert type(err) is cls
    if isinstance(err, e.ApiError):
        assert (err.code, err.details) == (code, details)


def test_timeouts_are_timeout_errors_and_render_in_one_line() -> None:
    err = e.from_rpc_error(_Rpc(C.DEADLINE_EXCEEDED, "late"), "publish")
    assert isinstance(err, TimeoutError) and isinstance(e.ErrAckTimeout("x"), e.ErrDeadlineExceeded)
    assert err._render_traceback_() == ["ErrDeadlineExceeded: publish timed out: late"]
    conn = e.from_rpc_error(_Rpc(C.UNAVAILABLE, "down"), "metadata", address="h:1")
    assert isinstance(conn, e.ErrConnection) and conn.addresses == ["h:1"] and "h:1" in str(conn)
