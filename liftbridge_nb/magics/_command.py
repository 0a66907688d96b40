"""A magic command: its parser beside what it runs, and the one error policy of every magic.

The policy: every error a magic raises is one line that starts with the magic's name.

- A :class:`~liftbridge_nb.errors.LiftbridgeError` (the server's refusals, ``ErrConnection``,
  ``ErrDecode``, :class:`MagicError`) keeps its class, fields and cause, so ``except
  ErrNoSuchStream`` works in a notebook; its message gets the ``%magic:`` prefix, and an
  unknown stream a "did you mean".
- A ``ValueError`` or ``TypeError`` (a bad argument the API refused) becomes a
  :class:`MagicError` that also names the flag it is about, its cause kept.
- Hints written for Python calls (``errors='coerce'``, ``start='earliest'``) are given as the
  magic's flags (``--errors coerce``, ``--from earliest``).
- Any URL's password is hidden. ``KeyboardInterrupt`` and other ``BaseException`` pass untouched.

Every LiftbridgeError renders as one line in IPython (``_render_traceback_``) and fails the cell.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ErrNoSuchStream, LiftbridgeError, amend, redact_url
from ._connections import MagicError
from ._parsing import Parser, split_value

if TYPE_CHECKING:
    from ._magic import LiftMagics

Run = Callable[["LiftMagics", argparse.Namespace, "str | None"], Any]

# ``name='a'``, ``name='a' or 'b'``, ``name=[...]``, ``name=True``: a Python keyword argument in a hint.
_KWARG = re.compile(r"(?<![\w.-])(\w+)=(\[\.\.\.\]|'[^']*'(?:\s+or\s+'[^']*')*|\w+)")


@dataclass(frozen=True)
class Command:
    """One ``%name`` magic: its parser (flags, help, examples) and the function that runs it.

    ``cell``: also a cell magic (``%%name``); ``expand_vars``: IPython's ``{x}``/``$x``
    expansion of the line; ``value``: the rest of the line after the flags is one verbatim
    value (``args.value``), never split or unquoted.
    """

    name: str
    parser: Parser
    run: Run
    cell: bool = False
    expand_vars: bool = True
    value: bool = False

    @property
    def doc(self) -> str:
        """What ``%name?`` and ``%name --help`` show: the usage, every flag with its help, examples."""
        return self.parser.format_help()

    def __call__(self, magics: LiftMagics, line: str, cell: str | None = None) -> Any:
        """Parse ``line`` and run the command under the error policy."""
        label = f"%%{self.name}" if cell is not None else f"%{self.name}"
        try:
            if self.value:
                head, value = split_value(self.parser, line)
                args = self.parser.parse(head)
                if args is not None:
                    args.value = value
            else:
                args = self.parser.parse(line)
            if args is None:  # --help: printed
                return None
            return self.run(magics, args, cell)
        except LiftbridgeError as exc:
            if isinstance(exc, ErrNoSuchStream) and "did you mean" not in str(exc):
                amend(exc, magics.did_you_mean(line))
            exc.args = (self._text(label, str(exc)), *exc.args[1:])
            raise
        except (ValueError, TypeError) as exc:
            text = " ".join(str(exc).splitlines())
            raise MagicError(self._text(label, text, flag=_flag_of(self.parser, text))) from exc

    def _text(self, label: str, message: str, *, flag: str = "") -> str:
        if message.startswith(label):  # already named (an error raised twice through the policy)
            return message
        return f"{label}{flag}: {redact_url(in_flags(self.parser, message))}"


def in_flags(parser: Parser, text: str) -> str:
    """``text`` with each Python keyword argument the parser has a flag for written as that flag.

    ``errors='coerce'`` becomes ``--errors coerce``, ``start='earliest' or 'latest'``
    becomes ``--from earliest or latest``, ``partitions=[...]`` ``--partition ...``.
    """
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}

    def flag(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        if value == "True":
            return flags[name]
        return f"{flags[name]} {value.replace('[...]', '...').replace(chr(39), '')}"

    return _KWARG.sub(flag, text)


def _flag_of(parser: Parser, text: str) -> str:
    """``" --flag"`` for the flag whose value ``text`` (an error) names first, else ``""``.

    The API's errors name its parameters (in any case: "NATS" is --nats); each flag's ``dest`` is
    the parameter it sets.
    """
    found: list[tuple[int, str]] = []
    for action in parser._actions:
        match = re.search(rf"(?<![\w-]){re.escape(action.dest)}(?![\w-])", text, re.IGNORECASE)
        if action.option_strings and action.dest != "help" and match:
            found.append((match.start(), action.option_strings[-1]))
    return f" {min(found)[1]}" if found else ""
