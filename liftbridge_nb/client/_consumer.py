"""Consumer groups: a member that is assigned partitions, reads them, and checkpoints its position."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import grpc

from .._core import Call
from .._proto import api_pb2
from ..config import check_seconds
from ..errors import (
    ErrCursorsDisabled,
    ErrNoCheckpoint,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrPermissionDenied,
    LiftbridgeError,
    hint,
)
from ..models import Message, Start, check_id, check_name

if TYPE_CHECKING:
    from ._client import Lift
    from ._subscription import Subscription

log = logging.getLogger("liftbridge_nb")

AutoOffset = Literal["new", "earliest", "latest", "error"]
Key = tuple[str, int]

_NS = 1e-9

# What stops a member for good: no heartbeat mends it (a stale epoch in a rebalance, say, is mended).
_FATAL = (ErrNoCheckpoint, ErrNoSuchPartition, ErrCursorsDisabled, ErrPermissionDenied)


class Consumer(Iterator[Message]):
    """A member of consumer group ``group_id`` reading ``streams``; iterate it for messages.

    The group's coordinator assigns each member a share of the streams'
    partitions; fetching the assignment every ``0.4 x`` the group's consumer
    timeout is also the member's heartbeat. A newly assigned partition starts
    after the group's checkpoint (cursor ``__group:<group_id>``) or, when there
    is none, where ``auto_offset`` says (``new``, ``earliest``, ``latest``, or
    ``error`` to refuse). The offset of each message handed out is checkpointed
    every ``checkpoint_interval`` seconds and on :meth:`close`, which also
    leaves the group. Needs a server with a cursors stream. What stops the
    member for good (a partition with no checkpoint under ``auto_offset="error"``:
    :class:`ErrNoCheckpoint`; a stream deleted) is raised by :meth:`next`.
    """

    def __init__(
        self,
        client: Lift,
        group_id: str,
        streams: Sequence[str],
        *,
        consumer_id: str | None = None,
        auto_offset: AutoOffset = "new",
        checkpoint_interval: float = 5.0,
        buffer: int = 1024,
    ) -> None:
        if isinstance(streams, str) or not streams:
            raise ValueError("streams takes a non-empty list of stream names")
        if auto_offset not in ("new", "earliest", "latest", "error"):
            raise ValueError(f"auto_offset must be new, earliest, latest or error, not {auto_offset!r}")
        check_seconds("checkpoint_interval", checkpoint_interval)
        self.group_id = check_id(group_id, "group id")
        self.consumer_id = check_id(consumer_id or uuid.uuid4().hex, "consumer id")
        self.streams = [check_name(s) for s in streams]
        self.cursor_id = f"__group:{self.group_id}"
        self._client = client
        self._auto_offset = auto_offset
        self._checkpoint_interval = checkpoint_interval
        self._queue: queue.Queue[tuple[Key, Subscription, Message]] = queue.Queue(maxsize=buffer)
        self._lock = threading.Lock()
        self._subs: dict[Key, Subscription] = {}
        self._positions: dict[Key, int] = {}
        self._checkpointed: dict[Key, int] = {}
        self._closed = threading.Event()
        self.errors: list[LiftbridgeError] = []
        self._failure: LiftbridgeError | None = None  # what ended the member: next() raises it
        #: The group epoch of the current assignment, and the partitions assigned, by stream.
        self.epoch = 0
        self.assignments: dict[str, list[int]] = {}
        request = api_pb2.JoinConsumerGroupRequest(
            groupId=self.group_id, consumerId=self.consumer_id, streams=self.streams
        )
        try:
            join, _ = client._call_any(Call("group", "JoinConsumerGroup", request), None)
        except ErrNoSuchStream as exc:  # the server does not say which
            raise ErrNoSuchStream(
                f"group {self.group_id}: a stream of {self.streams} does not exist{hint(ErrNoSuchStream)}",
                exc.code,
                exc.details,
            ) from exc
        self.coordinator = join.coordinator
        self._consumer_timeout = join.consumerTimeout * _NS
        self._coordinator_timeout = join.coordinatorTimeout * _NS
        self._known_epoch = join.epoch  # the group's newest epoch as far as this member knows
        self._thread = threading.Thread(
            target=self._run, name=f"liftbridge-group-{self.group_id}", daemon=True
        )
        self._thread.start()

    # -- the member's loop ----------------------------------------------------------------------

    def _run(self) -> None:
        interval = max(0.2, 0.4 * self._consumer_timeout)
        last_contact = time.monotonic()
        next_checkpoint = time.monotonic() + self._checkpoint_interval
        first = True
        while not self._closed.is_set() and self._failure is None:
            try:
                epoch, assignment = self._fetch_assignments()
                last_contact = time.monotonic()
                if first or epoch != self.epoch:
                    self._reconcile(epoch, assignment)
                    first = False
            except LiftbridgeError as exc:
                if self._closed.is_set():
                    break
                # A stale epoch during a rebalance is routine; anything else is worth a warning.
                level = (
                    logging.INFO
                    if getattr(exc, "code", None) == grpc.StatusCode.FAILED_PRECONDITION
                    else logging.WARNING
                )
                log.log(level, "group %s: fetching assignments failed: %s", self.group_id, exc)
                self._recover_coordinator(last_contact)
            if time.monotonic() >= next_checkpoint:
                self._checkpoint()
                next_checkpoint = time.monotonic() + self._checkpoint_interval
            self._closed.wait(min(interval, self._checkpoint_interval))

    def _fetch_assignments(self) -> tuple[int, dict[str, list[int]]]:
        client = self._client
        address = client._cache.broker_address(self.coordinator)
        if address is None:
            client._refresh(None, None)
            address = client._cache.broker_address(self.coordinator)
        if address is None:
            raise LiftbridgeError(f"coordinator {self.coordinator} of group {self.group_id} is unknown")
        request = api_pb2.FetchConsumerGroupAssignmentsRequest(
            groupId=self.group_id, consumerId=self.consumer_id, epoch=self._known_epoch
        )
        resp = client._call_at(Call("group", "FetchConsumerGroupAssignments", request), address, None)
        self._known_epoch = resp.epoch
        return resp.epoch, {a.stream: sorted(a.partitions) for a in resp.assignments}

    def _recover_coordinator(self, last_contact: float) -> None:
        try:
            meta = self._client.fetch_metadata([], [self.group_id])
        except LiftbridgeError as exc:
            log.warning("group %s: metadata unavailable: %s", self.group_id, exc)
            return
        group = meta.groups.get(self.group_id)
        if group is None:
            return
        if group.coordinator != self.coordinator or group.epoch != self._known_epoch:
            self.coordinator, self._known_epoch = group.coordinator, group.epoch
        elif time.monotonic() - last_contact > self._coordinator_timeout:
            request = api_pb2.ReportConsumerGroupCoordinatorRequest(
                groupId=self.group_id,
                consumerId=self.consumer_id,
                coordinator=self.coordinator,
                epoch=self.epoch,
            )
            try:
                self._client._call_any(Call("group", "ReportConsumerGroupCoordinator", request), None)
            except LiftbridgeError as exc:
                log.warning("group %s: reporting coordinator failed: %s", self.group_id, exc)

    def _reconcile(self, epoch: int, assignment: dict[str, list[int]]) -> None:
        log.info(
            "group %s: member %s has epoch %d, assignment %s",
            self.group_id,
            self.consumer_id,
            epoch,
            assignment,
        )
        self._checkpoint()
        with self._lock:
            old, self._subs = self._subs, {}
        for sub in old.values():
            sub.close()
        self.epoch, self.assignments = epoch, assignment
        for stream, partitions in assignment.items():
            for partition in partitions:
                try:
                    self._start((stream, partition), epoch)
                except LiftbridgeError as exc:
                    self.errors.append(exc)
                    if isinstance(exc, _FATAL):
                        # Trying again will not help (no checkpoint, no stream...): the reader is told.
                        self._failure = self._failure or exc
                        return
                    log.warning("group %s: cannot read %s[%d]: %s", self.group_id, stream, partition, exc)
                    self.epoch = -1  # reconcile again at the next heartbeat

    def _start(self, key: Key, epoch: int) -> None:
        stream, partition = key
        cursor = self._client.fetch_cursor(self.cursor_id, stream, partition)
        if cursor >= 0:
            start = Start.at_offset(cursor + 1)
        elif self._auto_offset == "error":
            raise ErrNoCheckpoint(
                f"group {self.group_id} has no checkpoint for {stream}[{partition}] and auto_offset is "
                f"'error': set one (set_cursor({self.cursor_id!r}, ...)), or choose auto_offset "
                "new, earliest or latest"
            )
        else:
            start = {"new": Start.new_only(), "earliest": Start.earliest(), "latest": Start.latest()}[
                self._auto_offset
            ]
        with self._lock:
            self._checkpointed.setdefault(key, cursor)
        sub = self._client._subscribe(
            stream, partition, start=start, consumer=(self.group_id, epoch, self.consumer_id)
        )
        with self._lock:
            self._subs[key] = sub
        threading.Thread(
            target=self._pump, args=(key, sub), name=f"liftbridge-group-{stream}-{partition}", daemon=True
        ).start()

    def _pump(self, key: Key, sub: Subscription) -> None:
        try:
            for message in sub:
                while not sub.closed:
                    try:
                        self._queue.put((key, sub, message), timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except LiftbridgeError as exc:
            if not sub.closed and not self._closed.is_set():
                log.info("group %s: %s[%d] ended: %s", self.group_id, key[0], key[1], exc)

    def _checkpoint(self) -> None:
        with self._lock:
            due = {k: o for k, o in self._positions.items() if o > self._checkpointed.get(k, -1)}
        for (stream, partition), offset in due.items():
            try:
                self._client.set_cursor(self.cursor_id, stream, partition, offset)
            except LiftbridgeError as exc:
                log.warning(
                    "group %s: checkpoint of %s[%d] failed: %s", self.group_id, stream, partition, exc
                )
                continue
            with self._lock:
                self._checkpointed[(stream, partition)] = offset

    # -- iteration and lifecycle ----------------------------------------------------------------

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Message:
        return self.next()

    def next(self, timeout: float | None = None) -> Message:
        """The next message of any assigned partition; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed.is_set():
                raise StopIteration
            if self._failure is not None:
                raise self._failure
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            try:
                key, sub, message = self._queue.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"no message for group {self.group_id} within {timeout} s") from None
                continue
            with self._lock:
                # Messages buffered from a subscription a rebalance replaced are dropped: its
                # successor starts after the checkpoint and delivers them again.
                current = self._subs.get(key) is sub and message.offset > self._positions.get(key, -1)
                if current:
                    self._positions[key] = message.offset
            if current:
                return message

    def commit(self) -> None:
        """Checkpoint the offsets handed out so far, now."""
        self._checkpoint()

    def close(self) -> None:
        """Checkpoint, leave the group and stop reading."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(timeout=self._client.options.timeout * 2)
        self._checkpoint()
        leave = api_pb2.LeaveConsumerGroupRequest(groupId=self.group_id, consumerId=self.consumer_id)
        try:
            self._client._call_any(Call("group", "LeaveConsumerGroup", leave), None)
        except LiftbridgeError as exc:
            log.warning("group %s: leaving failed: %s", self.group_id, exc)
        with self._lock:
            subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            sub.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
