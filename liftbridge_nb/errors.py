"""Exceptions raised by liftbridge_nb.

Every error the package raises derives from :class:`LiftbridgeError`::

    LiftbridgeError
    └── ServerError                 a local server, cluster or container could not be provided
        ├── ServerNotInstalledError no Liftbridge binary, and no Go to build one
        ├── ServerBuildError        building the server with Go failed
        └── ServerStartError        a server process or container did not become ready
"""

from __future__ import annotations

from pathlib import Path


class LiftbridgeError(Exception):
    """Base class of every error raised by liftbridge_nb."""


class ServerError(LiftbridgeError):
    """A local Liftbridge server, cluster or container could not be provided."""


class ServerNotInstalledError(ServerError):
    """No Liftbridge binary was found and none can be built (Go is missing)."""


class ServerBuildError(ServerError):
    """``go`` failed to build the Liftbridge server; ``log_path`` holds its output."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


class ServerStartError(ServerError):
    """A server did not become ready; ``log_path`` (when known) holds its log."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path
