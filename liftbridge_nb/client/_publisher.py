"""Pipelined publishing over one PublishAsync stream, acks matched by correlation id, stream and partition.

Both clients publish through this (``AsyncLift`` hands its futures to asyncio).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from .. import _native
from .. import _telemetry as telemetry
from .._convert import ack_from_proto, publish_request
from .._core import BROKER_RECEIVE_LIMIT, too_large_request
from .._proto import api_pb2
from ..config import Backoff
from ..errors import (
    ErrAckTimeout,
    ErrAckUncertain,
    ErrClientClosed,
    ErrConnection,
    ErrNoSuchPartition,
    LiftbridgeError,
    NativeRpcError,
    from_publish_error,
    from_rpc_error,
)
from ..models import Ack, AckPolicy, Message

log = logging.getLogger("liftbridge_nb")

_IDLE_LOOK = 0.25  # seconds between an idle sweeper's looks at the ack deadlines
_LONGEST_WAIT = 60.0  # seconds a background thread waits at most before it looks again
BatchSend = Callable[[list[Message], list[int], str, int, float, int], tuple[_native.BatchCall, str]]
"""Starts a native batch on a broker (messages, their partitions, the prefix of the correlation ids it
gives, window, ack timeout, largest request): the call and the broker's address (see
``publish_batch``); raises ErrConnection when none answers."""
LEADER, NONE = AckPolicy.LEADER, AckPolicy.NONE
_UNANSWERED: Any = object()  # a batch's message without an outcome yet

SUSPECT_AFTER = 1.0
"""Seconds without an ack (policy leader) after which the client looks the partition's leader up again."""


def refusal(code: int, text: str) -> LiftbridgeError:
    """The error of a message the server refused: a ``PublishAsyncError`` code and its text."""
    return from_publish_error(api_pb2.PublishAsyncError.Code.Name(code), text)  # type: ignore[arg-type]


def stream_error(failure: tuple[int, str], address: str) -> ErrConnection:
    """The error of a native publish stream that broke with ``failure`` (gRPC code, text)."""
    error = from_rpc_error(NativeRpcError(*failure), "publish", address=address)
    if isinstance(error, ErrConnection):
        return error
    return ErrConnection(f"the publish stream broke: {error}", [address])


def _result(future: Future[Ack | None]) -> Ack | LiftbridgeError | None:
    """A settled publish future's Ack (None: ack policy none) or its error."""
    error = future.exception()
    return error if isinstance(error, LiftbridgeError) else future.result()


def uncertain_ack(stream: str, partition: int, deposed: str, now: str, message: object) -> ErrAckUncertain:
    """The error for an ack (policy leader) that may come from ``deposed``, a leader replaced by ``now``."""
    return ErrAckUncertain(
        f"{stream}[{partition}]: the ack may come from a deposed leader ({deposed}, replaced by {now}, "
        f"and it has not said it stepped down): with ack policy leader, a deposed leader acks what "
        "it later truncates, so the message may be lost; read the log to know, and publish with ack "
        "policy all where loss matters",
        message,
    )


class Routes:
    """What the publisher asks its client about partitions (the client's metadata cache).

    The default knows nothing: no leader checks, no lookups.
    """

    def leader(self, stream: str, partition: int) -> str | None:
        """The id of the partition's leader as the client knows it now, None if unknown."""
        return None

    def look_up(self, streams: list[str], timeout: float) -> None:
        """Refresh what the client knows of ``streams`` (raises :class:`LiftbridgeError` if it cannot)."""

    def exists(self, stream: str, partition: int) -> bool:
        """Whether the partition exists, as the client knows it now."""
        return True

    def stepped_down(self, stream: str, partition: int, broker: str, timeout: float) -> bool:
        """Whether ``broker`` itself says, within ``timeout``, that it no longer leads the partition."""
        return False

    def refuses(self, broker: str, timeout: float) -> bool:
        """Whether ``broker``'s port refuses connections: its process is gone, and what it held with it."""
        return False


STEP_DOWN_GRACE = 1.0
"""Seconds a deposed leader's acks stay in doubt once it said it stepped down (its last are in flight)."""


class LeaderDoubts:
    """Which partitions' acks of policy leader may be false, for every publishing path of a client.

    A leader cut off (paused, partitioned) while another takes over acks what it
    had buffered, and what it gets until it learns, then truncates it; an ack
    does not say which broker sent it. So from the moment the client sees a
    partition's leader change (a send to another leader than the last, or an
    ack after the leader changed) the deposed leader is in doubt, and every ack
    of policy leader of that partition is :class:`ErrAckUncertain`, until the
    deposed leader itself says it no longer leads (:meth:`stepped_down`, once
    it stopped acking: a broker stops its partition's leading loops first), and
    a grace for the acks it sent before has passed. Neither the cluster's
    metadata nor the in-sync replicas tell: a hung leader stays listed in sync,
    and until it learns, its own metadata names itself leader. One whose port
    refuses connections is gone, with whatever it had buffered: :meth:`dead`
    ends its doubts, until it leads again. Thread-safe.
    """

    def __init__(self, routes: Routes, clock: Callable[[], float] = time.monotonic) -> None:
        self._routes = routes
        self._clock = clock
        self._lock = threading.Lock()
        self._leaders: dict[tuple[str, int], str] = {}  # the leader each partition was last sent to
        self._doubts: dict[tuple[str, int], str] = {}  # partition: its deposed leader
        self._ending: dict[tuple[str, int], float] = {}  # partition: when its doubt ends (monotonic)
        self._cleared: dict[tuple[str, int], str] = {}  # partition: the deposed leader that stepped down
        self._dead: set[str] = set()  # deposed leaders whose process is gone

    def sent(self, stream: str, partition: int) -> str | None:
        """Note a send of policy leader; returns the partition's leader as known (to judge its ack by)."""
        leader = self._routes.leader(stream, partition)
        if leader is not None:
            key = (stream, partition)
            with self._lock:
                self._dead.discard(leader)  # back, and leading
                if self._cleared.get(key) == leader:
                    del self._cleared[key]
                if (before := self._leaders.get(key)) != leader:
                    self._leaders[key] = leader
                    if before is not None and before not in self._dead:
                        self._suspect(key, before, leader)
        return leader

    def doubt(self, stream: str, partition: int, sent_to: str | None) -> tuple[str, str] | None:
        """(deposed leader, leader now) if an ack of a message sent when ``sent_to`` led may be false."""
        key = (stream, partition)
        now = self._routes.leader(stream, partition)
        with self._lock:
            if (
                now is not None
                and sent_to is not None
                and now != sent_to
                and sent_to not in self._dead
                and self._cleared.get(key) != sent_to
            ):
                self._suspect(key, sent_to, now)
            deposed = self._doubts.get(key)
            if deposed is None:
                return None
            if (ends := self._ending.get(key)) is not None and self._clock() >= ends:
                del self._doubts[key], self._ending[key]
                self._cleared[key] = deposed
                log.debug("%s[%d]: acks of policy leader are sure again (%s stepped down)", *key, deposed)
                return None
        return deposed, now or "none known"

    def _suspect(self, key: tuple[str, int], deposed: str, now: str) -> None:
        # Called with the lock held: the first deposed leader stays in doubt until it steps down.
        if key not in self._doubts:
            self._doubts[key] = deposed
            log.debug("%s[%d]: leader %s replaced by %s: its acks are in doubt", *key, deposed, now)

    def judge(self, stream: str, partition: int, sent_to: str, message: object) -> ErrAckUncertain | None:
        """Why an ack of a message sent when ``sent_to`` led may be false; None if it may not."""
        doubt = self.doubt(stream, partition, sent_to)
        return None if doubt is None else uncertain_ack(stream, partition, *doubt, message)

    def streams(self) -> set[str]:
        """The streams with a partition in doubt (to look up again until it ends)."""
        with self._lock:
            return {stream for stream, _ in self._doubts}

    def pending(self) -> list[tuple[str, int, str]]:
        """(stream, partition, deposed leader) of each doubt whose deposed leader has not stepped down."""
        with self._lock:
            return [(s, p, d) for (s, p), d in self._doubts.items() if (s, p) not in self._ending]

    def stepped_down(self, stream: str, partition: int, broker: str) -> None:
        """``broker`` said it no longer leads the partition: the doubt ends after :data:`STEP_DOWN_GRACE`."""
        key = (stream, partition)
        with self._lock:
            if self._doubts.get(key) == broker:
                self._ending.setdefault(key, self._clock() + STEP_DOWN_GRACE)

    def dead(self, broker: str) -> None:
        """``broker``'s process is gone (its port refuses connections): its acks can no longer come."""
        with self._lock:
            self._dead.add(broker)
            ended = [key for key, d in self._doubts.items() if d == broker]
            for key in ended:
                del self._doubts[key]
                self._ending.pop(key, None)
                log.debug("%s[%d]: acks of policy leader are sure again (%s is gone)", *key, broker)


@dataclass
class _Pending:
    """A message sent and not settled: its future, and what judging its ack needs."""

    future: Future[Ack | None]
    request: api_pb2.PublishRequest
    partition: int
    deadline: float
    message: object  # the caller's Message, carried by ErrAckUncertain
    leader: str | None  # the partition's leader as known when it was sent (policy leader only)
    refused: LiftbridgeError | None = None  # the last "no such partition" while it is retried
    retries: int = 0
    misses: int = 0  # lookups that did not find its stream


class AsyncPublisher:
    """One open PublishAsync call: a sender queue, a reader thread, ack deadlines, retries.

    ``open_call`` starts the bidirectional call with a request iterator, in
    at most the seconds given (None: its own bound), and returns (response
    iterator, address). When the call breaks, every pending future fails with
    :class:`ErrConnection`; the next publish opens a new call. A message in
    flight is never re-sent (it may be stored: sending it again could store it
    twice); one a broker refused as "no such stream or partition" (a broker
    behind on the metadata, during a leader's restart) is sent again after a
    metadata refresh finds its stream, until its ack timeout; the refusal stands
    when the refresh finds the stream without that partition, or ``lookups``
    refreshes do not find the stream (as for a unary call, see
    :class:`~liftbridge_nb._core.Retries`).

    An ack counts only if it names the message's stream (several streams may
    listen on one subject, each acking with the same correlation id). An ack of
    policy leader is judged by :attr:`doubts` (:class:`LeaderDoubts`): the
    client looks a partition's leader up again each second its acks are
    overdue, or it is in doubt.
    """

    def __init__(
        self,
        open_call: Callable[[float | None], tuple[_native.PublishCall, str]],
        *,
        max_request_bytes: int = BROKER_RECEIVE_LIMIT,
        routes: Routes | None = None,
        backoff: Backoff | None = None,
        lookups: int = 5,
    ) -> None:
        self._open_call = open_call
        self._lookups = lookups
        self.max_request_bytes = max_request_bytes
        self._routes = routes or Routes()
        self._backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._retrying: dict[str, tuple[float, _Pending]] = {}  # cid: (when to send again, entry)
        self._deadlines: list[tuple[float, str]] = []
        self._looks: list[tuple[float, str]] = []  # (when an ack is overdue, cid), policy leader only
        self._suspects: dict[str, float] = {}  # stream: when its leader was last looked up
        self._to_look: set[str] = set()
        self.doubts = LeaderDoubts(self._routes)
        self._doubts_looked = 0.0
        self._call: _native.PublishCall | None = None
        self._address = ""  # the broker of the open call
        self._wake = threading.Event()
        self._helper_wake = threading.Event()
        self._sweep_at: float | None = None  # when the sweeper looks next (None: not started)
        self._closed = False
        self._threads: dict[str, threading.Thread] = {}
        # Correlation ids: a random prefix once, then a counter (uuid4 per message costs a urandom call).
        self._ids = map(f"{uuid.uuid4().hex[:12]}{{:x}}".format, itertools.count())

    @property
    def is_open(self) -> bool:
        """Whether the stream is open: a :meth:`submit` then does not wait for a connection."""
        return self._call is not None and not self._closed

    def _start(self, name: str, target: Callable[[], None]) -> None:
        # Called with the lock held.
        if name not in self._threads:
            self._threads[name] = threading.Thread(target=target, name=name, daemon=True)
            self._threads[name].start()

    def _ensure_open(self, open_timeout: float | None) -> _native.PublishCall:
        # Called with the lock held.
        if self._closed:
            raise ErrClientClosed("the client is closed: make a new one (or use it in a with block)")
        if self._call is not None:
            return self._call
        call, address = self._open_call(open_timeout)
        self._call, self._address = call, address
        threading.Thread(target=self._read, args=(call, address), name="liftbridge-acks", daemon=True).start()
        self._start("liftbridge-ack-timeouts", self._sweep)
        self._start("liftbridge-publish-lookups", self._help)
        return call

    def submit(
        self,
        request: api_pb2.PublishRequest,
        partition: int,
        ack_timeout: float,
        open_timeout: float | None = None,
        *,
        message: object = None,
    ) -> Future[Ack | None]:
        """Send ``request``; the future resolves to its Ack (None with ack policy NONE).

        Opening the stream, when it is not open, takes at most ``open_timeout``
        seconds. A request over ``max_request_bytes`` is not sent: its future
        fails with :class:`ErrMessageTooLarge` (a broker would fail the whole
        stream). ``message`` is what :class:`ErrAckUncertain` carries.
        """
        future: Future[Ack | None] = Future()
        future.set_running_or_notify_cancel()
        try:
            data, leader = self._prepare(request, partition)
        except LiftbridgeError as exc:
            future.set_exception(exc)
            return future
        with self._lock:
            call = self._ensure_open(open_timeout)
            if request.ackPolicy == api_pb2.NONE:
                self._send(call, data)
                future.set_result(None)
                return future
            now = time.monotonic()
            entry = _Pending(future, request, partition, now + ack_timeout, message, leader)
            self._pending[request.correlationId] = entry
            heapq.heappush(self._deadlines, (entry.deadline, request.correlationId))
            if leader is not None:
                heapq.heappush(self._looks, (now + SUSPECT_AFTER, request.correlationId))
            self._send(call, data)
            # Wake the sweeper only if it sleeps past this deadline (deadlines mostly grow).
            wake = self._sweep_at is None or min(entry.deadline, now + SUSPECT_AFTER) < self._sweep_at
        if wake:
            self._wake.set()
        return future

    def _prepare(self, request: api_pb2.PublishRequest, partition: int) -> tuple[bytes, str | None]:
        """``request`` encoded (a correlation id given), and the leader to judge its ack by (policy leader).

        Raises :class:`ErrMessageTooLarge` for a request over ``max_request_bytes`` (unsent).
        """
        if not request.correlationId:
            request.correlationId = next(self._ids)
        data = request.SerializeToString()
        if len(data) > self.max_request_bytes:
            raise too_large_request(len(data), self.max_request_bytes)
        leader = self.doubts.sent(request.stream, partition) if request.ackPolicy == api_pb2.LEADER else None
        return data, leader

    def open(self, timeout: float | None) -> None:
        """Open the stream unless it is open, in at most ``timeout`` seconds (else :class:`ErrConnection`)."""
        with self._lock:
            self._ensure_open(timeout)

    def publish(self, message: Message, stream: str, partition: int, ack_timeout: float) -> Ack:
        """Publish ``message`` (ack policy leader or all) to ``stream``; wait for its ack in the native call.

        The native call encodes the request, takes its response in the caller's
        own thread (no hop through the reader thread) and makes the Ack: the
        latency of one publish. Raises what :meth:`submit`'s future would:
        :class:`ErrAckTimeout`, :class:`ErrMessageTooLarge` (unsent), a refusal,
        :class:`ErrAckUncertain`, or :class:`ErrConnection` once the stream breaks
        with the message in flight (it may be stored).
        """
        leader = self.doubts.sent(stream, partition) if message.ack_policy == LEADER else None
        with self._lock:  # opened by the caller (open()); a stream closed since is opened again
            call, address = self._ensure_open(None), self._address
        try:
            got = call.publish(message, partition, next(self._ids), ack_timeout, self.max_request_bytes)
        except _native.RpcFailure as exc:
            raise stream_error(exc.args, address) from None
        if got.__class__ is not Ack:
            if got is None:
                self._leave(call)
                raise ErrAckTimeout(f"no ack within {ack_timeout:g} s")
            if isinstance(got, int):
                raise too_large_request(got, self.max_request_bytes)
            raise refusal(*got)
        doubt = None if leader is None else self.doubts.judge(stream, partition, leader, message)
        if doubt is not None:
            raise doubt
        return got

    def _leave(self, call: _native.PublishCall) -> None:
        """End ``call``, whose broker let an ack time out (it may hang), if nothing else is in flight.

        The next publish then opens a stream anew, on a broker chosen again. (With
        other messages in flight the call stays: their own ack timeouts decide.)
        """
        with self._lock:
            if self._call is not call or self._pending:
                return
            self._call = None
        call.cancel()

    def _outcome(
        self, resp: api_pb2.PublishResponse, stream: str, partition: int, leader: str | None, message: object
    ) -> Ack | LiftbridgeError:
        """What a response says of its message: the Ack, or the error (a refusal, a doubtful ack).

        ``leader`` is the partition's leader when the message (of ack policy leader) was sent.
        """
        if resp.HasField("asyncError"):
            return refusal(resp.asyncError.code, resp.asyncError.message)
        ack = ack_from_proto(resp.ack, partition)
        if leader is not None:
            doubt = self.doubts.judge(stream, partition, leader, message)
            if doubt is not None:
                return doubt
        return ack

    def _settle(self, entry: _Pending, resp: api_pb2.PublishResponse) -> None:
        """Resolve ``entry`` with its response (called without the lock)."""
        outcome = self._outcome(resp, entry.request.stream, entry.partition, entry.leader, entry.message)
        if isinstance(outcome, ErrNoSuchPartition) and self._retry(entry, outcome):
            return
        if isinstance(outcome, LiftbridgeError):
            entry.future.set_exception(outcome)
        else:
            entry.future.set_result(outcome)

    def publish_batch(
        self,
        messages: list[Message],
        partitions: list[int],
        ack_timeout: float,
        window: int,
        send: BatchSend,
    ) -> list[Ack | LiftbridgeError | None]:
        """Publish ``messages`` (each to its partition), ``window`` in flight; outcomes in order.

        The batch goes over a call of its own (``send``: the native data plane
        encodes the requests and matches the acks, no Python per message in
        flight). Acks of policy leader are judged as they come (see
        :class:`LeaderDoubts`), while the partitions are looked up each second
        acks are overdue or a partition is in doubt. A message refused as an
        unknown partition is sent again through :meth:`submit`, which looks the
        partition up and retries within the ack timeout; one too large is not
        sent; one without an ack in time is :class:`ErrAckTimeout`; once the
        stream breaks, every message still unacknowledged gets that
        :class:`ErrConnection`.
        """
        results: list[Any] = [_UNANSWERED] * len(messages)
        routed = zip(messages, partitions, strict=True)
        judged = {(m.stream or "", p) for m, p in routed if m.ack_policy == LEADER}
        leaders = {key: self.doubts.sent(*key) for key in judged}
        watched = sorted({stream for stream, _ in leaders})
        started = time.perf_counter()
        try:
            call, address = send(
                messages, partitions, f"{next(self._ids)}-", window, ack_timeout, self.max_request_bytes
            )
        except ErrConnection as exc:
            return [exc] * len(messages)
        log.debug("batch of %d through %s; leaders when sent: %s", len(messages), address, leaders)
        for i, size in call.too_large:
            results[i] = too_large_request(size, self.max_request_bytes)
        if watched:
            self._look_if_due(watched)
        counted = telemetry.enabled()
        names = {m.stream or "" for m in messages} if counted else set()
        one = next(iter(names)) if len(names) == 1 else None  # the batch's stream, if it has one
        again: list[tuple[int, Future[Ack | None]]] = []
        while (answers := call.answers(SUSPECT_AFTER, results)) is not None:
            acked, refusals = answers  # the acks are in results already
            # Judged once per partition for the acks that came together; a leader change seen in a
            # lookup puts it in doubt at once (the deposed one's stale metadata may name it later).
            doubts = {key: d for key, sent_to in leaders.items() if (d := self.doubts.doubt(*key, sent_to))}
            if doubts:
                for i in acked:
                    message, partition = messages[i], partitions[i]
                    key = (message.stream or "", partition)
                    if key in doubts and message.ack_policy == LEADER:
                        results[i] = uncertain_ack(*key, *doubts[key], message)
            if counted and acked:
                counts = {one: len(acked)} if one else Counter(messages[i].stream or "" for i in acked)
                for stream, n in counts.items():
                    telemetry.acked_many(stream, started, n)
            for i, code, text in refusals:
                outcome = refusal(code, text)
                if isinstance(outcome, ErrNoSuchPartition):
                    message, partition = messages[i], partitions[i]
                    stream = message.stream or ""
                    request = publish_request(message, stream, partition, message.correlation_id or "")
                    again.append((i, self.submit(request, partition, ack_timeout, message=message)))
                    telemetry.track_ack(again[-1][1], request.stream)
                    results[i] = None
                    continue
                results[i] = outcome
            if watched:
                self._look_if_due(watched)
        failure = call.failure()
        broken = None if failure is None else stream_error(failure, address)
        for i, result in enumerate(results):
            if result is _UNANSWERED:
                unacked = messages[i].ack_policy == NONE
                results[i] = broken if unacked else broken or ErrAckTimeout("no ack within the ack timeout")
        for i, future in again:
            results[i] = _result(future)
        return results

    def _look_if_due(self, watched: list[str]) -> None:
        """Look ``watched`` (and the streams in doubt) up each second while a batch of them is out.

        Acks that come promptly from a new leader do not say that the leader
        changed; only a lookup does, and the deposed one may wake with false acks.
        """
        now = time.monotonic()
        if now - self._doubts_looked >= SUSPECT_AFTER:
            self._doubts_looked = now
            self._look_soon(sorted(set(watched) | self.doubts.streams()))

    def _look_soon(self, streams: list[str]) -> None:
        """Have the lookup thread look ``streams`` up (and ask deposed leaders whether they stepped down)."""
        with self._lock:
            if self._closed:
                return
            self._to_look.update(streams)
            self._start("liftbridge-publish-lookups", self._help)
        self._helper_wake.set()

    def _retry(self, entry: _Pending, error: LiftbridgeError) -> bool:
        """Send a refused message again later, if its ack timeout allows; False if it does not."""
        delay = self._backoff.delay(entry.retries)
        at = time.monotonic() + delay
        if at >= entry.deadline or self._closed:
            return False
        entry.refused, entry.retries = error, entry.retries + 1
        with self._lock:
            self._retrying[entry.request.correlationId] = (at, entry)
            self._to_look.add(entry.request.stream)
        self._helper_wake.set()
        return True

    @staticmethod
    def _send(call: _native.PublishCall, data: bytes) -> None:
        """Queue a request on the stream; one that just broke fails what it holds (see :meth:`_read`)."""
        with contextlib.suppress(_native.RpcFailure):
            call.send(data)

    def _read(self, call: _native.PublishCall, address: str) -> None:
        try:
            while (responses := call.responses()) is not None:
                for data in responses:
                    resp = api_pb2.PublishResponse.FromString(data)
                    cid = resp.correlationId or resp.ack.correlationId
                    with self._lock:
                        entry = self._pending.get(cid)
                        if entry is None:
                            continue  # timed out already, or not ours
                        if not resp.HasField("asyncError") and resp.ack.stream != entry.request.stream:
                            continue  # another stream on the same subject: the message's own ack is to come
                        del self._pending[cid]
                    self._settle(entry, resp)
            error: LiftbridgeError = ErrConnection("the publish stream ended", [address])
        except _native.RpcFailure as exc:
            error = stream_error(exc.args, address)
        failed: list[_Pending] = []
        with self._lock:
            if self._call is call:
                self._call = None
            if self._call is None:  # (else it was left idle for a newer call: what is pending is the newer's)
                failed = list(self._pending.values())
                self._pending.clear()
                self._deadlines = [d for d in self._deadlines if d[1] in self._retrying]
                heapq.heapify(self._deadlines)
                self._looks.clear()
        call.cancel()
        if failed and not self._closed:
            log.warning(
                "publish stream to %s broke with %d messages unacknowledged: %s", address, len(failed), error
            )
        for entry in failed:
            entry.future.set_exception(error)

    def _sweep(self) -> None:
        """Fail what is past its ack timeout; ask for a lookup of partitions whose acks are overdue."""
        while not self._closed:
            wait = _IDLE_LOOK
            expired: list[tuple[_Pending, LiftbridgeError]] = []
            try:
                with self._lock:
                    now = time.monotonic()
                    while self._deadlines and self._deadlines[0][0] <= now:
                        _, cid = heapq.heappop(self._deadlines)
                        entry = self._pending.pop(cid, None)
                        if entry is not None:
                            expired.append((entry, ErrAckTimeout("no ack within the ack timeout")))
                        elif (retry := self._retrying.pop(cid, None)) is not None:
                            expired.append((retry[1], retry[1].refused or ErrAckTimeout("no ack in time")))
                    again = []
                    while self._looks and self._looks[0][0] <= now:
                        _, cid = heapq.heappop(self._looks)
                        if (entry := self._pending.get(cid)) is not None:
                            again.append((now + SUSPECT_AFTER, cid))  # looked up each second it is late
                            stream = entry.request.stream
                            if now - self._suspects.get(stream, -SUSPECT_AFTER) >= SUSPECT_AFTER:
                                self._suspects[stream] = now
                                self._to_look.add(stream)
                    for look in again:
                        heapq.heappush(self._looks, look)
                    doubted = self.doubts.streams()
                    if doubted and now - self._doubts_looked >= SUSPECT_AFTER:
                        self._doubts_looked = now
                        self._to_look.update(doubted)
                    if self._to_look:
                        self._helper_wake.set()
                    # Idle, it looks again a moment later: a publish then need not wake it (a thread switch
                    # in the way of every one-at-a-time publish), only one due before it looks.
                    due = [h[0][0] for h in (self._deadlines, self._looks) if h]
                    longest = SUSPECT_AFTER if doubted else _LONGEST_WAIT
                    wait = min(longest, max(0.0, min(due) - now)) if due else _IDLE_LOOK
                    self._sweep_at = now + wait
            except Exception:  # never die silently: the futures would wait forever
                log.exception("the ack timeout sweeper failed; failing what it was handling")
            for entry, error in expired:
                entry.future.set_exception(error)
            self._wake.wait(wait)
            self._wake.clear()

    def _help(self) -> None:
        """Look partitions up again (overdue acks, refusals), and send refused messages again."""
        while not self._closed:
            try:
                self._help_once()
            except Exception:  # never die silently: the futures would wait forever
                log.exception("publish lookups failed")
                with self._lock:
                    stuck, self._retrying = list(self._retrying.values()), {}
                for _, entry in stuck:
                    entry.future.set_exception(entry.refused or ErrConnection("publish retry failed"))
            with self._lock:
                due = [at for at, _ in self._retrying.values()]
            wait = min(_LONGEST_WAIT, max(0.0, min(due) - time.monotonic())) if due else _IDLE_LOOK * 4
            self._helper_wake.wait(wait)
            self._helper_wake.clear()

    def _help_once(self) -> None:
        with self._lock:
            streams, self._to_look = sorted(self._to_look), set()
        for stream in streams:
            try:
                self._routes.look_up([stream], 2.0)
                log.debug("looked %s up: partition 0 led by %s", stream, self._routes.leader(stream, 0))
            except LiftbridgeError as exc:
                log.debug("looking up %s failed: %s", stream, exc)
        if streams:  # as often as partitions in doubt are looked up: each second
            self._check_deposed()
        now = time.monotonic()
        with self._lock:
            due = [cid for cid, (at, _) in self._retrying.items() if at <= now]
            entries = [self._retrying.pop(cid)[1] for cid in due]
        for entry in entries:
            request = entry.request
            if self._closed:
                entry.future.set_exception(entry.refused or ErrConnection("the client was closed"))
                continue
            if not self._routes.exists(request.stream, entry.partition):
                # A known stream without the partition has none of that number. An unknown stream
                # may be one the answering broker has not replayed yet (the others too slow to ask).
                refused = entry.refused or ErrNoSuchPartition("no such partition")
                entry.misses += 1
                known = self._routes.exists(request.stream, 0)
                if known or entry.misses >= self._lookups or not self._retry(entry, refused):
                    entry.future.set_exception(refused)
                continue
            entry.misses = 0
            try:
                with self._lock:
                    call = self._ensure_open(min(2.0, max(0.001, entry.deadline - now)))
                    self._pending[request.correlationId] = entry
                    self._send(call, request.SerializeToString())
            except LiftbridgeError as exc:
                entry.future.set_exception(exc)

    def _check_deposed(self) -> None:
        """Ask each deposed leader in doubt whether it is gone (its port refuses) or stepped down."""
        hung: set[str] = set()
        for stream, partition, broker in self.doubts.pending():
            if broker in hung:
                continue
            if self._routes.refuses(broker, 0.5):
                log.info("deposed leader %s is gone: its partitions' acks are no longer in doubt", broker)
                self.doubts.dead(broker)
            elif self._routes.stepped_down(stream, partition, broker, 0.5):
                log.info("deposed leader %s of %s[%d] stepped down", broker, stream, partition)
                self.doubts.stepped_down(stream, partition, broker)
            else:
                hung.add(broker)  # its other partitions next time

    def close(self) -> None:
        """End the stream; pending acks keep arriving for up to the server's 5 s grace."""
        with self._lock:
            self._closed = True
            if self._call is not None:
                self._call.close()
                self._call = None
            retrying, self._retrying = list(self._retrying.values()), {}
        self._wake.set()
        self._helper_wake.set()
        for _, entry in retrying:
            entry.future.set_exception(entry.refused or ErrConnection("the client was closed"))
