"""from_rpc_error: the one place gRPC errors become typed ones."""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc
import pytest

from liftbridge_nb import Lift, Start, Stream
from liftbridge_nb import errors as e
from liftbridge_nb._proto import api_pb2, api_pb2_grpc
from liftbridge_nb.server import LocalServer


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
        (C.FAILED_PRECONDITION, "readonly partition: 0", "publish", False, e.ErrReadonlyPartition),
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
        (
            _CLIENT_CERT,
            "unknown",
            "requires a client certificate and got none, or one expired or not signed by",
        ),
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


@pytest.mark.parametrize(
    ("code", "details", "op", "cls"),
    [
        # The class follows the code; texts of another code do not move it.
        (C.FAILED_PRECONDITION, "message exceeds max replication size", "publish", e.ApiError),
        (C.NOT_FOUND, "incorrect expected offset", "publish", e.ErrNoSuchPartition),
        (C.PERMISSION_DENIED, "whatever the text", "publish", e.ErrPermissionDenied),
        (C.INTERNAL, "Stop offset reached", "subscribe", e.ApiError),
        # Every not-leader text of v1.9.0 (subscribe, partition metadata, cursors).
        (C.FAILED_PRECONDITION, "The request should be sent to partition leader", "partition metadata",
         e.ErrNotLeader),
        (C.FAILED_PRECONDITION, "Server not cursor partition leader", "cursor", e.ErrNotLeader),
    ],
)  # fmt: skip
def test_the_code_decides_first(code: grpc.StatusCode, details: str, op: str, cls: type[Exception]) -> None:
    assert type(e.from_rpc_error(_Rpc(code, details), op)) is cls


def test_over_the_servers_grpc_limit_is_too_large(server_address: str, stream_name: str) -> None:
    request = api_pb2.PublishRequest(stream=stream_name, value=b"x" * (5 * 1024 * 1024))
    with (
        grpc.insecure_channel(server_address) as channel,
        pytest.raises(grpc.RpcError, match="larger") as info,
    ):
        api_pb2_grpc.APIStub(channel).Publish(request, timeout=10)
    error = e.from_rpc_error(info.value, "publish")
    assert isinstance(error, e.ErrMessageTooLarge) and error.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_refusal_keeps_its_cause_and_names_the_stream(client: Lift, stream_name: str) -> None:
    named = re.escape(f"delete failed on stream {stream_name!r}: stream does not exist")
    with pytest.raises(e.ErrNoSuchStream, match=f"^{named}") as info:
        client.delete_stream(stream_name)
    cause = info.value.__cause__
    assert isinstance(cause, grpc.RpcError) and cause.code() == grpc.StatusCode.NOT_FOUND


def test_partitions_are_named(client: Lift, stream_name: str, server_address: str) -> None:
    client.create_stream(Stream(stream_name, name=stream_name, partitions=2))
    with pytest.raises(
        e.ErrNoSuchPartition, match=rf"on stream {stream_name!r} partitions 7: partition does"
    ):
        client.pause_stream(stream_name, [7])
    with pytest.raises(e.ErrNoSuchPartition, match=rf"no partition 5 in stream {stream_name!r}"):
        client.subscribe(stream_name, 5)
    # The server's own answer to a subscribe names neither: the mapping adds what the call was about.
    with grpc.insecure_channel(server_address) as channel:
        call = api_pb2_grpc.APIStub(channel).Subscribe(
            api_pb2.SubscribeRequest(stream=stream_name, partition=5), timeout=5
        )
        with pytest.raises(grpc.RpcError, match="No such partition") as refused:
            list(call)
    error = e.from_rpc_error(refused.value, "subscribe", subject=e.about(stream_name, 5))
    assert isinstance(error, e.ErrNoSuchPartition)
    assert str(error) == f"subscribe failed on stream {stream_name!r} partition 5: No such partition"


@pytest.mark.parametrize("end", ["kill", "stop"])
def test_a_broker_that_went_away_gets_no_tls_hint(end: str) -> None:
    with LocalServer() as server, Lift(server.address, timeout=5) as client:
        client.create_stream(Stream("s", name="s"))
        sub = client.subscribe("s", start=Start.earliest(), resubscribe_wait=0)
        ends: dict[str, Callable[[], None]] = {"kill": server.kill, "stop": server.stop}
        ends[end]()
        with pytest.raises(
            e.ErrConnection, match=r"^subscribe on stream 's' partition 0: broker unreachable"
        ) as info:
            next(sub)
        assert info.value.reason and info.value.hint == "", "the socket closed; nothing says TLS"
        assert "TLS" not in str(info.value)
        with pytest.raises(e.ErrConnection, match="no broker reachable") as again:  # the next call: refused
            client.fetch_metadata()
        assert again.value.hint == "" and "TLS" not in str(again.value)
        with pytest.raises(e.ErrConnection, match=r"^delete on stream 's': no broker reachable \(tried "):
            client.delete_stream("s")  # what a call to any broker was about, once none answers


def test_a_plaintext_client_of_a_tls_broker_still_gets_the_hint(tls_server: LocalServer) -> None:
    with (
        Lift(tls_server.address, timeout=3) as client,
        pytest.raises(e.ErrConnection, match="Socket closed") as info,
    ):
        client.fetch_metadata()
    assert "as a TLS broker does on a plaintext client: connect with TLS" in info.value.hint


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("nats://me:s3cret@h:4222", "nats://me:***@h:4222"),
        ("NATS Servers: [nats://user:s3cret@127.0.0.1:1 nats://u:s3cret@h:2]",
         "NATS Servers: [nats://user:***@127.0.0.1:1 nats://u:***@h:2]"),
        ("token nats://s3cret@h:4222.", "token nats://***@h:4222."),
        ("address 'me:s3cret@h:x' has no valid port", "address 'me:***@h:x' has no valid port"),
        ("nats://h:4222 and user@example.org", "nats://h:4222 and user@example.org"),
    ],
)  # fmt: skip
def test_redact_url(text: str, shown: str) -> None:
    assert e.redact_url(text) == shown


def test_amend_keeps_class_fields_and_cause() -> None:
    rpc = _Rpc(C.NOT_FOUND, "stream does not exist")
    try:
        try:
            raise rpc
        except grpc.RpcError as exc:
            raise e.from_rpc_error(exc, "delete", subject="stream 'x'") from exc
    except e.ErrNoSuchStream as err:
        amended = e.amend(err, "; did you mean 'y'?")
    assert amended.__cause__ is rpc and (amended.code, amended.details) == (
        C.NOT_FOUND,
        "stream does not exist",
    )
    assert re.fullmatch(
        r"delete failed on stream 'x': stream does not exist; .*; did you mean 'y'\?", str(amended)
    )
