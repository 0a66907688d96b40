"""The IPython extension: ``%load_ext liftbridge_nb`` registers :class:`LiftMagics`.

Each command has its own module with its parser beside it (``_connect``, ``_streams``,
``_admin``, ``_publish``, ``_read``, ``_widgets``); ``_command`` holds the one error policy
of every magic, ``_magic`` the settings and helpers they share, ``_shown`` the frames they show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._connections import Connection, ConnectionManager, MagicError
from ._magic import COMMANDS, LiftMagics

if TYPE_CHECKING:
    from ._shown import ShownFrame

__all__ = [
    "Connection",
    "ConnectionManager",
    "LiftMagics",
    "MagicError",
    "ShownFrame",
    "load_ipython_extension",
]


def __getattr__(name: str) -> Any:
    """``ShownFrame`` on first use: it needs pandas, which ``%load_ext`` does not import."""
    if name == "ShownFrame":
        from ._shown import ShownFrame

        return ShownFrame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # ShownFrame too (the API reference lists what dir() gives)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and their completions (``%load_ext liftbridge_nb``)."""
    magics = LiftMagics(ipython)
    ipython.register_magics(magics)
    ipython.Completer.custom_matchers.append(magics.matcher)


def unload_ipython_extension(ipython: Any) -> None:
    """Close every connection (and the local servers they started) and remove the magics."""
    registry = ipython.magics_manager.registry.pop("LiftMagics", None)
    if registry is not None:
        registry.connections.close_all()
        if registry in ipython.configurables:
            ipython.configurables.remove(registry)
        matchers = ipython.Completer.custom_matchers
        matchers[:] = [m for m in matchers if getattr(m, "__self__", None) is not registry]
    for command in COMMANDS:
        ipython.magics_manager.magics["line"].pop(command.name, None)
        ipython.magics_manager.magics["cell"].pop(command.name, None)
