"""What the widgets share: previews, HTML tables, error display."""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from ..analysis import cell_text
from ..client import Lift

PREVIEW = 80
"""Characters of a key or value shown in a table cell; the detail pane shows more."""


def preview(data: Any, limit: int = PREVIEW) -> str:
    """At most ``limit`` characters of :func:`~liftbridge_nb.analysis.cell_text`, an ellipsis when cut."""
    text = cell_text(data).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(data: Any) -> str:
    """Indented JSON when the data is JSON, else its text."""
    text = cell_text(data)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def hexdump(data: bytes | None, limit: int = 256) -> str:
    """The first ``limit`` bytes as an offset / hex / ASCII dump."""
    if not data:
        return ""
    lines = []
    for at in range(0, min(len(data), limit), 16):
        chunk = data[at : at + 16]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{at:08x}  {chunk.hex(' '):<47}  {ascii_}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines)


def table(frame: pd.DataFrame, highlight: pd.Series | None = None) -> str:
    """An HTML table (escaped); rows where ``highlight`` is true are marked."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        marked = highlight is not None and bool(highlight.iloc[i])
        style = ' style="background:#fdd" class="lift-warn"' if marked else ""
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        rows.append(f"<tr{style}>{cells}</tr>")
    return f'<table class="lift-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def check_client(client: object, widget: str) -> None:
    """Refuse anything but a :class:`Lift` (an address, an AsyncLift, ...) with a TypeError: what to pass."""
    if not isinstance(client, Lift):
        raise TypeError(
            f"{widget} takes a Lift client, e.g. {widget}(Lift('localhost:9292'), ...), "
            f"not {type(client).__name__}"
        )


def error_html(exc: BaseException) -> str:
    """An error as one readable line for a widget's status area."""
    message = f"{type(exc).__name__}: {exc}"
    return f'<span style="color:#b00" class="lift-error">{html.escape(message)}</span>'


def count(n: int, noun: str) -> str:
    """``"1 broker"``, ``"3 brokers"``: a number and its noun, plural unless one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
