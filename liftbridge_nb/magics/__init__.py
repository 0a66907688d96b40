"""The IPython extension: ``%load_ext liftbridge_nb`` registers :class:`LiftMagics`."""

from __future__ import annotations

from typing import Any

from ._connections import Connection, ConnectionManager, MagicError
from ._magics import LiftMagics

__all__ = ["Connection", "ConnectionManager", "LiftMagics", "MagicError", "load_ipython_extension"]

_MAGICS = (
    "lift_connect", "lift_streams", "lift_brokers", "lift_create", "lift_delete", "lift_pause",
    "lift_readonly", "lift_publish", "lift_read", "lift_tail", "lift_browse", "lift_cluster", "lift_info",
)  # fmt: skip


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and their completions (``%load_ext liftbridge_nb``)."""
    magics = LiftMagics(ipython)
    ipython.register_magics(magics)
    for name in _MAGICS:
        ipython.set_hook(
            "complete_command", lambda _, event, n=name: magics.complete(n, event), str_key=f"%{name}"
        )
        ipython.set_hook(
            "complete_command", lambda _, event, n=name: magics.complete(n, event), str_key=f"%%{name}"
        )


def unload_ipython_extension(ipython: Any) -> None:
    """Close every connection (and the local servers they started) and remove the magics."""
    registry = ipython.magics_manager.registry.pop("LiftMagics", None)
    if registry is not None:
        registry.connections.close_all()
        if registry in ipython.configurables:
            ipython.configurables.remove(registry)
    for name in _MAGICS:
        ipython.magics_manager.magics["line"].pop(name, None)
        ipython.magics_manager.magics["cell"].pop(name, None)
