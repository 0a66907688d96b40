"""Subscription: an iterator over a partition that survives leader changes, read by the native data plane."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self

from .. import _native
from .. import _telemetry as telemetry
from .._convert import subscribe_request
from .._core import SILENCE_CHECK, Resubscribe, Retries
from .._proto import api_pb2
from ..errors import (
    ErrClientClosed,
    LiftbridgeError,
    NativeRpcError,
    about,
    from_rpc_error,
)
from ..models import Message, Start, Stop

log = logging.getLogger("liftbridge_nb")

OpenCall = Callable[[bytes, int, bool, float], tuple[_native.Call, str]]
"""Starts a native Subscribe call on the right broker: (encoded request, offset after which messages
count, refresh first, seconds) -> (call, address)."""

Serves = Callable[[str, float], bool | None]
"""Whether a broker still serves the partition, from metadata at most a few seconds old (None: no answer)."""


class Subscription(Iterator[Message]):
    """Messages of one partition, in offset order.

    Iterate it (``for message in sub``), use it as a context manager, and
    :meth:`close` it from any thread to end the iteration. The subscription
    ends by itself at its stop position, and when its client is closed. When
    the partition's leader goes away, hangs or hands over, or the connection
    drops, it resubscribes from the last offset + 1 (to the new leader) for up
    to ``resubscribe_wait`` seconds, so that no message is skipped or repeated;
    then it raises (see :class:`~liftbridge_nb._core.Resubscribe`).
    """

    def __init__(
        self,
        open_call: OpenCall,
        serves: Serves,
        client_closed: Callable[[], bool],
        *,
        stream: str,
        partition: int,
        start: Start,
        stop: Stop | None,
        read_isr_replica: bool,
        resume: bool,
        plan: Resubscribe,
        consumer: tuple[str, int, str] | None = None,
    ) -> None:
        self.stream = stream
        self.partition = partition
        self._about = about(stream, partition)  # what its errors are about
        self.start = start
        self.stop = stop
        self._open_call = open_call
        self._serves = serves
        self._client_closed = client_closed
        self._read_isr = read_isr_replica
        self._resume = resume
        self._plan = plan
        self._consumer = consumer
        self._lock = threading.Lock()
        self._call: _native.Call | None = None
        self._rows: deque[tuple[int, int, bytes | None, bytes, dict[str, bytes], str, str]] = deque()
        self._fetched = -1  # the last offset of the last batch taken from the call
        self._closed = False
        self._done = False
        self._reading = False  # blocked waiting for the next message (what the watchdog watches)
        self._moved: LiftbridgeError | None = None  # why the watchdog cancelled the call
        self._quiet = threading.Event()  # set when the subscription is over: the watchdog leaves
        #: Offset of the last message delivered (by the iterator, or in a batch), -1 before the first.
        self.last_offset = -1
        #: How many times the subscription reconnected after losing its leader or connection.
        self.resubscribes = 0
        self._telemetry = telemetry.enabled()
        #: Address of the broker currently serving the subscription.
        self.address = ""
        self._subscribe(start, plan.opening())
        self._seen = self._fetched
        if not self.closed:
            threading.Thread(
                target=_watch,
                args=(weakref.ref(self), self._quiet),
                name=f"liftbridge-watch-{stream}",
                daemon=True,
            ).start()

    def _request(self, start: Start) -> api_pb2.SubscribeRequest:
        return subscribe_request(
            self.stream, self.partition, start, self.stop,
            read_isr_replica=self._read_isr, resume=self._resume, consumer=self._consumer,
        )  # fmt: skip

    def _subscribe(self, start: Start, retries: Retries) -> None:
        """Open the call and take the handshake, retrying as ``retries`` says; raises when they are over."""
        while not self._closed:
            try:
                request = self._request(start).SerializeToString()
                call, address = self._open_call(request, self._fetched, retries.refresh, retries.remaining())
                with self._lock:
                    if self._closed:
                        call.cancel()
                        return
                    self._call = call
                self.address = address
                try:
                    call.handshake(retries.remaining())
                    return
                except _native.RpcFailure as exc:
                    raise self._error(exc) from exc
                except BaseException:  # Ctrl-C: leave nothing open
                    call.cancel()
                    raise
            except LiftbridgeError as exc:
                over, why = self._plan.end(exc, self.stop)
                if over:
                    self._end()
                    if why is not None:
                        raise why from exc
                    return
                if self._closed:
                    return
                # Metadata may lag behind a new stream or leader for a moment: look again.
                time.sleep(retries.wait_after(exc))

    def _error(self, failure: _native.RpcFailure, *, mid_stream: bool = False) -> LiftbridgeError:
        return from_rpc_error(
            NativeRpcError(*failure.args), "subscribe", address=self.address, mid_stream=mid_stream,
            subject=self._about,
        )  # fmt: skip

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Message:
        if not self._rows:
            self._rows.extend(self._take().rows())
        return self._deliver(self._rows.popleft())

    def _deliver(self, row: tuple[int, int, bytes | None, bytes, dict[str, bytes], str, str]) -> Message:
        """The Message of one of a batch's rows, now delivered (both shells' iterators)."""
        offset, timestamp, key, value, headers, subject, reply = row
        self.last_offset = offset
        return Message._received(
            stream=self.stream, partition=self.partition, offset=offset, timestamp=timestamp, key=key,
            value=value, headers=headers, subject=subject, reply_subject=reply, own_headers=True,
        )  # fmt: skip

    def next_batch(self) -> _native.Batch:
        """The next messages, in offset order, as one Arrow batch (what readers that build frames take).

        Raises StopIteration at the end. Do not mix with iterating over messages.
        """
        batch = self._take()
        self.last_offset = batch.last_offset
        return batch

    def _take(self) -> _native.Batch:
        """The next batch from the call (resubscribing as the plan says); StopIteration at the end.

        ``last_offset`` stays what was delivered: the iterators deliver the batch's rows one by one.
        (AsyncSubscription takes its batches in the same steps, awaiting the call's.)
        """
        while (call := self._next_call()) is not None:
            try:
                batch = call.next_batch()
            except _native.RpcFailure as exc:
                self._on_error(exc)
                continue
            except BaseException:
                self.close()  # Ctrl-C and friends: leave nothing open
                raise
            if (taken := self._took(batch)) is not None:
                return taken
            break
        raise StopIteration

    def _next_call(self) -> _native.Call | None:
        """The call to wait on for the next batch (now counted as waiting); None once it is all over."""
        if self._done or self._closed or self._call is None:
            return None
        self._reading = True
        return self._call

    def _took(self, batch: _native.Batch | None) -> _native.Batch | None:
        """What the call gave (None: it ended, and so did the subscription)."""
        self._reading = False
        if batch is None:
            self._end()
            return None
        self._fetched = batch.last_offset
        if self._telemetry:
            telemetry.delivered(self.stream, len(batch))
        return batch

    def _on_error(self, exc: _native.RpcFailure) -> None:
        """Resubscribe after the call failed with ``exc``, as the plan says; StopIteration when over."""
        self._reading = False
        moved, self._moved = self._moved, None
        if self._closed or self._client_closed():
            self._end()
            raise StopIteration
        error = moved or self._error(exc, mid_stream=True)
        start = self._plan.after(error, self.stop, self._fetched, self.start)
        if not isinstance(start, Start):
            self._end()
            if start is None:
                raise StopIteration
            raise start from exc
        log.info(
            "subscription %s[%d] lost (%s); resubscribing from %s", self.stream, self.partition, error, start
        )
        try:
            self._subscribe(start, self._plan.retries(error))
        except ErrClientClosed as exc:  # the client closed: its subscriptions end
            self._end()
            raise StopIteration from exc
        except LiftbridgeError:
            self._end()
            raise
        self.resubscribes += 1
        telemetry.resubscribed(self.stream)

    def _look(self) -> None:
        """One turn of the watch (:func:`_watch`): a subscription silent since the last one checks its broker.

        If it waits and heard nothing since the last turn, it asks whether its
        broker still serves it. A broker that another has replaced as leader, or
        that no longer answers, gets its call cancelled: the subscription then
        resubscribes (or raises, with no ``resubscribe_wait``; a broker that
        cannot be asked is then waited for).
        """
        call, address = self._call, self.address
        if call is None or not self._reading or self._fetched != self._seen:
            self._seen = self._fetched
            return
        verdict = self._serves(address, self._plan.check_timeout())
        cause = self._plan.silent(self.stream, self.partition, address, verdict)
        if cause is not None and self._reading and self._call is call and not self.closed:
            log.info("subscription %s[%d]: %s", self.stream, self.partition, cause)
            self._moved = cause
            call.cancel()

    def _end(self) -> None:
        self._done = True
        self._quiet.set()

    def close(self) -> None:
        """End the subscription (from any thread); iteration stops."""
        with self._lock:
            self._closed = True
            call = self._call
        self._quiet.set()
        if call is not None:
            call.cancel()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called or the subscription ended."""
        return self._closed or self._done

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _watch(ref: weakref.ref[Subscription], quiet: threading.Event) -> None:
    """Every :data:`SILENCE_CHECK` seconds until the subscription is over, a :meth:`Subscription._look`.

    It holds the subscription weakly: one dropped without being closed is not kept alive by its watch.
    """
    while not quiet.wait(SILENCE_CHECK):
        sub = ref()
        if sub is None:
            return
        sub._look()
        del sub
