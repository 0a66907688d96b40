"""`make lab`: JupyterLab on 127.0.0.1 with a real local server running and the notebooks open.

Ctrl-C stops JupyterLab and then the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from liftbridge_nb.server import LocalServer, ServerOptions  # noqa: E402


def main() -> int:
    with LocalServer(ServerOptions(cursors_partitions=1, activity_stream=True)) as server:
        print(f"Liftbridge is running at {server.address} (LIFTBRIDGE_ADDRESS in the notebooks)", flush=True)
        env = {**os.environ, "LIFTBRIDGE_ADDRESS": server.address}
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ip=127.0.0.1",
            "--no-browser",
            f"--notebook-dir={ROOT / 'notebooks'}",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
