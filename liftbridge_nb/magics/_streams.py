"""``%lift_streams`` and ``%lift_brokers``: the cluster's metadata as DataFrames."""

from __future__ import annotations

import argparse
import fnmatch
from typing import TYPE_CHECKING

from ._command import Command
from ._parsing import Parser

if TYPE_CHECKING:
    from ._magic import LiftMagics
    from ._shown import ShownFrame

STREAMS = Parser(
    "lift_streams",
    "Streams and partitions as a DataFrame (leader, replicas, ISR, offsets, paused, readonly, last "
    "message): every row is returned, at most LiftMagics.display_limit are displayed.",
    "  streams = %lift_streams\n  %lift_streams orders*",
)
STREAMS.add_argument("glob", nargs="?", default="*", help="only streams whose name matches (default: *)")


def lift_streams(magics: LiftMagics, args: argparse.Namespace, _: str | None) -> ShownFrame:
    frame = magics.client.fetch_metadata(timeout=magics.call_timeout).to_dataframe()
    names = sorted(set(frame["stream"]))
    chosen = frame[frame["stream"].map(lambda s: fnmatch.fnmatchcase(s, args.glob))].reset_index(drop=True)
    note = ""
    if chosen.empty:
        note = f"no stream matches {args.glob!r}" if names else "the cluster has no streams"
        if names and args.glob != "*":
            listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            note += f" (streams: {listed})"
    return magics.show(chosen, note)


BROKERS = Parser("lift_brokers", "The cluster's brokers as a DataFrame.", "  %lift_brokers")


def lift_brokers(magics: LiftMagics, _args: argparse.Namespace, _: str | None) -> ShownFrame:
    return magics.show(magics.client.fetch_metadata([], timeout=magics.call_timeout).brokers_dataframe())


COMMANDS = (Command("lift_streams", STREAMS, lift_streams), Command("lift_brokers", BROKERS, lift_brokers))
