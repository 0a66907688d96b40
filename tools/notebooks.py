"""Keep the notebooks clean: run them and store outputs only where nbval compares them.

Usage:
    python tools/notebooks.py store NOTEBOOK...   # execute against $LIFTBRIDGE_ADDRESS, keep checked outputs
    python tools/notebooks.py check NOTEBOOK...   # exit 1 if any stores output or metadata it should not

A code cell whose source contains ``# NBVAL_CHECK_OUTPUT`` keeps its outputs and execution count
(nbval compares them); every other cell is stored without either, and notebook metadata is reduced to
the kernel spec and language, so that diffs show only what a person changed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

CHECK = "NBVAL_CHECK_OUTPUT"
KEEP_METADATA = ("kernelspec", "language_info")


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs of unchecked cells, execution counts and metadata noise."""
    nb.metadata = {k: nb.metadata[k] for k in KEEP_METADATA if k in nb.metadata}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        if CHECK not in cell.source:  # nbval wants the execution count of the cells it compares
            cell.execution_count = None
            cell.outputs = []
    return nb


def problems(path: Path) -> list[str]:
    """What a stored notebook has that it should not."""
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.outputs and CHECK not in cell.source:
            found.append(f"{path}: cell {i} stores outputs but nbval does not compare them")
        if cell.cell_type == "code" and cell.execution_count is not None and CHECK not in cell.source:
            found.append(f"{path}: cell {i} stores an execution count")
        if cell.metadata:
            found.append(f"{path}: cell {i} stores metadata {sorted(cell.metadata)}")
    extra = set(nb.metadata) - set(KEEP_METADATA)
    if extra:
        found.append(f"{path}: notebook metadata {sorted(extra)}")
    return found


def store(path: Path) -> None:
    """Execute the notebook and write it back cleaned."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources, allow_errors=True).execute()
    nbformat.write(clean(nb), path)  # type: ignore[no-untyped-call]


def main(argv: list[str]) -> int:
    command, paths = argv[0], [Path(p) for p in argv[1:]]
    if command == "store":
        for path in paths:
            store(path)
        return 0
    found = [p for path in paths for p in problems(path)]
    print("\n".join(found) or f"{len(paths)} notebook(s) clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
