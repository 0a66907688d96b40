"""`make demo`: a real local server, the quickstart and replay notebooks run headless, a summary.

Executed notebooks (with all outputs) and their HTML go to build/demo/; the server and its
data are gone when this ends.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from notebook_server import ROOT, execute, notebook_server

from liftbridge_nb import Lift, read_stream
from liftbridge_nb.server import SERVER_VERSION

NOTEBOOKS = ("quickstart", "replay_analysis")


def run_notebook(name: str, out_dir: Path) -> Path:
    source = ROOT / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    started = time.monotonic()
    execute(nb, out_dir)
    nbformat.write(nb, out_dir / f"{name}.ipynb")  # type: ignore[no-untyped-call]
    html, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    target = out_dir / f"{name}.html"
    target.write_text(html)
    print(f"  {name}.ipynb: {len(nb.cells)} cells run in {time.monotonic() - started:.1f} s")
    return target


def main() -> int:
    out_dir = ROOT / "build" / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with notebook_server() as server:
        print(
            f"Liftbridge {SERVER_VERSION} is ready at {server.address} ({time.monotonic() - started:.1f} s)"
        )
        print("Running the notebooks headless:")
        pages = [run_notebook(name, out_dir) for name in NOTEBOOKS]
        with Lift(server.address) as client:
            meta = client.fetch_metadata()
            print("\nStreams:")
            for name, info in sorted(meta.streams.items()):
                stored = sum(p.newest_offset + 1 for p in info.partitions.values())
                print(f"  {name}: {len(info.partitions)} partition(s), {stored} message(s)")
            replay = read_stream("replay-orders", client=client, progress=False)
            print(f"\nRead back {len(replay)} messages of replay-orders; the first rows:")
            columns = ["partition", "offset", "key", "value.order", "value.status", "value.amount"]
            print(replay[columns].head().to_string(index=False))
    print("\nExecuted notebooks, as HTML:")
    for page in pages:
        print(f"  {page}")
    print("Server stopped; its data directory is removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
