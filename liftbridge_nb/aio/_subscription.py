"""AsyncSubscription: the asyncio shell of :class:`~liftbridge_nb.Subscription` (one implementation)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
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
            batch = await self._take()
            if batch is None:
                raise StopAsyncIteration
            self._rows.extend(batch.rows())
        return self._sub._deliver(self._rows.popleft())

    async def next_batch(self) -> _native.Batch | None:
        """The next messages as one Arrow batch (see :meth:`Subscription.next_batch`); None at the end."""
        batch = await self._take()
        if batch is not None:
            self._sub.last_offset = batch.last_offset
        return batch

    async def _take(self) -> _native.Batch | None:
        """:meth:`Subscription._take`'s steps, the call's batch awaited on the loop (no thread).

        Resubscribing, which looks the leader up and waits for a handshake, runs in a thread.
        """
        sub = self._sub
        while (call := sub._next_call()) is not None:
            try:
                batch = await _next_batch(call)
            except _native.RpcFailure as exc:
                if await asyncio.to_thread(_resubscribed, sub, exc):
                    continue
                return None
            except asyncio.CancelledError:
                self.close()  # the call ends: its pending batch goes nowhere
                raise
            return sub._took(batch)
        return None

    def close(self) -> None:
        """End the subscription (from any task or thread); iteration stops."""
        self._sub.close()

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


def _next_batch(call: _native.Call) -> asyncio.Future[_native.Batch | None]:
    """The call's next batch, awaitable: the native runtime settles the future on the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_native.Batch | None] = loop.create_future()

    def done(batch: _native.Batch | None, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits the batch
            loop.call_soon_threadsafe(_settle, future, batch, error)

    call.next_batch_then(done)
    return future


def _settle(
    future: asyncio.Future[_native.Batch | None], batch: _native.Batch | None, error: BaseException | None
) -> None:
    if future.done():  # cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(batch)


def _resubscribed(sub: Subscription, failure: _native.RpcFailure) -> bool:
    """:meth:`Subscription._on_error`, for a thread: whether the subscription goes on.

    (StopIteration cannot cross into a coroutine.)
    """
    try:
        sub._on_error(failure)
    except StopIteration:
        return False
    return True
