"""`make lab`: JupyterLab on 127.0.0.1 with a real local server running, on a scratch copy of the notebooks.

JupyterLab saves what you do in a notebook (autosave), so it never serves the repository's
notebooks/: they are copied to build/lab/notebooks/, without outputs, and Lab works there. A copy you
changed is kept on the next `make lab` (your work is never overwritten); a copy you did not change is
refreshed from notebooks/. Delete a copy (or build/lab/) to get a fresh one. Lab's workspace and
settings stay under build/lab/ too. Ctrl-C stops JupyterLab and then the server.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from notebook_server import ROOT, TRANSPORT_ENCRYPTION, notebook_server

from liftbridge_nb.server import ServerOptions

SOURCE = ROOT / "notebooks"
LAB_DIR = ROOT / "build" / "lab"
PORT = 8888  # Jupyter's own default; if it is taken, Jupyter picks the next free port and says so
#: What was last copied into each notebook of the scratch folder (its SHA-256), to tell your edits apart.
COPIES = ".copied.json"


@dataclass(frozen=True)
class Synced:
    """What sync() did with each notebook: ``copied`` (new or refreshed) or ``kept`` (you changed it)."""

    copied: list[str]
    kept: list[str]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sync(source: Path = SOURCE, target: Path = LAB_DIR / "notebooks") -> Synced:
    """Copy the notebooks of ``source`` into ``target`` without outputs, keeping any copy changed there."""
    sys.path.insert(0, str(ROOT / "tools"))
    from notebooks import for_reader

    target.mkdir(parents=True, exist_ok=True)
    record = target / COPIES
    copies: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    copied, kept = [], []
    for notebook in sorted(source.glob("*.ipynb")):
        copy = target / notebook.name
        if copy.exists() and copies.get(notebook.name) != _digest(copy):
            kept.append(notebook.name)
            continue
        nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.write(for_reader(nb), copy)  # type: ignore[no-untyped-call]
        copies[notebook.name] = _digest(copy)
        copied.append(notebook.name)
    record.write_text(json.dumps(copies, indent=1, sort_keys=True) + "\n")
    return Synced(copied, kept)


def lab_command(
    root: Path, *, port: int = PORT, state: Path = LAB_DIR, extra: tuple[str, ...] = ()
) -> list[str]:
    """The JupyterLab command line: on 127.0.0.1, serving ``root``; workspace and settings in ``state``."""
    command = [
        sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--no-browser",
        f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
        f"--LabApp.user_settings_dir={state / 'settings'}",
        f"--KernelManager.transport_encryption={TRANSPORT_ENCRYPTION}",
        *extra,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def main() -> int:
    synced = sync()
    root = LAB_DIR / "notebooks"
    print(
        f"Serving {root.relative_to(ROOT)}/, a scratch copy of notebooks/ (the repository's stay untouched)"
    )
    if synced.kept:
        print(f"  kept your changed {', '.join(synced.kept)} (delete a copy to get a fresh one)")
    with notebook_server(ServerOptions(cursors_partitions=1, activity_stream=True), progress=True) as server:
        print(f"Liftbridge is running at {server.address} (LIFTBRIDGE_ADDRESS in the notebooks)")
        print(f"JupyterLab starts on http://127.0.0.1:{PORT}/lab (or the next free port; it prints the URL)")
        print("Ctrl-C stops JupyterLab, then the server.", flush=True)
        try:
            return subprocess.call(lab_command(root))
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
