"""grpc.aio channels per broker, created in the running event loop."""

from __future__ import annotations

import asyncio

import grpc
from grpc import aio

from .._proto import api_pb2_grpc
from ..client._connections import CLOSED, channel_options
from ..config import ClientOptions
from ..errors import ErrClientClosed


def cancelling() -> bool:
    """Whether the running task is being cancelled (rather than a call it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AsyncConnections:
    """Channels by broker address: one for calls, a bounded pool for subscriptions.

    Channels belong to the event loop they were made in: used from another
    loop (a second ``asyncio.run``), the client makes new ones there, and those
    of the finished loop are let go.
    """

    def __init__(
        self, credentials: grpc.ChannelCredentials | None, options: ClientOptions, server_name: str | None
    ):
        self._credentials = credentials
        self._options = options
        self._channel_options = channel_options(options, server_name)
        self._channels: dict[str, aio.Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def _new(self, address: str) -> aio.Channel:
        if self._credentials is not None:
            return aio.secure_channel(address, self._credentials, options=self._channel_options)
        return aio.insecure_channel(address, options=self._channel_options)

    def _pools(self) -> dict[str, aio.Channel]:
        if self.closed:
            raise ErrClientClosed(CLOSED)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._channels, self._loop = {}, loop
        return self._channels

    def stub(self, address: str) -> api_pb2_grpc.APIStub:
        """A stub for ``address``'s channel (subscriptions are the native data plane's, Lift's)."""
        channels = self._pools()
        if address not in channels:
            channels[address] = self._new(address)
        return api_pb2_grpc.APIStub(channels[address])

    def closed_error(self, exc: asyncio.CancelledError) -> BaseException:
        """What a call cancelled under its caller raises: ErrClientClosed if the client was closed."""
        if self.closed and not cancelling():
            error = ErrClientClosed(CLOSED)
            error.__cause__ = exc
            return error
        return exc

    async def ready(self, address: str, timeout: float) -> bool:
        """Whether the broker's first channel connects within ``timeout`` seconds."""
        self.stub(address)
        try:
            await asyncio.wait_for(self._channels[address].channel_ready(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close every channel; calls under way raise :class:`ErrClientClosed`, subscriptions end."""
        self.closed = True
        channels = list(self._channels.values())
        self._channels = {}
        if self._loop is not asyncio.get_running_loop():
            return  # the loop they belong to is over, and took them with it
        await asyncio.gather(*(channel.close(None) for channel in channels))
