"""Named connections for the magics: a client each, and the local server it may own."""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from typing import Any

from ..client import Lift
from ..errors import LiftbridgeError


class MagicError(LiftbridgeError):
    """A magic could not do what it was asked; the message says why and what to do."""


@dataclass
class Connection:
    """One connection: its alias, client, and the local server or container it started, if any."""

    alias: str
    client: Lift
    addresses: list[str]
    server: Any = None  # LocalServer, LocalCluster or LiftbridgeContainer owned by this connection
    timeout: float | None = None  # its %lift_connect --timeout; None: LiftMagics.timeout, as it is now

    def close(self) -> None:
        self.client.close()
        if self.server is not None:
            stop = getattr(self.server, "close", None) or self.server.stop
            stop()
            self.server = None


@dataclass
class ConnectionManager:
    """Connections by alias, and the current one (jupysql's model)."""

    connections: dict[str, Connection] = field(default_factory=dict)
    current: str | None = None

    def __post_init__(self) -> None:
        atexit.register(self.close_all)  # a kernel that exits stops the servers it started

    def add(self, connection: Connection) -> None:
        old = self.connections.pop(connection.alias, None)
        if old is not None:
            old.close()
        self.connections[connection.alias] = connection
        self.current = connection.alias

    def get(self, alias: str | None = None) -> Connection:
        """The named connection, or the current one."""
        name = alias or self.current
        if name is None:
            raise MagicError("not connected: run %lift_connect [ADDRESS] (or %lift_connect --local) first")
        if name not in self.connections:
            known = ", ".join(self.connections) or "none"
            raise MagicError(f"no connection named {name!r} (connections: {known})")
        return self.connections[name]

    def close(self, alias: str) -> None:
        connection = self.get(alias)
        connection.close()
        del self.connections[alias]
        if self.current == alias:
            self.current = next(iter(self.connections), None)

    def close_all(self) -> None:
        for alias in list(self.connections):
            self.close(alias)
