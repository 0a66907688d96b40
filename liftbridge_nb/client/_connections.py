"""Connections per broker: grpcio channels for calls, and the native data plane's for subscriptions."""

from __future__ import annotations

import atexit
import threading
import time

import grpc

from .. import _native
from .._logs import note_keepalive
from .._proto import api_pb2, api_pb2_grpc
from ..config import ClientOptions, TLSConfig
from ..errors import ErrClientClosed
from ..models import Ack, AckPolicy

_PROBE_STREAM = "__activity"  # a stream name whose metadata is small, whether it exists or not

CLOSED = "the client is closed: make a new one (or use it in a with block)"
ACK_POLICIES: list[object] = list(AckPolicy)  # the members by number, for the native acks
_EXIT_WAIT = 2.0  # seconds the interpreter's exit waits for threads to leave native calls


@atexit.register
def _native_exit() -> None:
    """At the interpreter's exit, end every native call and let the threads in one return to Python.

    A daemon thread (an ack reader, a live tail, a user's reader) still waiting in a native call when
    the interpreter is finalized would take the GIL back from a dead interpreter, and the process
    would abort instead of exiting.
    """
    _native.shutdown()
    deadline = time.monotonic() + _EXIT_WAIT
    while _native.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)


def channel_options(options: ClientOptions, server_name: str | None) -> list[tuple[str, int | str]]:
    """GRPC channel arguments for the client's settings (both clients use these).

    Keepalive follows what a Liftbridge server (grpc-go's default enforcement:
    pings at most every 5 minutes, none without a call) tolerates: pings only
    while a call is open, every ``options.keepalive`` seconds (6 minutes by
    default), without a cap on pings between data. A client that pings more often
    is sent GOAWAY "too_many_pings" after three pings, and its calls fail.
    """
    backoff_ms = int(options.reconnect_backoff * 1000)
    out: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", int(options.keepalive * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", min(1000, backoff_ms)),
        ("grpc.min_reconnect_backoff_ms", min(1000, backoff_ms)),
        ("grpc.max_reconnect_backoff_ms", backoff_ms),
    ]
    if server_name:
        out.append(("grpc.ssl_target_name_override", server_name))
    return out


class Connections:
    """Channels by broker address, created on first use and closed together.

    Calls go over grpcio; subscriptions over :attr:`native`, the native data
    plane's channels (the same TLS material, read and checked once).
    """

    def __init__(self, tls: TLSConfig | None, options: ClientOptions) -> None:
        note_keepalive(options.keepalive)
        material = tls.material() if tls is not None else None
        self._credentials = (
            grpc.ssl_channel_credentials(material[0], material[2], material[1]) if material else None
        )
        self._options = options
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._channel_options = channel_options(options, tls.server_name if tls else None)
        ca, cert, key = material or (None, None, None)
        #: The native data plane's channels (subscriptions): plaintext, or the same TLS.
        self.native = _native.Connections(
            tls=tls is not None, ca=ca, cert=cert, key=key, server_name=tls.server_name if tls else None,
            connect_timeout=options.timeout, keepalive=options.keepalive,
            max_message_bytes=options.max_message_bytes, pool=options.max_conns_per_broker,
        )  # fmt: skip
        self.closed = False

    def _new(self, address: str) -> grpc.Channel:
        if self._credentials is not None:
            return grpc.secure_channel(address, self._credentials, options=self._channel_options)
        return grpc.insecure_channel(address, options=self._channel_options)

    def stub(self, address: str) -> api_pb2_grpc.APIStub:
        """A stub for ``address``'s channel."""
        with self._lock:
            if self.closed:
                raise ErrClientClosed(CLOSED)
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = self._new(address)
        return api_pb2_grpc.APIStub(channel)

    def subscribe(self, address: str, request: bytes, after: int, *, bulk: bool) -> _native.Call:
        """A native Subscribe call to ``address`` (see :class:`liftbridge_nb._native.Connections`).

        ``bulk`` reads for a frame (large batches, more of them buffered); otherwise each
        batch goes out as soon as no message is ready (an iterator's latency).
        """
        with self._lock:
            if self.closed:
                raise ErrClientClosed(CLOSED)
        if bulk:
            return self.native.subscribe(address, request, after=after, linger=0.1, buffer=64)
        return self.native.subscribe(address, request, after=after, rows=4096)

    def publish(self, address: str) -> _native.PublishCall:
        """A native PublishAsync call to ``address``."""
        with self._lock:
            if self.closed:
                raise ErrClientClosed(CLOSED)
        return self.native.publish(address, ack_type=Ack, policies=ACK_POLICIES)

    def ready(self, address: str, timeout: float) -> bool:
        """Whether the broker answers within ``timeout`` seconds (its first channel connects).

        Asked with a small call that waits for the connection, not with
        ``grpc.channel_ready_future``: that one leaves a thread watching the channel
        for 0.2 s more, which :meth:`close` then waits for.
        """
        probe = api_pb2.FetchMetadataRequest(streams=[_PROBE_STREAM])
        try:
            self.stub(address).FetchMetadata(probe, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            return exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        return True

    def close(self) -> None:
        """Close every channel; ongoing calls end with CANCELLED."""
        with self._lock:
            self.closed = True
            channels = list(self._channels.values())
            self._channels.clear()
        self.native.close()
        for channel in channels:
            channel.close()
