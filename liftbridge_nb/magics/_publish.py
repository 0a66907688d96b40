"""``%lift_publish`` / ``%%lift_publish``: the rest of the line, or the cell, as messages."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..models import AckPolicy, Message
from ._command import Command
from ._connections import MagicError
from ._parsing import Parser, header, render

if TYPE_CHECKING:
    from ._magic import LiftMagics

PUBLISH = Parser(
    "lift_publish",
    "Publish the rest of the line, or the cell (one message, or one per line with --lines).\n\n"
    "The flags come first: everything after them is the value, verbatim (quotes kept, nothing split).\n"
    "{{ expression }} is filled in from the notebook (dicts and lists as JSON); an expression that\n"
    "fails is refused naming it, and nothing is published. IPython's {x} expansion is off, so JSON\n"
    "passes untouched. --json checks that each message is JSON before anything is sent.",
    """  %lift_publish orders hello world
  %lift_publish orders --key bob {"order": 99, "who": "bob"}
  %%lift_publish orders --key customer-1 --header source=notebook --ack all --json
  {"order": {{ order_id }}, "amount": {{ amount * 2 }}}""",
)
PUBLISH.add_argument("stream", help="the stream to publish to")
PUBLISH.add_argument(
    "value", nargs="?", metavar="VALUE...", help="the message: the rest of the line, verbatim"
)
PUBLISH.add_argument("--key", help="the messages' key ({{ expression }} filled in)")
PUBLISH.add_argument("--header", type=header, action="append", default=[], metavar="NAME=VALUE",
                     help="a header (repeat for more)")  # fmt: skip
PUBLISH.add_argument("--partition", type=int, help="the partition to publish to")
PUBLISH.add_argument(
    "--ack",
    choices=["leader", "all", "none"],
    default="leader",
    help="ack policy: leader (default), all (each ISR replica), none (no offsets)",
)
PUBLISH.add_argument("--lines", action="store_true", help="one message per non-empty line")
PUBLISH.add_argument(
    "--json", action="store_true", help="refuse (publish nothing) unless each message is JSON"
)


def lift_publish(magics: LiftMagics, a: argparse.Namespace, cell: str | None) -> None:
    if cell is not None and a.value:
        raise MagicError("the message is the cell; put nothing after the flags")
    if cell is None:
        stray = [w for w in a.value.split() if w.startswith("--") and w.split("=", 1)[0] in PUBLISH.flags]
        if stray:  # a flag after the value would be published as text: refuse rather than guess
            raise MagicError(
                f"{stray[0]} comes after the value: flags go first "
                f"(%lift_publish STREAM {stray[0]} ... VALUE); to publish text with {stray[0]} in it, "
                "write it in a %%lift_publish cell"
            )
    namespace = magics.shell.user_ns if magics.shell else {}
    body = render(cell if cell is not None else a.value, namespace)
    values = [v for v in body.splitlines() if v.strip()] if a.lines else [body.strip("\n")]
    if not values or values == [""]:
        raise MagicError("nothing to publish (give a value after the flags, or write the cell)")
    if a.json:
        for i, v in enumerate(values):
            try:
                json.loads(v)
            except ValueError as exc:
                where = f"line {i + 1}" if a.lines else "the message"
                raise MagicError(f"--json: {where} is not JSON ({exc}); nothing was published") from exc
    key = render(a.key, namespace) if a.key else None
    messages = [
        Message(v, key=key, stream=a.stream, headers=dict(a.header), partition=a.partition,
                ack_policy=AckPolicy.of(a.ack))
        for v in values
    ]  # fmt: skip
    if len(messages) == 1:
        acks = [magics.client.publish(messages[0], timeout=magics.call_timeout)]
    else:
        acks = magics.client.publish_many(messages, ack_timeout=magics.call_timeout)
    if a.ack == "none":
        print(f"published {len(messages)} message(s) to {a.stream!r} (ack policy none: no offsets)")
        return
    offsets = [ack.offset for ack in acks if ack is not None]
    partition = acks[0].partition if acks and acks[0] is not None else a.partition
    print(f"published {len(messages)} message(s) to {a.stream!r} partition {partition}: offsets {offsets}")


COMMANDS = (Command("lift_publish", PUBLISH, lift_publish, cell=True, expand_vars=False, value=True),)
