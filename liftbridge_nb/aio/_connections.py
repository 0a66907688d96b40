"""grpc.aio channels per broker, created in the running event loop."""

from __future__ import annotations

import asyncio
import itertools

import grpc
from grpc import aio

from .._proto import api_pb2_grpc
from ..client._connections import channel_options
from ..config import ClientOptions


class AsyncConnections:
    """Channels by broker address: one for calls, a bounded pool for subscriptions."""

    def __init__(
        self, credentials: grpc.ChannelCredentials | None, options: ClientOptions, server_name: str | None
    ):
        self._credentials = credentials
        self._options = options
        self._channel_options = channel_options(options, server_name)
        self._channels: dict[str, list[aio.Channel]] = {}
        self._turn = itertools.count()
        self.closed = False

    def _new(self, address: str) -> aio.Channel:
        if self._credentials is not None:
            return aio.secure_channel(address, self._credentials, options=self._channel_options)
        return aio.insecure_channel(address, options=self._channel_options)

    def stub(self, address: str, *, streaming: bool = False) -> api_pb2_grpc.APIStub:
        """A stub for ``address`` (see the sync client's Connections)."""
        if self.closed:
            raise RuntimeError("the client is closed")
        pool = self._channels.setdefault(address, [])
        if not pool or (streaming and len(pool) < self._options.max_conns_per_broker):
            pool.append(self._new(address))
        channel = pool[next(self._turn) % len(pool)] if streaming else pool[0]
        return api_pb2_grpc.APIStub(channel)

    async def ready(self, address: str, timeout: float) -> bool:
        """Whether the broker's first channel connects within ``timeout`` seconds."""
        self.stub(address)
        try:
            await asyncio.wait_for(self._channels[address][0].channel_ready(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close every channel."""
        self.closed = True
        channels = [c for pool in self._channels.values() for c in pool]
        self._channels.clear()
        for channel in channels:
            await channel.close(None)
