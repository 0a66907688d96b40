"""LiftMagics: the settings, connections and helpers every %lift_* command shares (as in jupysql).

The commands themselves live one module per command or small group, each with its parser:
``_connect`` (``%lift_connect``, ``%lift_info``), ``_streams`` (``%lift_streams``,
``%lift_brokers``), ``_admin`` (create, delete, pause, readonly), ``_publish``, ``_read`` and
``_widgets`` (tail, browse, cluster).
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.completer import CompletionContext, SimpleCompletion, SimpleMatcherResult, context_matcher
from IPython.core.magic import Magics, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .._base import normalize_address
from ..client import Lift
from ..config import DEFAULT_TIMEOUT, check_seconds
from ..errors import LiftbridgeError, did_you_mean
from . import _admin, _connect, _publish, _read, _streams, _widgets
from ._command import Command
from ._connections import ConnectionManager, MagicError

if TYPE_CHECKING:
    import pandas as pd

    from ._shown import ShownFrame

#: Every command, in the order ``%lsmagic`` and the docs list them.
COMMANDS: tuple[Command, ...] = (
    *_connect.COMMANDS, *_streams.COMMANDS, *_admin.COMMANDS, *_publish.COMMANDS, *_read.COMMANDS,
    *_widgets.COMMANDS,
)  # fmt: skip


def _bind(magics: LiftMagics, command: Command) -> Callable[..., Any]:
    """``command`` as the function IPython calls for ``%name``; its docstring is the full help."""

    def magic(line: str, cell: str | None = None) -> Any:
        return command(magics, line, cell)

    magic.__name__ = magic.__qualname__ = command.name
    magic.__doc__ = command.doc
    return magic if command.expand_vars else no_var_expand(magic)


def _pyproject_settings(start: Path) -> tuple[Path | None, dict[str, Any]]:
    """The nearest pyproject.toml at or above ``start`` and its ``[tool.liftbridge_nb]`` table."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                table = tomllib.loads(candidate.read_text()).get("tool", {}).get("liftbridge_nb", {})
            except tomllib.TOMLDecodeError as exc:
                raise MagicError(f"{candidate}: not valid TOML ({exc})") from exc
            return candidate, dict(table)
    return None, {}


@magics_class
class LiftMagics(Magics, Configurable):
    """Liftbridge from IPython: connect, inspect, create, publish, read.

    Settings: ``%config LiftMagics.timeout = 10`` (see ``%config LiftMagics``), or a
    ``[tool.liftbridge_nb]`` table in a pyproject.toml at or above the notebook's folder.
    Every setting is checked when set; a bad value is refused and the old one kept.
    """

    address = Unicode("", help="Broker address of %lift_connect without one ('' : $LIFTBRIDGE_ADDRESS)").tag(
        config=True
    )
    timeout = Float(DEFAULT_TIMEOUT, help="Seconds each call may take (> 0)").tag(config=True)
    decode = Enum(
        ["auto", "json", "utf8", "bytes"], default_value="auto", help="Default value decoder of %lift_read"
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar in %lift_read").tag(config=True)
    display_limit = Int(20, help="Rows of a frame a %lift_* command displays (0: all); it returns all").tag(
        config=True
    )

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        try:
            return check_seconds("LiftMagics.timeout", proposal["value"])
        except (TypeError, ValueError) as exc:
            raise TraitError(str(exc)) from None

    @validate("display_limit")
    def _check_display_limit(self, proposal: Any) -> int:
        value: int = proposal["value"]
        if value < 0:
            raise TraitError(f"LiftMagics.display_limit must be >= 0 (0: show all rows), not {value}")
        return value

    @validate("address")
    def _check_address(self, proposal: Any) -> str:
        value: str = proposal["value"]
        if value:
            try:
                normalize_address(value)
            except ValueError as exc:
                raise TraitError(f"LiftMagics.address: {exc}") from None
        return value

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        path, settings = _pyproject_settings(Path.cwd())
        for name, value in settings.items():
            if not (self.has_trait(name) and self.trait_metadata(name, "config")):
                known = [n for n in self.trait_names() if self.trait_metadata(n, "config")]
                hint = did_you_mean(name, known, quote=False)
                raise MagicError(
                    f"{path} [tool.liftbridge_nb]: no setting {name!r}{hint} (settings: {', '.join(known)})"
                )
            try:
                setattr(self, name, value)
            except TraitError as exc:
                raise MagicError(f"{path} [tool.liftbridge_nb]: {exc}") from None
        self.connections = ConnectionManager()
        self._names: tuple[float, list[str]] = (0.0, [])
        for command in COMMANDS:
            function = _bind(self, command)
            self.magics["line"][command.name] = function
            if command.cell:
                self.magics["cell"][command.name] = function

    @property
    def client(self) -> Lift:
        """The current connection's client."""
        return self.connections.get().client

    @property
    def call_timeout(self) -> float:
        """Seconds a call of the current connection may take: its ``--timeout``, else :attr:`timeout`."""
        conn = self.connections.get()
        return self.timeout if conn.timeout is None else conn.timeout

    def stream_names(self) -> list[str]:
        """The current connection's stream names (fetched at most every 10 s; [] when unknown)."""
        fetched, names = self._names
        if time.monotonic() - fetched > 10 and self.connections.current is not None:
            try:
                names = sorted(self.client.fetch_metadata(timeout=self.call_timeout).streams)
            except LiftbridgeError:
                names = []
            self._names = (time.monotonic(), names)
        return names

    def forget_names(self) -> None:
        """Fetch the stream names again next time (a stream was created or deleted)."""
        self._names = (0.0, [])

    def did_you_mean(self, line: str) -> str:
        """A "did you mean" for the stream a magic's line names (its first word that is not a flag)."""
        words = line.split()
        target = next((w for w in words if not w.startswith("-")), "")
        return did_you_mean(target, self.stream_names())

    def show(self, frame: pd.DataFrame, note: str = "") -> ShownFrame:
        """``frame`` with all its rows, displayed under :attr:`display_limit`, with ``note``."""
        from ._shown import ShownFrame  # pandas is imported by the first magic that shows a frame

        return ShownFrame.of(frame, self.display_limit, note)

    # -- completion ----------------------------------------------------------------------------

    @context_matcher(identifier="liftbridge_nb.magics")  # type: ignore[untyped-decorator]
    def matcher(self, context: CompletionContext) -> SimpleMatcherResult:
        """Completions in a %lift_* line: the magic's own flags, stream names or connection aliases.

        A flag's value completes to its choices (``--decode j`` to ``json``) and is left to the
        other matchers otherwise (``--tls-ca`` takes a path). When there are completions of ours,
        every other matcher (Python names, Jedi) is suppressed.
        """
        before = context.text_until_cursor
        words = before.split()
        none: SimpleMatcherResult = {"completions": [], "suppress": False}
        if not words or not words[0].lstrip("%").startswith("lift_"):
            return none
        command = next((c for c in COMMANDS if c.name == words[0].lstrip("%")), None)
        if command is None or (len(words) == 1 and not before.endswith(" ")):
            return none
        token = "" if before.endswith(" ") else words[-1]
        previous = words[-1] if before.endswith(" ") else (words[-2] if len(words) > 1 else "")
        takes = command.parser.value_of(previous)
        if token.startswith("-") and takes is None:
            choices = [f for f in command.parser.flags if f.startswith("--")]
        elif takes is not None:  # a flag's value: its choices, else nothing of ours (a path, a number)
            if not takes.choices:
                return none
            choices = [str(c) for c in takes.choices]
        elif command.name == "lift_connect":
            choices = list(self.connections.connections)
        else:
            choices = self.stream_names()
        found = [SimpleCompletion(c, type="param") for c in sorted(choices) if c.startswith(token)]
        return {"completions": found, "matched_fragment": token, "suppress": bool(found), "ordered": True}
