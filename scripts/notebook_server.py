"""A real local server for the notebooks that `make demo`, `make lab` and `make docs` run, and how
they run headless.

The notebooks read the server's address from ``$LIFTBRIDGE_ADDRESS``; kernels and other
child processes inherit it from this process's environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liftbridge_nb.server import LocalServer, ServerOptions  # noqa: E402

ADDRESS_VARIABLE = "LIFTBRIDGE_ADDRESS"
#: Kernels started for the notebooks talk to their client over CurveZMQ (the kernel spec of ipykernel
#: declares it): nothing in plain text on 127.0.0.1's TCP ports, and so no "Kernel is running over TCP
#: without encryption" warning from each kernel. `make lab` passes the same setting to Jupyter Server.
TRANSPORT_ENCRYPTION = "auto"


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


def execute(
    nb: Any, cwd: Path, *, allow_errors: bool = False, env: dict[str, str] | None = None, timeout: int = 600
) -> Any:
    """Run every cell of ``nb`` in place, in a fresh python3 kernel started in ``cwd``; returns ``nb``.

    A failing cell raises nbclient's ``CellExecutionError`` unless ``allow_errors`` or the cell's
    ``raises-exception`` tag allows it. ``env``, if given, is the kernel's whole environment.
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
        config=Config({"KernelManager": {"transport_encryption": TRANSPORT_ENCRYPTION}}),
    )
    return client.execute(**({"env": env} if env is not None else {}))
