"""AsyncConsumer: a consumer-group member for asyncio code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from ..client._client import Lift
from ..client._consumer import AutoOffset, Consumer
from ..config import ClientOptions, TLSConfig
from ..models import Message


class AsyncConsumer(AsyncIterator[Message]):
    """A :class:`~liftbridge_nb.Consumer` for ``async for``.

    The group's heartbeats, checkpoints and partition readers run in threads
    (through a synchronous client with the same settings), so they keep going
    while the event loop is busy; messages are handed to the loop as they come.
    """

    def __init__(
        self,
        seeds: Sequence[str],
        tls: TLSConfig | None,
        options: ClientOptions,
        group_id: str,
        streams: Sequence[str],
        *,
        consumer_id: str | None,
        auto_offset: AutoOffset,
        checkpoint_interval: float,
    ) -> None:
        self._client = Lift(addresses=seeds, tls=tls, options=options)
        try:
            self._consumer = Consumer(
                self._client, group_id, streams,
                consumer_id=consumer_id, auto_offset=auto_offset, checkpoint_interval=checkpoint_interval,
            )  # fmt: skip
        except BaseException:
            self._client.close()
            raise

    @property
    def consumer(self) -> Consumer:
        """The underlying synchronous member (group id, epoch, assignments)."""
        return self._consumer

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        return await self.next()

    async def next(self, timeout: float | None = None) -> Message:
        """See :meth:`Consumer.next`: the next message, ``TimeoutError`` after ``timeout`` seconds.

        Raises ``StopAsyncIteration`` once the member is closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # in short turns, so that a thread is never left waiting long for a gone loop
            turn = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            try:
                message = await asyncio.to_thread(self._take, turn)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if message is None:
                raise StopAsyncIteration
            return message

    def _take(self, timeout: float) -> Message | None:
        try:
            return self._consumer.next(timeout)
        except StopIteration:  # cannot cross into a future
            return None

    async def commit(self) -> None:
        """Checkpoint the offsets handed out so far."""
        await asyncio.to_thread(self._consumer.commit)

    async def close(self) -> None:
        """Checkpoint, leave the group and stop reading."""
        await asyncio.to_thread(self._consumer.close)
        self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
