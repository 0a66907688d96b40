"""``%lift_tail``, ``%lift_browse`` and ``%lift_cluster``: the widgets behind a line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ._command import Command
from ._parsing import Parser

if TYPE_CHECKING:
    from ._magic import LiftMagics

TAIL = Parser(
    "lift_tail",
    "Follow new messages of a stream in a live widget; other cells keep running.",
    "  %lift_tail orders\n  %lift_tail orders --partition 0 --window 100 --seconds 120 --messages 1000",
)
TAIL.add_argument("stream", help="the stream to follow")
TAIL.add_argument("--partition", dest="partitions", type=int, nargs="+", metavar="N",
                  help="the partitions to follow (default: all)")  # fmt: skip
TAIL.add_argument("--window", type=int, default=50, help="messages shown (default: 50)")
TAIL.add_argument("--seconds", dest="max_seconds", type=float, default=600.0,
                  help="stop after this many seconds (default: 600)")  # fmt: skip
TAIL.add_argument("--messages", dest="max_messages", type=int, default=100_000,
                  help="stop after this many messages (default: 100000)")  # fmt: skip


def lift_tail(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> Any:
    from ..widgets import LiveTail

    magics.client.partition_count(a.stream)  # an unknown stream fails here, with a suggestion
    # LiveTail checks --window, --seconds and --messages: its ValueError becomes a MagicError.
    return LiveTail(
        magics.client, a.stream, partitions=a.partitions, window=a.window,
        max_seconds=a.max_seconds, max_messages=a.max_messages,
    )  # fmt: skip


BROWSE = Parser(
    "lift_browse",
    "Browse a stream page by page in a widget.",
    "  %lift_browse\n  %lift_browse orders --page-size 50",
)
BROWSE.add_argument("stream", nargs="?", help="the stream shown first (default: choose in the widget)")
BROWSE.add_argument("--page-size", type=int, default=20, help="messages per page (default: 20)")


def lift_browse(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> Any:
    from ..widgets import StreamBrowser

    if a.stream is not None:
        magics.client.partition_count(a.stream)  # an unknown stream fails here, with a suggestion
    return StreamBrowser(magics.client, a.stream, page_size=a.page_size)


CLUSTER = Parser(
    "lift_cluster",
    "Brokers and partitions in a widget; under-replicated partitions stand out.",
    "  %lift_cluster\n  %lift_cluster --auto-refresh 2",
)
CLUSTER.add_argument(
    "--auto-refresh", type=float, metavar="SECONDS", help="refresh every SECONDS (default: never)"
)


def lift_cluster(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> Any:
    from ..widgets import ClusterView

    return ClusterView(magics.client, auto_refresh=a.auto_refresh)


COMMANDS = (
    Command("lift_tail", TAIL, lift_tail),
    Command("lift_browse", BROWSE, lift_browse),
    Command("lift_cluster", CLUSTER, lift_cluster),
)
