"""SQNR by layer depth: several labelled series in dB, the legend outside the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotext
from rich.text import Text

from tui.widgets.plots import PlotView, new_figure

SERIES_COLOURS = ("cyan", "magenta", "yellow", "green")
"""plotext colour of each series in order; the legend line uses the same names."""


def depth_text(series: Mapping[str, Sequence[float]], width: int, height: int,
               unit: str) -> Text:
    """Line chart of each series over its index (1 = first layer), y axis labelled ``unit``.

    The legend is a line of its own above the plot, so it never covers a point."""
    names = list(series)
    if sum(len(n) + 4 for n in names) + len(unit) + 10 > width:
        names = [n[:4] + "." for n in names]  # accumulated -> accu.: one line at 80 columns
    legend = Text(" ")
    for name, colour in zip(names, SERIES_COLOURS, strict=False):
        legend.append("━━ ", style=colour)
        legend.append(f"{name} ")
    legend.append(f"{unit} by depth", style="dim")
    fig = new_figure(width, max(height - 1, 1))
    for (_, ys), colour in zip(series.items(), SERIES_COLOURS, strict=False):
        pts = [(i + 1.0, float(y)) for i, y in enumerate(ys) if np.isfinite(y)]
        if pts:
            marker = plotext.marker("hd", pixel=colour)
            fig.draw(fig.signal([p[0] for p in pts], [p[1] for p in pts],
                                marker=marker).lines(True))
    return legend + Text("\n") + Text.from_ansi(fig.build().string())


class DepthChart(PlotView):
    """Series by depth (e.g. accumulated and isolated SQNR of each layer)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._data: tuple[dict[str, list[float]], str] | None = None

    def show(self, series: Mapping[str, Sequence[float]], unit: str,
             note: str = "nothing to show") -> None:
        finite = any(np.isfinite(y) for ys in series.values() for y in ys)
        self._data = ({k: list(v) for k, v in series.items()}, unit) if finite else None
        self.note = note
        self.redraw()

    def draw(self, width: int, height: int) -> Text | None:
        if self._data is None:
            return None
        return depth_text(self._data[0], width, height, self._data[1])
