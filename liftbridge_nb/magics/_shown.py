"""What a magic returns for a table: a DataFrame whose notebook display is cut to a few rows.

Kept apart from ``_magic`` so that ``%load_ext liftbridge_nb`` does not import pandas.
"""

from __future__ import annotations

import html
from typing import ClassVar

import pandas as pd


class ShownFrame(pd.DataFrame):
    """A DataFrame with every row, whose notebook display shows at most ``display_limit`` of them.

    ``streams = %lift_streams`` holds all rows; the cell's output shows the first
    ``display_limit`` and says "showing 20 of 24 rows". ``note`` (if any) is shown under the
    table (e.g. that nothing matched). Frames derived from it (``streams.head()``,
    ``streams[...]``) are plain DataFrames.
    """

    _metadata: ClassVar[list[str]] = ["display_limit", "note"]
    display_limit: int
    note: str

    @classmethod
    def of(cls, frame: pd.DataFrame, display_limit: int, note: str = "") -> ShownFrame:
        """``frame``'s rows (none dropped), displayed under ``display_limit`` (0: all)."""
        shown = cls(frame)
        shown.display_limit, shown.note = display_limit, note
        return shown

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def _parts(self) -> tuple[pd.DataFrame, str]:
        plain = pd.DataFrame(self)
        notes = [self.note] if self.note else []
        limit = self.display_limit
        if limit and len(plain) > limit:
            plain = plain.head(limit)
            notes.append(
                f"showing {limit} of {len(self)} rows "
                "(all are in the frame; %config LiftMagics.display_limit)"
            )
        return plain, "; ".join(notes)

    def __repr__(self) -> str:
        plain, note = self._parts()
        if plain.empty and note:
            return note
        return f"{plain!r}\n{note}" if note else repr(plain)

    def _repr_html_(self) -> str | None:
        plain, note = self._parts()
        if plain.empty and note:
            return f"<p>{html.escape(note)}</p>"
        table: str | None = plain._repr_html_()  # type: ignore[operator]
        return f"{table}<p>{html.escape(note)}</p>" if note and table is not None else table
