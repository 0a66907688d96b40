"""A real local server for the notebooks that `make demo`, `make lab` and `make docs` run.

The notebooks read the server's address from ``$LIFTBRIDGE_ADDRESS``; kernels and other
child processes inherit it from this process's environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liftbridge_nb.server import LocalServer, ServerOptions  # noqa: E402

ADDRESS_VARIABLE = "LIFTBRIDGE_ADDRESS"


@contextmanager
def notebook_server(options: ServerOptions | None = None, *, progress: bool = False) -> Iterator[LocalServer]:
    """Start a LocalServer and export its address (and, unless progress, TQDM_DISABLE) until the end."""
    exported = {ADDRESS_VARIABLE: ""} if progress else {ADDRESS_VARIABLE: "", "TQDM_DISABLE": "1"}
    saved = {name: os.environ.get(name) for name in exported}
    with LocalServer(options) as server:
        os.environ.update({**exported, ADDRESS_VARIABLE: server.address})
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
