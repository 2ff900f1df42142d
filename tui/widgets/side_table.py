"""A table for panes redrawn on every key: no screen relayout, and one-line cells drawn
without Rich's general layout engine.

A DataTable asks the whole screen for a new layout whenever its virtual size changes (new
rows or wider columns) and whenever a scrollbar appears or goes. Its own region comes from
CSS (fractions of its pane), not from its content, so for this table that relayout is work
without effect: here it becomes a scrollbar update and a repaint. Scrollbars are fixed in
CSS (overflow: scroll) so that none appears or goes.

Each DataTable cell is rendered through ``console.render_lines`` (padding, wrapping,
cropping): about a millisecond a cell, most of a layer change. A one-line text cell is the
text's own segments, cut to the column (with …) and padded to its width, which is what that
engine produces for it; anything else still goes through DataTable. Measured in
benchmarks/bench_tui.py (another layer through Pilot).
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from tui.widgets.table import R8Table

MIN_NAME_CELLS = 6
"""The name column of a side table never gets narrower than this (then it scrolls)."""


class SideTable(R8Table):
    """R8Table sized by CSS only: content changes repaint it without a screen relayout."""

    _thumbs_for: Any = None
    """The virtual size the scrollbar thumbs were last set for."""

    DEFAULT_CSS = """
    SideTable {
        overflow-x: scroll; overflow-y: scroll;
        scrollbar-size-horizontal: 1; scrollbar-size-vertical: 1;
    }
    """

    def fit_widths(self, widths: list[int], numeric: list[bool]) -> list[int]:
        """In a narrow pane the first (name) column gives up room, its names ending in …, so
        that the value columns stay whole in view: a number cut at the pane's edge reads as
        another number (``2304`` as ``230``)."""
        room = self.scrollable_content_region.width
        pad = 2 * self.cell_padding
        over = sum(w + pad for w in widths) - room
        if room <= 0 or over <= 0 or not widths or numeric[0]:
            return widths
        return [max(MIN_NAME_CELLS, widths[0] - over), *widths[1:]]

    def on_resize(self) -> None:
        if self.values:
            self._render_rows(self.cursor_row)

    def load(self, *args: Any, **kwargs: Any) -> None:
        """R8Table.load, then the column widths and virtual size at once (DataTable waits
        for an idle moment, so the table was drawn twice: at the old widths, then again)."""
        super().load(*args, **kwargs)
        if self._updated_cells:
            updated = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> SideTable:
        if layout and self.is_mounted and self.size.area:
            # what the relayout would have done for this table: column widths may have
            # changed, so no cell drawn at an older width is kept; the thumbs follow
            self._clear_caches()
            if self.virtual_size != self._thumbs_for:
                self._thumbs_for = self.virtual_size
                self._scroll_update(self.virtual_size)
            layout = False
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self

    _pass: dict[object, Style] | None = None
    """Styles looked up during one render pass (each lookup walks every ancestor's CSS; a
    pass asked for the same few once per line and cell). None outside a pass."""

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    @property
    def rich_style(self) -> Style:
        memo = self._pass
        if memo is None:
            return super().rich_style
        got = memo.get("")
        if got is None:
            got = memo[""] = super().rich_style
        return got

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        memo = self._pass
        if memo is None or row_index < self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        key = ("row", -1 if row_index < 0 else row_index % 2, base_style)
        got = memo.get(key)
        if got is None:
            got = memo[key] = super()._get_row_style(row_index, base_style)
        return got

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
               self._update_count, self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        cell = self._get_row_renderables(row_index).cells[column_index]
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or row.height != 1 or not isinstance(cell, Text) or "\n" in cell.plain:
            return super()._render_cell(row_index, column_index, base_style, width, cursor,
                                        hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + \
            component_style
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        text = cell
        if text.cell_len > inner:
            text = text.copy()
            text.truncate(inner, overflow="ellipsis")
        room = inner - text.cell_len
        left = room if text.justify == "right" else (room // 2 if text.justify == "center"
                                                    else 0)
        segments = [Segment(" " * (pad + left), text.style if isinstance(text.style, Style)
                            else None)] if pad + left else []
        segments += list(text.render(self.app.console, end=""))
        if room - left + pad:
            segments.append(Segment(" " * (room - left + pad)))
        line = list(Segment.apply_style(segments, pre, post_style))
        lines = [line]
        self._cell_render_cache[key] = lines
        return lines
