"""`make docs`: the API reference and the notebooks, executed, as HTML in build/docs/html/.

The Sphinx source tree is assembled in build/docs/src (nothing is added to the repository): docs/,
and notebooks/*.ipynb with nbval's cell tags as myst-nb's. The notebooks run at
build time against a real local server; any Sphinx warning or failing cell fails the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from notebook_server import ROOT, notebook_server

BUILD = ROOT / "build" / "docs"
SOURCE = BUILD / "src"
HTML = BUILD / "html"
# nbval's cell tags that myst-nb names differently (``raises-exception`` is the same for both).
NBVAL_TO_MYST = {"nbval-skip": "skip-execution", "nbval-raises-exception": "raises-exception"}


def for_sphinx(notebook: Path, target: Path) -> None:
    """Write the notebook with nbval's cell tags as myst-nb's.

    A cell tagged ``raises-exception`` is meant to fail: its error is shown rather than failing the
    build. Every other failing cell fails it. A cell tagged ``nbval-skip`` is not run.
    """
    nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        extra = [NBVAL_TO_MYST[tag] for tag in tags if tag in NBVAL_TO_MYST]
        if extra:
            cell.metadata["tags"] = [*tags, *extra]
    nbformat.write(nb, target)  # type: ignore[no-untyped-call]


def assemble() -> Path:
    """build/docs/src: a copy of docs/, and the notebooks as Sphinx runs them."""
    shutil.rmtree(SOURCE, ignore_errors=True)
    shutil.copytree(ROOT / "docs", SOURCE, ignore=shutil.ignore_patterns("__pycache__"))
    (SOURCE / "notebooks").mkdir()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for notebook in notebooks:
        for_sphinx(notebook, SOURCE / "notebooks" / notebook.name)
    print(f"Sphinx source in {SOURCE.relative_to(ROOT)}: docs/ and {len(notebooks)} notebook(s)")
    return SOURCE


def main() -> int:
    started = time.monotonic()
    source = assemble()
    shutil.rmtree(HTML, ignore_errors=True)  # no page of a removed notebook or module survives
    with notebook_server() as server:
        print(f"Liftbridge is running at {server.address} for the notebooks", flush=True)
        # Every build is complete (-E): the notebooks run each time, against this fresh server.
        command = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-b", "html"]
        status = subprocess.call([*command, str(source), str(HTML)], cwd=ROOT)
    if status == 0:
        print(f"{HTML.relative_to(ROOT) / 'index.html'} built in {time.monotonic() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
