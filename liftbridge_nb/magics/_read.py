"""``%lift_read``: read_stream behind a line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._command import Command
from ._parsing import DURATIONS, Parser, count, position

if TYPE_CHECKING:
    from .._decode import Decoder
    from ._magic import LiftMagics
    from ._shown import ShownFrame

READ = Parser(
    "lift_read",
    "Read a stream into a DataFrame (read_stream behind a line). Every row is returned; at most\n"
    "LiftMagics.display_limit are displayed. A position is an offset, a duration ago, earliest,\n"
    "latest or an ISO time (naive: local time).",
    """  df = %lift_read orders
  %lift_read orders --from 100 --to 200 --partition 0
  %lift_read orders --from 2h --decode json --limit 50
  %lift_read orders --from 1h30m --errors coerce
  %lift_read orders --from 2026-11-30T08:00 --to latest --no-progress""",
)
READ.add_argument("stream", help="the stream to read")
READ.add_argument("--from", dest="start", type=position, metavar="POSITION",
                  help=f"where to start (default: earliest): an offset, a duration ago ({DURATIONS}), "
                  "earliest, latest or an ISO time")  # fmt: skip
READ.add_argument(
    "--to",
    dest="end",
    type=position,
    metavar="POSITION",
    help="where to stop, exclusive (default: latest, what is there now); as --from",
)
READ.add_argument("--partition", dest="partitions", type=int, nargs="+", metavar="N",
                  help="the partitions to read (default: all)")  # fmt: skip
READ.add_argument("--limit", dest="max_messages", type=count, metavar="N", help="read at most N messages")
READ.add_argument("--decode", choices=["auto", "json", "utf8", "bytes"],
                  help="how values are decoded (default: LiftMagics.decode)")  # fmt: skip
READ.add_argument("--errors", choices=["raise", "coerce"], default="raise",
                  help="a value that does not decode: raise (default), or coerce (kept raw, a decode_error "
                  "column says why)")  # fmt: skip
READ.add_argument("--no-progress", action="store_true", help="no progress bar (default: LiftMagics.progress)")


def lift_read(magics: LiftMagics, a: argparse.Namespace, _: str | None) -> ShownFrame:
    from ..frames import read_stream

    decoder: Decoder = a.decode or magics.decode  # type: ignore[assignment]
    frame = read_stream(
        a.stream,
        a.start,
        a.end,
        partitions=a.partitions,
        client=magics.client,
        value=decoder,
        max_messages=a.max_messages,
        progress=False if a.no_progress else magics.progress,
        errors=a.errors,
        timeout=magics.call_timeout,
    )
    return magics.show(frame)


COMMANDS = (Command("lift_read", READ, lift_read),)
