"""Notebooks under nbval run against a real local server that this starts for the session.

The kernel inherits the environment, so the server's address reaches the notebooks as
``$LIFTBRIDGE_ADDRESS`` (unless it is set already, to use a server of your own).
"""

from __future__ import annotations

import os

import pytest

from liftbridge_nb.server import LocalServer

_server: LocalServer | None = None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Start the notebooks' server once it is known that notebooks will run."""
    global _server
    if os.environ.get("LIFTBRIDGE_ADDRESS") or not any(str(i.fspath).endswith(".ipynb") for i in items):
        return
    _server = LocalServer().start()
    os.environ["LIFTBRIDGE_ADDRESS"] = _server.address
    os.environ.setdefault("TQDM_DISABLE", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop it."""
    if _server is not None:
        _server.close()
        os.environ.pop("LIFTBRIDGE_ADDRESS", None)
