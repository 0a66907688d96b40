"""Argument parsing for the magics: errors as MagicError, durations, positions, templates."""

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

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one readable line (and a "did you mean" for flags)."""

    def __init__(self, prog: str, description: str = "") -> None:
        super().__init__(prog=f"%{prog}", description=description, add_help=False, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        flags = [o for a in self._actions for o in a.option_strings]
        hint = ""
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if unknown:
            hint = did_you_mean(unknown.group(1).split("=")[0], flags, quote=False)
        raise MagicError(f"{self.prog}: {message}{hint} (see {self.prog}? for usage)")

    def parse(self, line: str) -> argparse.Namespace:
        """Parse a magic's line with shell quoting."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise MagicError(f"{self.prog}: cannot parse the line: {exc}") from exc
        return self.parse_intermixed_args(words)


def duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``10s``, ``500ms`` or ``1w`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 500ms, 10s, 30m, 12h, 7d or 1w)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def position(text: str) -> int | timedelta | str:
    """An offset, a duration (that long ago), ``earliest``/``latest``, or a time as ISO text."""
    if re.fullmatch(r"\d+", text):
        return int(text)
    if _DURATION.match(text):
        return duration(text)
    return text


def header(text: str) -> tuple[str, str]:
    """``key=value``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a header is key=value, not {text!r}")
    return name, value


def render(template: str, namespace: Mapping[str, Any]) -> str:
    """Replace ``{{ name }}`` with values from the user's namespace (dicts and lists as JSON)."""

    def value(match: re.Match[str]) -> str:
        path = match.group(1).split(".")
        if path[0] not in namespace:
            hint = did_you_mean(path[0], namespace, quote=False)
            raise MagicError(f"{{{{ {match.group(1)} }}}}: no variable {path[0]!r} in the notebook{hint}")
        item = namespace[path[0]]
        for attr in path[1:]:
            item = item[attr] if isinstance(item, Mapping) else getattr(item, attr)
        return json.dumps(item) if isinstance(item, dict | list) else str(item)

    return _TEMPLATE.sub(value, template)
