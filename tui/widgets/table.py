"""A DataTable that keeps the raw rows it shows, so any table can be sorted, filtered and
exported as CSV.

Column widths are computed here from the header and every formatted cell before the rows are
added (never left to the DataTable's idle-time measuring, which a table in a hidden tab does
not get: its first paint then cut ``108.3`` to ``108.`` and widened rows one by one as the
cursor visited them). A number is therefore never cut into another number, and every row of
one table has the same width from the first paint.
"""

from __future__ import annotations

import math
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


def cell_text(value: Cell, f: Formatter | None) -> Text:
    """The cell as shown: numbers right-aligned, never wrapped."""
    shown = (f or fmt_value)(value)
    if isinstance(shown, str):
        shown = Text(shown, justify="right" if isinstance(value, (int, float)) else "left")
    shown.no_wrap = True
    return shown


def sort_key(value: Cell) -> tuple[int, Any]:
    """Numbers by value, text case-insensitively, missing values (None, NaN) last."""
    if fmt.missing(value):
        return (2, 0)
    if isinstance(value, (int, float)):
        return (0, float(value) if not (isinstance(value, float) and math.isnan(value)) else 0)
    return (1, str(value).lower())


FILTER_COLUMN = "layer"
"""The column a find filters on."""


class R8Table(DataTable):
    """Row-cursor table with vim keys, sort and filter; ``values`` and ``header`` keep the
    exportable values (in the source order; ``rows_in_view`` gives them as shown)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("e", "app.export", "Export", show=False),
    ]

    def __init__(self, table_name: str, *, title: str = "", **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.table_name = table_name
        """Short name used in the export prompt, e.g. ``layer-stats``."""
        self.border_title = title or None
        self.header: list[str] = []
        self.values: list[list[Cell]] = []
        self.sort_column: int | None = None
        """Column the rows are sorted by (None: the order the screen gave)."""
        self.sort_reverse = False
        self.filter_text = ""
        """Find: rows shown have this text (case-insensitive) in their ``layer`` cell, or a
        layer of ``filter_names`` there; empty shows all. Tables without a layer column
        show every row."""
        self.filter_names: frozenset[str] = frozenset()
        self.left_out: tuple[tuple[str, ...], str] = ((), "")
        """Layers this table has no row for, and why (``not materialised in onnx-int8``): a
        find that matches them says so instead of an unexplained ``0 of 17``."""
        self.order: list[int] = []
        """Shown row -> index in ``values``."""
        self._formats: list[Formatter | None] = []
        self._keys: list[str] | None = None

    # -- contents -------------------------------------------------------------------------

    def load(self, header: Sequence[str], rows: Sequence[Sequence[Cell]],
             formats: Sequence[Formatter | None] | None = None,
             keys: Sequence[str] | None = None) -> None:
        """Replace the contents; ``formats`` render each column (default: fmt_value)."""
        if list(header) != self.header:
            self.sort_column, self.sort_reverse = None, False
        same = list(header) == self.header and len(rows) == len(self.values) and bool(rows) \
            and not keys
        new_values = [list(r) for r in rows]
        fmts = list(formats or [None] * len(header))
        if same and self.sort_column is None and not self.filter_text \
                and self._update_in_place(new_values, fmts):
            return
        cursor = self.cursor_row
        self.header = list(header)
        self.values = new_values
        self._formats = fmts
        self._keys = list(keys) if keys else None
        self._render_rows(cursor)

    def show_loading(self, title: str | None) -> None:
        """Empty the rows (keeping the columns) under ``title``: no old content under a new
        title while the new content is computed."""
        self.border_title = title
        if self.values:
            self.values = []
            self._render_rows(0)

    def _compute_order(self) -> list[int]:
        order = list(range(len(self.values)))
        if self.filter_text and FILTER_COLUMN in self.header:
            c = self.header.index(FILTER_COLUMN)
            needle = self.filter_text.lower()
            order = [i for i in order if needle in str(self.values[i][c]).lower()
                     or self.values[i][c] in self.filter_names]
        if self.sort_column is not None and self.sort_column < len(self.header):
            c = self.sort_column
            order.sort(key=lambda i: sort_key(self.values[i][c]), reverse=self.sort_reverse)
        return order

    def _render_rows(self, cursor: int) -> None:
        self.order = self._compute_order()
        texts = [[cell_text(self.values[i][c], f) for c, f in enumerate(self._formats)]
                 for i in self.order]
        numeric = [bool(self.values) and isinstance(self.values[0][c], (int, float))
                   for c in range(len(self.header))]
        widths = []
        for c, name in enumerate(self.header):
            label = self.column_label(c, name)
            widths.append(max([label.cell_len, *(row[c].cell_len for row in texts)]))
        widths = self.fit_widths(widths, numeric)
        self.clear(columns=True)
        for c, name in enumerate(self.header):
            label = self.column_label(c, name)
            label.justify = "right" if numeric[c] else "left"
            self.add_column(label, width=widths[c], key=name)
        for n, row in enumerate(texts):
            key = self._keys[self.order[n]] if self._keys else None
            self.add_row(*row, key=key)
        if self.order:
            self.move_cursor(row=min(cursor, len(self.order) - 1))
        self.show_sort_state()

    def fit_widths(self, widths: list[int], numeric: list[bool]) -> list[int]:
        """The column widths to use (each column's content width); a main table keeps them
        and scrolls sideways when narrow."""
        return widths

    def column_label(self, c: int, name: str) -> Text:
        mark = ""
        if c == self.sort_column:
            mark = " ▼" if self.sort_reverse else " ▲"
        return Text(name + mark)

    def _update_in_place(self, rows: list[list[Cell]], formats: list[Formatter | None]) -> bool:
        """Same shape: rewrite only the cells that changed (no relayout of the table while
        every new text fits its column; a column widens, at once, when one does not)."""
        columns = self.ordered_columns
        if len(columns) != len(self.header):
            return False
        for r, (old, new) in enumerate(zip(self.values, rows, strict=True)):
            for c, (a, b) in enumerate(zip(old, new, strict=True)):
                if a is b or (type(a) is type(b) and a == b):
                    continue
                shown = cell_text(b, formats[c])
                wider = shown.cell_len > columns[c].width
                if wider:
                    columns[c].width = shown.cell_len
                self.update_cell_at(Coordinate(r, c), shown, update_width=wider)
        self.values = rows
        self._formats = formats
        return True

    # -- reading --------------------------------------------------------------------------

    def source_row(self, shown: int) -> int | None:
        """Index in ``values`` of shown row ``shown`` (None when out of range)."""
        return self.order[shown] if 0 <= shown < len(self.order) else None

    def shown_row(self, source: int) -> int | None:
        """Shown position of ``values[source]`` (None when filtered out)."""
        return self.order.index(source) if source in self.order else None

    def selected_row(self) -> list[Cell] | None:
        source = self.source_row(self.cursor_row) if self.values else None
        return self.values[source] if source is not None else None

    def rows_in_view(self) -> list[list[Cell]]:
        """The rows as shown: sorted and filtered."""
        return [self.values[i] for i in self.order]

    # -- sort and filter ------------------------------------------------------------------

    def sort_by(self, column: int | None, reverse: bool = False) -> None:
        """Sort by column ``column`` (None: the screen's order), keeping the selected row."""
        selected = self.source_row(self.cursor_row)
        self.sort_column, self.sort_reverse = column, reverse
        self._render_rows(0)
        self._keep_selection(selected)

    def action_sort_next(self) -> None:
        """s: sort by the next column (after the last, the screen's own order)."""
        if not self.header:
            return
        nxt = 0 if self.sort_column is None else self.sort_column + 1
        self.sort_by(nxt if nxt < len(self.header) else None)
        what = f"sorted by {self.header[nxt]}" if nxt < len(self.header) else "original order"
        self.app.notify(f"{self.table_name}: {what} (s next column, S reverses)", timeout=2)

    def action_sort_reverse(self) -> None:
        """S: reverse the order (sorting by the first column when none is sorted)."""
        if not self.header:
            return
        self.sort_by(self.sort_column if self.sort_column is not None else 0,
                     not self.sort_reverse)

    def set_filter(self, text: str, names: frozenset[str] = frozenset()) -> None:
        """Show only rows with ``text`` in a text cell or a cell in ``names`` (layers whose
        ONNX or PyTorch names match)."""
        if text == self.filter_text and names == self.filter_names:
            return
        selected = self.source_row(self.cursor_row)
        self.filter_text, self.filter_names = text, names
        self._render_rows(0)
        self._keep_selection(selected)

    def _keep_selection(self, source: int | None) -> None:
        shown = self.shown_row(source) if source is not None else None
        if shown is not None:
            self.move_cursor(row=shown)

    def show_sort_state(self) -> None:
        parts = []
        if self.filter_text and FILTER_COLUMN in self.header:
            parts.append(f"/{self.filter_text}: {len(self.order)} of {len(self.values)}")
            names, why = self.left_out
            missing = [n for n in names if n in self.filter_names]
            if missing:
                parts.append(f"{len(missing)} more {why}")
        if self.sort_column is not None and self.sort_column < len(self.header):
            arrow = "▼" if self.sort_reverse else "▲"
            parts.append(f"by {self.header[self.sort_column]} {arrow}")
        self.border_subtitle = "  ".join(parts) or None
