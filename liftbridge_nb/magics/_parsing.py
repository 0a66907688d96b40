"""Argument parsing for the magics: one-line errors, help, durations, positions, templates."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NoReturn

from ..errors import did_you_mean
from ._connections import MagicError

_UNITS = {
    "ms": "milliseconds", "msec": "milliseconds",
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)([a-z]+)")
#: The accepted forms, for every refusal of a duration or position.
DURATIONS = "500ms, 90s, 10min, 30m, 1.5h, 1h30m, 2d or 1w"
POSITIONS = (
    f"an offset >= 0, a duration ago ({DURATIONS}), earliest, latest or an ISO time (2026-11-30T08:00)"
)
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
# A flag's value that starts with "-" (``--from -2h``): argparse would take it for a flag.
_DASHED = re.compile(r"-\.?\d")


class Parser(argparse.ArgumentParser):
    """An argparse parser for a magic's line: one-line errors, and a ``--help`` that does not exit.

    Its errors are a MagicError of one line (a "did you mean" for flags); ``--help`` prints
    every flag with its help and the examples.
    """

    def __init__(self, prog: str, description: str, examples: str = "") -> None:
        super().__init__(
            prog=f"%{prog}",
            description=description,
            epilog=f"examples:\n{examples}" if examples else None,
            add_help=False,
            allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.add_argument("-h", "--help", action="store_true", help=f"show this help (also: %%{prog}?)")

    @property
    def flags(self) -> list[str]:
        """Every flag, long forms first."""
        return [o for a in self._actions for o in a.option_strings]

    def value_of(self, word: str) -> argparse.Action | None:
        """The flag ``word`` if it takes a value (``--from``, not ``--no-progress``), else None."""
        for action in self._actions:
            if word in action.option_strings and action.nargs != 0:
                return action
        return None

    def error(self, message: str) -> NoReturn:
        hint = ""
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if unknown:
            hint = did_you_mean(unknown.group(1).split("=")[0], self.flags, quote=False)
        raise MagicError(f"{message}{hint} (see {self.prog} --help)")

    def words(self, line: str) -> list[str]:
        """The line split with shell quoting.

        A flag's value that starts with ``-`` (``--from -2h``) stays its value, and a
        ``{{ template }}`` is one word (spaces and quotes in it kept).
        """
        templates: list[str] = []

        def hide(match: re.Match[str]) -> str:
            templates.append(match.group(0))
            return f"\0{len(templates) - 1}\0"

        try:
            words = shlex.split(_TEMPLATE.sub(hide, line))
        except ValueError as exc:
            raise MagicError(f"cannot parse the line: {exc}") from exc
        words = [re.sub(r"\0(\d+)\0", lambda m: templates[int(m.group(1))], w) for w in words]
        takes_value = {
            o for a in self._actions if a.nargs is None and a.option_strings for o in a.option_strings
        }
        for i in range(len(words) - 1, 0, -1):
            if words[i - 1] in takes_value and _DASHED.match(words[i]):
                words[i - 1 : i + 1] = [f"{words[i - 1]}={words[i]}"]
        return words

    def parse(self, line: str) -> argparse.Namespace | None:
        """The line's arguments, or None when it asks for ``--help`` (the help is printed)."""
        words = self.words(line)
        if "-h" in words or "--help" in words:
            print(self.format_help().rstrip())
            return None
        return self.parse_intermixed_args(words)


def duration(text: str) -> timedelta:
    """A duration: a number and a unit, or several (``1h30m``); refused with the accepted forms."""
    compact = text.strip().lower().replace(" ", "")
    if compact.startswith("-"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is negative: a duration is how long ago, so give {DURATIONS}"
        )
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact or any(u not in _UNITS for _, u in parts):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use {DURATIONS})")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: float(number)})
    return total


def position(text: str) -> int | timedelta | str:
    """An offset, a duration (that long ago), ``earliest``/``latest``, or a time as ISO text."""
    if re.fullmatch(r"\d+", text):
        return int(text)
    if text in ("earliest", "latest"):
        return text
    if text.startswith("-"):
        raise argparse.ArgumentTypeError(f"{text} is not a position: negative; give {POSITIONS}")
    if _PART.match(text.lower()):  # a number and a letter: a duration (pandas would read 1h30 as a time)
        try:
            return duration(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"not a position: {text!r} (give {POSITIONS})") from None
    import pandas as pd  # here: the extension loads without pandas

    try:
        pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a position: {text!r} (give {POSITIONS})") from None
    return text


def count(text: str) -> int:
    """A whole number >= 1 (``--limit``)."""
    if not re.fullmatch(r"\d+", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (give a whole number >= 1)")
    return int(text)


def header(text: str) -> tuple[str, str]:
    """``key=value``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a header is key=value, not {text!r}")
    return name, value


def split_value(parser: Parser, line: str) -> tuple[str, str]:
    """``line`` as the part the parser reads (positionals and flags) and the value after it, verbatim.

    The first word that is neither a flag nor a flag's value starts the value once
    ``positionals`` words are read: nothing of it is unquoted or split.
    """
    positionals = sum(1 for a in parser._actions if not a.option_strings and a.nargs is None)
    arity = {o: (0 if a.nargs == 0 else 1) for a in parser._actions for o in a.option_strings}
    word = re.compile(r"""(?:\{\{.*?\}\}|'[^']*'?|"(?:\\.|[^"\\])*"?|\\.|[^\s'"\\])+""")
    pending = 0  # values still owed to the last flag
    for match in word.finditer(line):
        token = match.group()
        if pending:
            pending -= 1
        elif token.startswith("-") and not _DASHED.match(token):
            pending = arity.get(token.split("=", 1)[0], 0) if "=" not in token else 0
        elif positionals:
            positionals -= 1
        else:
            return line[: match.start()], line[match.start() :].strip()
    return line, ""


def render(template: str, namespace: Mapping[str, Any]) -> str:
    """``template`` with each ``{{ expression }}`` replaced by its value in the user's namespace.

    Dicts and lists become JSON, other values ``str()``. An expression that does not
    evaluate, an empty ``{{ }}`` or an unclosed ``{{`` is refused naming the template:
    a literal template is never published.
    """
    scope = namespace if isinstance(namespace, dict) else dict(namespace)  # eval takes a dict
    out: list[str] = []
    end = 0
    for match in _TEMPLATE.finditer(template):
        out.append(_literal(template[end : match.start()]))
        out.append(_fill(match.group(0), match.group(1).strip(), scope))
        end = match.end()
    out.append(_literal(template[end:]))
    return "".join(out)


def _literal(text: str) -> str:
    if "{{" in text:
        start = text.index("{{")
        raise MagicError(f"unclosed template {text[start : start + 30]!r}: write {{{{ expression }}}}")
    return text


def _fill(template: str, expression: str, namespace: dict[str, Any]) -> str:
    if not expression:
        raise MagicError(f"empty template {template}: write {{{{ expression }}}}, e.g. {{{{ order_id }}}}")
    try:
        item = eval(expression, namespace)  # the user's own expression, run as a cell would
    except NameError as exc:
        name = getattr(exc, "name", None) or expression
        hint = did_you_mean(name, [n for n in namespace if not n.startswith("_")], quote=False)
        raise MagicError(f"{template}: no variable {name!r} in the notebook{hint}") from exc
    except Exception as exc:  # the expression's own error, whatever it is
        raise MagicError(f"{template} cannot be filled in: {type(exc).__name__}: {exc}") from exc
    return json.dumps(item) if isinstance(item, dict | list) else str(item)
