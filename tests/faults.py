"""Fault injection on the real local cluster, and the ledger that proves nothing was lost.

A fault test publishes numbered values, records what the caller was told about
each (acked at an offset, or which error), kills and restarts brokers, reads
the whole log back and compares. Counts go to ``build/faults/<name>.json``.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from liftbridge_nb import Lift, Message, Start, Stop
from liftbridge_nb._proto import api_pb2
from liftbridge_nb.errors import ErrConnection, ErrDeadlineExceeded, ErrNotLeader, LiftbridgeError
from liftbridge_nb.server import LocalCluster
from liftbridge_nb.server._probe import open_stub
from tests.polling import wait_for

REPORTS = Path(__file__).resolve().parent.parent / "build" / "faults"


def leader(cluster: LocalCluster, stream: str, *, other_than: int | None = None) -> int:
    """The index of the node leading ``stream``'s partition 0 (a new one, with ``other_than``)."""
    return wait_for(
        lambda: n if (n := cluster.leader_of(stream)) is not None and n != other_than else None,
        timeout=90,
        what=f"a leader of {stream}" + ("" if other_than is None else f" other than node{other_than}"),
        interval=0.1,
    )


def isr(cluster: LocalCluster, stream: str) -> set[str]:
    """The partition's in-sync replicas, as its current leader says (empty while none leads)."""
    node = cluster.leader_of(stream)
    if node is None:
        return set()
    with Lift(cluster.addresses[node], timeout=5) as client:
        try:
            return set(client.fetch_partition_metadata(stream).isr)
        except LiftbridgeError:
            return set()


def wait_in_isr(cluster: LocalCluster, stream: str, size: int = 3) -> None:
    """Wait until ``size`` replicas are in sync again."""
    wait_for(lambda: len(isr(cluster, stream)) >= size or None, timeout=120, what=f"an ISR of {size}")


def agreed(cluster: LocalCluster, stream: str) -> None:
    """Wait until every node names the same leader of partition 0 and it has 3 replicas in sync.

    (A broker just restarted may still replay old metadata, in which it leads.)
    """

    def views() -> set[str | None]:
        out: set[str | None] = set()
        for address in cluster.addresses:
            with Lift(address, timeout=5) as client:
                try:
                    out.add(client.fetch_metadata([stream]).streams[stream].partitions[0].leader)
                except (LiftbridgeError, KeyError):
                    out.add(None)
        return out

    wait_for(lambda: (len(v := views()) == 1 and None not in v) or None, timeout=120, what="agreed metadata")
    wait_in_isr(cluster, stream)


def kill_leader(cluster: LocalCluster, stream: str) -> int:
    """SIGKILL the partition's leader; returns its index once another node leads."""
    node = leader(cluster, stream)
    cluster.kill(node)
    leader(cluster, stream, other_than=node)
    return node


def rejoin(cluster: LocalCluster, stream: str, node: int) -> None:
    """Restart a killed node and wait until it is back in the ISR and names the new leader.

    The ISR alone does not say so: the killed node may never have left it (replica.max.lag.time had not
    run out; so in 2 of 4 rounds here), and just after its restart its metadata may name no leader.
    """
    cluster.restart(node)
    agreed(cluster, stream)


def publish_until_acked(client: Lift, message: Message) -> int:
    """Publish one message, again while no leader takes it; returns its acked offset."""

    def attempt() -> int | None:
        try:
            ack = client.publish(message, timeout=3)
        except (ErrConnection, ErrNotLeader, ErrDeadlineExceeded):
            return None
        assert ack is not None
        return ack.offset

    return wait_for(attempt, timeout=90, what="a leader to take the publish", interval=0.2)


def _leads(address: str, stream: str) -> api_pb2.PartitionMetadata | None:
    """Partition 0's metadata as the broker at ``address`` answers it while it leads; None otherwise.

    Asked of that broker itself: it answers FetchPartitionMetadata only while it
    really leads the partition (its leader loop runs), whatever its metadata says.
    """
    request = api_pb2.FetchPartitionMetadataRequest(stream=stream, partition=0)
    with open_stub(address, None) as stub:
        try:
            return stub.FetchPartitionMetadata(request, timeout=5).metadata
        except grpc.RpcError:
            return None


def read_log(client: Lift, stream: str) -> list[Message]:
    """Every message of partition 0, from the earliest offset to the newest, as its leader holds them.

    A read counts only if it came whole from one of ``client``'s brokers that
    leads the partition as FetchPartitionMetadata says (a broker answers it only
    while its leader loop runs; Subscribe checks only the leader its metadata
    names), before and after the read, with the last offset read as its newest
    offset and high watermark. Otherwise it is read again: a subscription that
    resubscribed elsewhere mid-read splices two brokers' logs (after a failover
    the ISR still names the deposed leader for up to clustering.replica.max.lag.time,
    so an ISR of 3 does not say it caught up). Read again too while the server
    fails the read (a replica that just truncated its log can answer "segment
    not found" for a moment). Nothing may publish meanwhile.
    """

    def attempt() -> list[Message] | None:
        for address in client.addresses:
            if (before := _leads(address, stream)) is None:
                continue
            log: list[Message] = []
            read_at = {address}
            try:
                with (
                    Lift(address, timeout=30) as there,
                    there.subscribe(stream, start=Start.earliest(), stop=Stop.latest(), timeout=30) as sub,
                ):
                    for message in sub:
                        log.append(message)
                        read_at.add(sub.address)
            except LiftbridgeError:
                return None
            if read_at != {address} or (after := _leads(address, stream)) is None:
                return None
            newest = len(log) - 1
            return log if before.newestOffset == after.newestOffset == after.highWatermark == newest else None
        return None

    return wait_for(attempt, timeout=120, what=f"a read of all of {stream} from its leader", interval=1.0)


def replica_log(address: str, stream: str) -> list[tuple[int, bytes]] | None:
    """Partition 0 as the broker at ``address`` holds it (committed, as it knows): (offset, value) pairs.

    Read there, as an in-sync replica (Subscribe with readISRReplica, which a
    follower serves from its own log), up to its newest offset; None while it
    fails the read. The server ends the call at the stop offset with
    RESOURCE_EXHAUSTED (as it does on an empty partition).
    """
    request = api_pb2.SubscribeRequest(
        stream=stream, partition=0, startPosition=api_pb2.EARLIEST, stopPosition=api_pb2.STOP_LATEST,
        readISRReplica=True,
    )  # fmt: skip
    held: list[tuple[int, bytes]] = []
    with open_stub(address, None) as stub:
        try:
            messages = stub.Subscribe(request, timeout=30)
            for message in itertools.islice(messages, 1, None):  # after the handshake
                held.append((message.offset, message.value))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return held
        return None


class _Recent(logging.Handler):
    """The client's last log lines (debug included), for a ledger's report."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self.setFormatter(logging.Formatter("%(relativeCreated)9.0f %(threadName)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Ledger:
    """What the caller was told about each published value, and what the log holds.

    While it records, the client's debug log goes to its report too (the last lines).
    """

    name: str
    acked: dict[bytes, int] = field(default_factory=dict)
    failed: dict[bytes, str] = field(default_factory=dict)
    kills: int = 0
    recent: _Recent = field(default_factory=_Recent)

    def __post_init__(self) -> None:
        logger = logging.getLogger("liftbridge_nb")
        self._level = logger.level
        logger.addHandler(self.recent)
        logger.setLevel(logging.DEBUG)

    def record(self, values: list[bytes], outcomes: list[Any]) -> None:
        """Take ``publish_many(..., return_exceptions=True)``'s outcomes for ``values``."""
        kinds = collections.Counter(type(o).__name__ for o in outcomes)
        logging.getLogger("liftbridge_nb").debug("ledger: %s from %s", dict(kinds), values[0][:9])
        assert len(values) == len(outcomes), "every message gets an outcome"
        for value, outcome in zip(values, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                assert isinstance(outcome, LiftbridgeError), f"untyped error: {outcome!r}"
                self.failed[value] = type(outcome).__name__
            else:
                self.acked[value] = outcome.offset

    def check(
        self, log: list[Message], extra: dict[str, Any] | None = None, *, server_keeps_acks: bool = True
    ) -> dict[str, Any]:
        """Compare with the log: every acked value exactly once at its offset; write the report.

        ``server_keeps_acks=False`` reports what the log lost, not asserts it: for a scenario
        where the server itself is seen to lose acked messages (the caller says how).
        """
        counts = collections.Counter(m.value for m in log)
        offsets = {m.value: m.offset for m in log}
        report = {
            "published": len(self.acked) + len(self.failed),
            "acked": len(self.acked),
            "failed": len(self.failed),
            "failed_by_error": dict(collections.Counter(self.failed.values())),
            "leader_kills": self.kills,
            "in_log": len(log),
            "acked_read_back": sum(1 for v in self.acked if counts[v] == 1),
            "lost": sum(1 for v in self.acked if counts[v] == 0),
            "duplicated": sum(1 for c in counts.values() if c > 1),
            "failed_but_in_log": sum(1 for v in self.failed if counts[v] > 0),
            "acked_at_another_offset": sum(1 for v, o in self.acked.items() if offsets.get(v, o) != o),
            **(extra or {}),
        }
        at = {m.offset: m.value for m in log}
        where: dict[bytes, list[int]] = collections.defaultdict(list)
        for m in log:
            where[m.value].append(m.offset)
        examples = {  # in the file only: what a failed check needs to be understood
            "lost": [(v.decode(errors="replace"), o, (at.get(o) or b"").decode(errors="replace"))
                     for v, o in self.acked.items() if counts[v] == 0][:20],
            "duplicated": [(v.decode(errors="replace"), o) for v, o in where.items() if len(o) > 1][:20],
            "acked_at_another_offset": [(v.decode(errors="replace"), o, offsets[v])
                                        for v, o in self.acked.items() if offsets.get(v, o) != o][:20],
        }  # fmt: skip
        logger = logging.getLogger("liftbridge_nb")
        logger.removeHandler(self.recent)
        logger.setLevel(self._level)
        REPORTS.mkdir(parents=True, exist_ok=True)
        text = json.dumps({**report, "examples": examples, "log": list(self.recent.lines)}, indent=2)
        (REPORTS / f"{self.name}.json").write_text(text + "\n")
        assert [m.offset for m in log] == list(range(len(log))), "the log has no gap"
        if server_keeps_acks:
            assert report["lost"] == 0 and report["duplicated"] == 0, report
            assert report["acked_at_another_offset"] == 0, report
        return report


class Killer:
    """Kills the leader on request from another thread, then restarts it once another leads."""

    def __init__(self, cluster: LocalCluster, stream: str, ledger: Ledger) -> None:
        self.cluster, self.stream, self.ledger = cluster, stream, ledger
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def fire(self) -> None:
        """Start killing and restarting the leader in the background."""
        thread = threading.Thread(target=self._run, name="leader-killer")
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        try:
            node = kill_leader(self.cluster, self.stream)
            self.ledger.kills += 1
            rejoin(self.cluster, self.stream, node)
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        """Wait for every kill and restart; raise what went wrong in them."""
        for thread in self._threads:
            thread.join(timeout=300)
        assert not any(t.is_alive() for t in self._threads), "a restart hung"
        assert not self.errors, self.errors
