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


# gRPC's own reasons, as the real server gave them (tests/test_client.py provokes each one).
_LAST = "failed to connect to all addresses; last error: "
_HANDSHAKE = "UNKNOWN: ipv4:127.0.0.1:9292: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
_PLAIN_TO_TLS = _LAST + "UNAVAILABLE: ipv4:127.0.0.1:9292: Socket closed"
_TLS_TO_PLAIN = (
    _LAST + _HANDSHAKE + "error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER: "
    "Invalid certificate verification context"
)
_UNTRUSTED = (
    _LAST + _HANDSHAKE + "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: "
    "unable to get local issuer certificate"
)
_OTHER_HOST = (
    _LAST + "UNKNOWN: ipv4:127.0.0.1:9292: Custom verification check failed with error: UNAUTHENTICATED: "
    "Hostname Verification Check failed."
)
_CLIENT_CERT = _LAST + "UNAVAILABLE: ipv4:127.0.0.1:9292: Unwrap failed (TSI_DATA_CORRUPTED)"
_PAIR = "TLSConfig(cert=..., key=...)"


@pytest.mark.parametrize(
    ("reason", "tls", "hint"),
    [
        (_PLAIN_TO_TLS, "plaintext", "as a TLS broker does on a plaintext client: connect with TLS"),
        (_PLAIN_TO_TLS, "unknown", "if the broker speaks TLS, connect with TLS"),
        (_PLAIN_TO_TLS, "ca", ""),  # a TLS client: the broker went away, nothing about TLS to say
        (_TLS_TO_PLAIN, "ca", "the broker does not speak TLS: connect without TLS"),
        (_UNTRUSTED, "ca", "not trusted: pass the CA that signed it as TLSConfig(ca=...)"),
        (_OTHER_HOST, "ca", "does not name the host or IP address connected to"),
        (_CLIENT_CERT, "ca", f"the broker requires a client certificate: pass {_PAIR}"),
        (_CLIENT_CERT, "ca+cert", f"the broker refused the client certificate: pass {_PAIR}"),
        (_CLIENT_CERT, "unknown", "requires a client certificate and got none, or one not signed by"),
        (_LAST + "connection refused", "plaintext", ""),
    ],
)
def test_connection_hints_from_real_reasons(reason: str, tls: str, hint: str) -> None:
    from liftbridge_nb import TLSConfig

    where = ("metadata: no broker reachable", ["127.0.0.1:9292"], C.UNAVAILABLE)
    if tls == "unknown":
        conn = e.ErrConnection(*where, reason=reason)
    else:
        known = {"ca": TLSConfig(ca=b"ca"), "ca+cert": TLSConfig(ca=b"ca", cert=b"c", key=b"k")}
        conn = e.ErrConnection(*where, reason=reason, tls=known.get(tls))
    assert conn.reason == reason
    head = "metadata: no broker reachable (tried 127.0.0.1:9292)"
    if hint:
        assert hint in conn.hint and str(conn) == f"{head}: {conn.hint} (gRPC: {reason})"
    else:
        assert conn.hint == "" and str(conn) == f"{head}: {reason}"


def test_probe_hints_name_the_server_options() -> None:
    pair = "ServerOptions(tls_client_cert=..., tls_client_key=...)"
    assert pair in e.connection_hint(_CLIENT_CERT, options=True)
    assert "ServerOptions(tls_ca=...)" in e.connection_hint(_UNTRUSTED, options=True)
    rpc = e.from_rpc_error(_Rpc(C.UNAVAILABLE, _UNTRUSTED), "metadata", address="h:1")
    assert isinstance(rpc, e.ErrConnection) and rpc.reason == _UNTRUSTED and "TLSConfig(ca=...)" in rpc.hint
