"""Keep the notebooks clean: run them and store outputs only where nbval compares them.

Usage:
    python tools/notebooks.py store NOTEBOOK...   # execute against $LIFTBRIDGE_ADDRESS, keep checked outputs
    python tools/notebooks.py check NOTEBOOK...   # exit 1 if any stores what it should not

nbval's instructions are cell tags, out of the reader's way (JupyterLab shows them only in the
property inspector), never ``# NBVAL_*`` comments in the code: ``nbval-check-output`` (nbval compares
the cell's outputs, so the cell keeps them and its execution count), ``raises-exception`` (the cell is
meant to fail; nbval, nbclient and myst-nb all honour it), ``nbval-ignore-output`` and ``nbval-skip``.
Every other cell is stored without outputs or execution count, notebook metadata is reduced to the
kernel spec and language, and stored outputs hold no run-specific value (a server's port, a temporary
path): they are stored as notebooks/sanitize.cfg (nbval's sanitizer) rewrites them, so that diffs show
only what a person changed and a reader sees no stale address.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = ROOT / "notebooks" / "sanitize.cfg"
CHECK = "nbval-check-output"
RAISES = "raises-exception"
#: The cell tags nbval reads (see nbval's plugin: its comment markers, as tags); nothing else is stored.
NBVAL_TAGS = frozenset({CHECK, RAISES, "nbval-raises-exception", "nbval-ignore-output", "nbval-skip"})
KEEP_METADATA = ("kernelspec", "language_info")
MARKER = re.compile(r"^\s*#\s*(NBVAL|PYTEST_VALIDATE)_[A-Z_]+\s*$", re.MULTILINE)
TEXT_KEYS = ("text/plain", "text/html", "text/markdown")


def sanitizers(path: Path = SANITIZE) -> list[tuple[re.Pattern[str], str]]:
    """The (pattern, replacement) pairs of a sanitize file, read as nbval reads it."""
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", path.read_text(), flags=re.MULTILINE)
    return [(re.compile(pattern), replace) for pattern, replace in pairs]


def sanitize(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> str:
    """``text`` with every run-specific value replaced, as nbval compares it."""
    for pattern, replace in patterns:
        text = pattern.sub(replace, text)
    return text


def tags(cell: nbformat.NotebookNode) -> list[str]:
    """The cell's tags."""
    found: list[str] = cell.get("metadata", {}).get("tags", [])
    return found


def checked(cell: nbformat.NotebookNode) -> bool:
    """Whether nbval compares this cell's outputs."""
    return cell.cell_type == "code" and CHECK in tags(cell)


def output_texts(output: nbformat.NotebookNode) -> list[str]:
    """The text an output shows (stream text, plain text, HTML), as stored."""
    if output.output_type == "stream":
        return [_joined(output.text)]
    if output.output_type == "error":
        return [output.evalue]
    return [_joined(output.data[key]) for key in TEXT_KEYS if key in output.get("data", {})]


def _joined(text: str | list[str]) -> str:
    return text if isinstance(text, str) else "".join(text)


def _sanitize_output(output: nbformat.NotebookNode, patterns: list[tuple[re.Pattern[str], str]]) -> None:
    if output.output_type == "stream":
        output.text = sanitize(_joined(output.text), patterns)
    for key in TEXT_KEYS:
        if key in output.get("data", {}):
            output.data[key] = sanitize(_joined(output.data[key]), patterns)


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs of unchecked cells, execution counts, metadata noise and run-specific values."""
    nb.metadata = {k: nb.metadata[k] for k in KEEP_METADATA if k in nb.metadata}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    patterns = sanitizers()
    for cell in nb.cells:
        kept = sorted(tag for tag in tags(cell) if tag in NBVAL_TAGS)
        cell.metadata = {"tags": kept} if kept else {}
        if cell.cell_type != "code":
            continue
        if checked(cell):  # nbval wants the execution count of the cells it compares
            for output in cell.outputs:
                _sanitize_output(output, patterns)
        else:
            cell.execution_count = None
            cell.outputs = []
    return nb


def for_reader(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as a reader opens it (`make lab`): no outputs or execution counts at all."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
            cell.outputs = []
    return nb


def problems(path: Path) -> list[str]:
    """What a stored notebook has that it should not."""
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    patterns = sanitizers()
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and MARKER.search(cell.source):
            found.append(f"{path}: cell {i} has an nbval comment in its code; use a cell tag ({CHECK}, ...)")
        if cell.cell_type == "code" and cell.outputs and not checked(cell):
            found.append(f"{path}: cell {i} stores outputs but nbval does not compare them")
        if cell.cell_type == "code" and cell.execution_count is not None and not checked(cell):
            found.append(f"{path}: cell {i} stores an execution count")
        extra = set(cell.metadata) - {"tags"} or set(tags(cell)) - NBVAL_TAGS
        if extra:
            found.append(f"{path}: cell {i} stores metadata {sorted(extra)}")
        for text in (t for output in cell.get("outputs", []) for t in output_texts(output)):
            if sanitize(text, patterns) != text:
                found.append(f"{path}: cell {i} stores a run-specific value (see {SANITIZE.name})")
    extra_nb = set(nb.metadata) - set(KEEP_METADATA)
    if extra_nb:
        found.append(f"{path}: notebook metadata {sorted(extra_nb)}")
    return found


def store(path: Path) -> None:
    """Execute the notebook and write it back cleaned."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from notebook_server import execute

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    execute(nb, path.parent, allow_errors=True)
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
