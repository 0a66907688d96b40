"""``%lift_create``, ``%lift_delete``, ``%lift_pause`` and ``%lift_readonly``: streams' life cycle."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import ErrStreamExists
from ..models import Stream
from ._command import Command
from ._parsing import DURATIONS, Parser, duration

if TYPE_CHECKING:
    from ._magic import LiftMagics

CREATE = Parser(
    "lift_create",
    "Create a stream; every option of the API has a flag.",
    """  %lift_create orders --partitions 3 --replication-factor 1 --retention-max-age 7d
  %lift_create events --subject app.events --max-replication --compact --auto-pause-time 10m
  %lift_create ledger --optimistic-concurrency --min-isr 2
  %lift_create orders --exist-ok         # a stream already there is kept: the cell can run again""",
)
CREATE.add_argument("name", help="the stream's name")
CREATE.add_argument("--subject", help="the NATS subject it stores (default: the name)")
CREATE.add_argument("--group", help="a load-balance group: each message goes to one stream of the group")
CREATE.add_argument("--partitions", type=int, default=1, help="number of partitions (default: 1)")
_replication = CREATE.add_mutually_exclusive_group()
_replication.add_argument(
    "--replication-factor", type=int, default=1, help="copies of each partition (default: 1)"
)
_replication.add_argument("--max-replication", action="store_true", help="a copy on every broker")
for _flag, _what in (
    ("--retention-max-age", "delete messages older than this"),
    ("--cleaner-interval", "how often retention is applied"),
    ("--segment-max-age", "roll a log segment after this long"),
    ("--auto-pause-time", "pause a partition idle for this long"),
):
    CREATE.add_argument(_flag, type=duration, metavar="DURATION", help=f"{_what} ({DURATIONS})")
for _flag, _what in (
    ("--retention-max-bytes", "keep at most this many bytes per partition"),
    ("--retention-max-messages", "keep at most this many messages per partition"),
    ("--segment-max-bytes", "roll a log segment at this size"),
    ("--compact-max-goroutines", "goroutines of log compaction"),
    ("--min-isr", "replicas that must ack a message of ack policy all"),
):
    CREATE.add_argument(_flag, type=int, help=_what)
CREATE.add_argument("--compact", dest="compact_enabled", action=argparse.BooleanOptionalAction, default=None,
                    help="compact the log: keep each key's newest message (--no-compact: never)")  # fmt: skip
CREATE.add_argument("--auto-pause-disable-if-subscribers", action="store_true", default=None,
                    help="no auto-pause while a partition has subscribers")  # fmt: skip
CREATE.add_argument("--optimistic-concurrency", dest="optimistic_concurrency_control", action="store_true",
                    default=None, help="publishes must give the expected offset")  # fmt: skip
CREATE.add_argument("--encryption", action="store_true", default=None, help="encrypt the data at rest")
CREATE.add_argument("--exist-ok", action="store_true", help="a stream of that name already there is kept")


def lift_create(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> None:
    stream = Stream(
        subject=a.subject or a.name,
        name=a.name,
        group=a.group,
        replication_factor=a.replication_factor,
        max_replication=a.max_replication,
        partitions=a.partitions,
        retention_max_bytes=a.retention_max_bytes,
        retention_max_messages=a.retention_max_messages,
        retention_max_age=a.retention_max_age,
        cleaner_interval=a.cleaner_interval,
        segment_max_bytes=a.segment_max_bytes,
        segment_max_age=a.segment_max_age,
        compact_enabled=a.compact_enabled,
        compact_max_goroutines=a.compact_max_goroutines,
        auto_pause_time=a.auto_pause_time,
        auto_pause_disable_if_subscribers=a.auto_pause_disable_if_subscribers,
        min_isr=a.min_isr,
        optimistic_concurrency_control=a.optimistic_concurrency_control,
        encryption=a.encryption,
    )
    try:
        magics.client.create_stream(stream, timeout=magics.call_timeout)
    except ErrStreamExists:
        if not a.exist_ok:
            raise
        print(f"stream {a.name!r} exists already; kept as it is (--exist-ok)")
        return
    magics.forget_names()
    print(f"created stream {a.name!r} (subject {stream.subject!r}, {a.partitions} partition(s))")


DELETE = Parser("lift_delete", "Delete a stream and its data.", "  %lift_delete orders")
DELETE.add_argument("name", help="the stream to delete")


def lift_delete(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> None:
    magics.client.delete_stream(a.name, timeout=magics.call_timeout)
    magics.forget_names()
    print(f"deleted stream {a.name!r}")


PAUSE = Parser(
    "lift_pause", "Pause a stream's partitions (all by default).", "  %lift_pause orders --partitions 0 1"
)
PAUSE.add_argument("name", help="the stream")
PAUSE.add_argument(
    "--partitions", type=int, nargs="+", metavar="N", help="the partitions to pause (default: all)"
)
PAUSE.add_argument(
    "--resume-all", action="store_true", help="resume every partition when one is published to"
)


def lift_pause(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> None:
    magics.client.pause_stream(a.name, a.partitions, resume_all=a.resume_all, timeout=magics.call_timeout)
    print(f"paused {a.name!r} partitions {a.partitions or 'all'}")


READONLY = Parser(
    "lift_readonly",
    "Make partitions readonly (all by default), or writable again with --off.",
    "  %lift_readonly orders\n  %lift_readonly orders --partitions 2 --off",
)
READONLY.add_argument("name", help="the stream")
READONLY.add_argument("--partitions", type=int, nargs="+", metavar="N", help="the partitions (default: all)")
READONLY.add_argument("--off", action="store_true", help="make them writable again")


def lift_readonly(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> None:
    magics.client.set_stream_readonly(a.name, a.partitions, readonly=not a.off, timeout=magics.call_timeout)
    print(f"{a.name!r} partitions {a.partitions or 'all'} {'writable' if a.off else 'readonly'}")


COMMANDS = (
    Command("lift_create", CREATE, lift_create),
    Command("lift_delete", DELETE, lift_delete),
    Command("lift_pause", PAUSE, lift_pause),
    Command("lift_readonly", READONLY, lift_readonly),
)
