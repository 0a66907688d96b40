"""`make lab`: JupyterLab on 127.0.0.1 with a real local server running and the notebooks open.

Ctrl-C stops JupyterLab and then the server.
"""

from __future__ import annotations

import os
import subprocess
import sys

from notebook_server import ROOT, notebook_server

from liftbridge_nb.server import ServerOptions


def main() -> int:
    with notebook_server(ServerOptions(cursors_partitions=1, activity_stream=True), progress=True) as server:
        print(f"Liftbridge is running at {server.address} (LIFTBRIDGE_ADDRESS in the notebooks)", flush=True)
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
            return subprocess.call(command)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
