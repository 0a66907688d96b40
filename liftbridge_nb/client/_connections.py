"""gRPC channels per broker: one for calls, a bounded pool for subscriptions."""

from __future__ import annotations

import itertools
import threading

import grpc

from .._proto import api_pb2, api_pb2_grpc
from ..config import ClientOptions
from ..errors import ErrClientClosed

_PROBE_STREAM = "__activity"  # a stream name whose metadata is small, whether it exists or not

CLOSED = "the client is closed: make a new one (or use it in a with block)"


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
    """Channels by broker address, created on first use and closed together."""

    def __init__(
        self, credentials: grpc.ChannelCredentials | None, options: ClientOptions, server_name: str | None
    ):
        self._credentials = credentials
        self._options = options
        self._lock = threading.Lock()
        self._channels: dict[str, list[grpc.Channel]] = {}
        self._turn = itertools.count()
        # Subscribe (the one server-streaming call) read in the caller's thread, without gRPC's
        # reader thread in between: several times the messages per second.
        self._channel_options = [
            *channel_options(options, server_name),
            ("SingleThreadedUnaryStream", 1),  # grpc.experimental.ChannelOptions.SingleThreadedUnaryStream
        ]
        self.closed = False

    def _new(self, address: str) -> grpc.Channel:
        if self._credentials is not None:
            return grpc.secure_channel(address, self._credentials, options=self._channel_options)
        return grpc.insecure_channel(address, options=self._channel_options)

    def stub(self, address: str, *, streaming: bool = False) -> api_pb2_grpc.APIStub:
        """A stub for ``address``: the broker's first channel, or (``streaming``) one of its pool in turn."""
        with self._lock:
            if self.closed:
                raise ErrClientClosed(CLOSED)
            pool = self._channels.setdefault(address, [])
            if not pool:
                pool.append(self._new(address))
            if streaming and len(pool) < self._options.max_conns_per_broker:
                pool.append(self._new(address))
            channel = pool[next(self._turn) % len(pool)] if streaming else pool[0]
        return api_pb2_grpc.APIStub(channel)

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
            channels = [c for pool in self._channels.values() for c in pool]
            self._channels.clear()
        for channel in channels:
            channel.close()
