"""A DataTable that keeps the raw rows it shows, so any table can be exported as CSV."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from engine import format as fmt

Cell = Any
Formatter = Callable[[Any], Text | str]


fmt_value = fmt.number
"""Default cell text (engine.format.number): 4 significant digits, '-' for None or NaN."""


class R8Table(DataTable):
    """Row-cursor table with vim keys; ``rows`` and ``header`` keep the exportable values."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, table_name: str, *, title: str = "", **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.table_name = table_name
        """Short name used in the export prompt, e.g. ``layer-stats``."""
        self.border_title = title or None
        self.header: list[str] = []
        self.values: list[list[Cell]] = []

    def load(self, header: Sequence[str], rows: Sequence[Sequence[Cell]],
             formats: Sequence[Formatter | None] | None = None,
             keys: Sequence[str] | None = None) -> None:
        """Replace the contents; ``formats`` render each column (default: fmt_value)."""
        if list(header) == self.header and len(rows) == len(self.values) and rows and not keys:
            self._update_in_place(rows, formats)
            return
        cursor = self.cursor_row
        same_columns = list(header) == self.header and bool(self.values) == bool(rows)
        self.clear(columns=not same_columns)
        self.header = list(header)
        self.values = [list(r) for r in rows]
        fmts = list(formats or [None] * len(header))
        for i, name in enumerate(header if not same_columns else ()):
            numeric = bool(self.values) and isinstance(self.values[0][i], (int, float))
            self.add_column(Text(name, justify="right" if numeric else "left"), key=name)
        for n, row in enumerate(self.values):
            cells = []
            for value, f in zip(row, fmts, strict=False):
                shown = (f or fmt_value)(value)
                if isinstance(shown, str) and isinstance(value, (int, float)):
                    shown = Text(shown, justify="right")
                cells.append(shown)
            self.add_row(*cells, key=keys[n] if keys else None)
        if self.values:
            self.move_cursor(row=min(cursor, len(self.values) - 1))

    def _update_in_place(self, rows: Sequence[Sequence[Cell]],
                         formats: Sequence[Formatter | None] | None) -> None:
        """Same shape: rewrite only the cells that changed (no relayout of the table)."""
        fmts = list(formats or [None] * len(self.header))
        for r, (old, new) in enumerate(zip(self.values, rows, strict=True)):
            for c, (a, b) in enumerate(zip(old, new, strict=True)):
                if a is b or (type(a) is type(b) and a == b):
                    continue
                shown = (fmts[c] or fmt_value)(b)
                if isinstance(shown, str) and isinstance(b, (int, float)):
                    shown = Text(shown, justify="right")
                # widen a column only when the new text does not fit: a stable width keeps
                # the table's virtual size, and so the screen's layout, unchanged
                column = self.ordered_columns[c]
                current = column.content_width if column.auto_width else column.width
                fits = Text(shown).cell_len if isinstance(shown, str) else shown.cell_len
                self.update_cell_at(Coordinate(r, c), shown, update_width=fits > current)
        self.values = [list(r) for r in rows]

    def selected_row(self) -> list[Cell] | None:
        if not self.values or not 0 <= self.cursor_row < len(self.values):
            return None
        return self.values[self.cursor_row]
