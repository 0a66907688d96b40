"""AsyncSubscription: the asyncio shell of :class:`~liftbridge_nb.Subscription` (one implementation)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Self

from .. import _native
from ..client import Subscription
from ..models import Message, Start, Stop


class AsyncSubscription(AsyncIterator[Message]):
    """Messages of one partition in offset order: ``async for message in sub``.

    Created by :meth:`AsyncLift.subscribe` (which awaits the handshake). It is a
    :class:`~liftbridge_nb.Subscription` whose batches are awaited: the same
    behaviour, from the same code. It ends at its stop position and when its
    client is closed, resubscribes from the last offset + 1 after a leader
    change, a hung leader or a lost connection for up to ``resubscribe_wait``
    seconds, never yields an offset twice. :meth:`close` may be called from any
    task or thread: an ``async for`` over it then simply ends. Cancelling the
    task that awaits it closes it.
    """

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub
        self._rows: deque[tuple[int, int, bytes | None, bytes, dict[str, bytes], str, str]] = deque()
        # The blocking wait for the next batch (the GIL released) has a thread of its own.
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix=f"liftbridge-aio-sub-{sub.stream}")

    # What the subscription says of itself is its Subscription's (see there).
    stream: str
    partition: int
    start: Start
    stop: Stop | None
    last_offset: int
    resubscribes: int
    address: str

    def __getattr__(self, name: str) -> object:
        if name in _SHARED:
            return getattr(self._sub, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        if not self._rows:
            batch = await self._await(_take)
            if batch is None:
                self._waiter.shutdown(wait=False)  # over: its thread ends
                raise StopAsyncIteration
            self._rows.extend(batch.rows())
        return self._sub._deliver(self._rows.popleft())

    async def next_batch(self) -> _native.Batch | None:
        """The next messages as one Arrow batch (see :meth:`Subscription.next_batch`); None at the end."""
        return await self._await(_next_batch)

    async def _await(self, take: Callable[[Subscription], _native.Batch | None]) -> _native.Batch | None:
        try:
            return await asyncio.wrap_future(self._waiter.submit(take, self._sub))
        except asyncio.CancelledError:
            self.close()  # the thread's wait ends with the call
            raise

    def close(self) -> None:
        """End the subscription (from any task or thread); iteration stops."""
        self._sub.close()
        self._waiter.shutdown(wait=False)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called or the subscription ended."""
        return self._sub.closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_SHARED = frozenset(("stream", "partition", "start", "stop", "last_offset", "resubscribes", "address"))


def _next_batch(sub: Subscription) -> _native.Batch | None:
    # StopIteration cannot cross a future into a coroutine (it would become a RuntimeError).
    try:
        return sub.next_batch()
    except StopIteration:
        return None


def _take(sub: Subscription) -> _native.Batch | None:
    """A batch for the iterator: ``last_offset`` moves as its rows are delivered (see Subscription)."""
    try:
        return sub._take()
    except StopIteration:
        return None
