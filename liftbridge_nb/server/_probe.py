"""Readiness and metadata probes that the launchers send through the generated stubs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc

from .._proto import api_pb2, api_pb2_grpc
from ..config import TLSConfig
from ..errors import ServerStartError, connection_hint
from ._config import ServerOptions

PROBE_RPC_TIMEOUT = 2.0
"""Seconds each probe RPC may take."""

_POLL_INTERVAL = 0.1


def channel_credentials(options: ServerOptions) -> grpc.ChannelCredentials | None:
    """Client credentials for a server run with ``options`` (``None`` without TLS).

    A file that cannot be read raises ``ValueError`` naming it.
    """
    if not options.tls:
        return None
    ca = options.tls_ca or options.tls_cert
    return TLSConfig(ca=ca, cert=options.tls_client_cert, key=options.tls_client_key).credentials()


def tls_refusal(exc: grpc.RpcError, credentials: grpc.ChannelCredentials | None) -> str:
    """What to change when a TLS probe failed for its settings, which no wait cures; "" otherwise.

    Only a probe with TLS is judged: a closed or reset connection may also be a
    server still starting, so that one is left to the readiness timeout.
    """
    details = exc.details() or ""
    if credentials is None or exc.code() != grpc.StatusCode.UNAVAILABLE:
        return ""
    if "socket closed" in details.lower() or "connection reset" in details.lower():
        return ""
    return connection_hint(details, options=True)


@contextmanager
def open_stub(address: str, credentials: grpc.ChannelCredentials | None) -> Iterator[api_pb2_grpc.APIStub]:
    """A stub on a fresh channel to ``address``, closed on exit."""
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    try:
        yield api_pb2_grpc.APIStub(channel)
    finally:
        channel.close()


def ask_metadata_leader(stub: api_pb2_grpc.APIStub) -> None:
    """Return when a metadata leader answers through this broker; raise its RpcError otherwise.

    Deleting a stream that does not exist is forwarded to the metadata leader,
    which alone can answer NOT_FOUND; without a leader the call fails otherwise.
    """
    probe = f"liftbridge-nb-probe-{uuid.uuid4().hex}"
    try:
        stub.DeleteStream(api_pb2.DeleteStreamRequest(name=probe), timeout=PROBE_RPC_TIMEOUT)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise


def wait_ready(
    address: str,
    *,
    credentials: grpc.ChannelCredentials | None,
    timeout: float,
    brokers: int = 1,
    check_alive: Callable[[], None] = lambda: None,
    what: str = "Liftbridge",
) -> None:
    """Poll ``address`` until a metadata leader answers and ``brokers`` brokers are known.

    ``check_alive`` is called between attempts and should raise when the server
    process has died, so that a crash is reported at once, not after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with open_stub(address, credentials) as stub:
        while True:
            check_alive()
            try:
                ask_metadata_leader(stub)
                meta = stub.FetchMetadata(api_pb2.FetchMetadataRequest(), timeout=PROBE_RPC_TIMEOUT)
                if len(meta.brokers) >= brokers:
                    return
                last = f"{len(meta.brokers)} of {brokers} brokers known"
            except grpc.RpcError as exc:
                last = f"{exc.code()}: {exc.details()}"
                hint = tls_refusal(exc, credentials)
                if hint:
                    why = f"{hint} (gRPC: {exc.details()})"
                    raise ServerStartError(
                        f"{what} at {address} refused the launcher's TLS probe: {why}"
                    ) from exc
            if time.monotonic() >= deadline:
                raise ServerStartError(f"{what} at {address} was not ready after {timeout:g} s ({last})")
            time.sleep(_POLL_INTERVAL)


def partition_leader(
    address: str, credentials: grpc.ChannelCredentials | None, stream: str, partition: int
) -> str | None:
    """The broker id leading a partition according to ``address``; None if unknown or leaderless."""
    with open_stub(address, credentials) as stub:
        resp = stub.FetchMetadata(api_pb2.FetchMetadataRequest(streams=[stream]), timeout=PROBE_RPC_TIMEOUT)
    for meta in resp.streamMetadata:
        if meta.name == stream and partition in meta.partitions:
            return meta.partitions[partition].leader or None
    return None
