"""plotext charts rendered into a Static at the widget's own size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotext
from plotext._plotter.plot import plot_class
from rich.text import Text
from textual.widgets import Static

PLOT_THEME = "simple"
"""plotext theme: default terminal colours on the frame, coloured data."""
MIN_SIZE = (16, 5)
"""Below this a chart is replaced by a one-line note."""


def new_figure(width: int, height: int) -> plot_class:
    """A private plotext figure (plotext's global figure is not shared between widgets)."""
    fig = plot_class(parent=plotext.terminal)
    fig._set_size(width, height)
    fig.theme(PLOT_THEME)
    return fig


def histogram_text(counts: np.ndarray, edges: np.ndarray, width: int, height: int,
                   title: str = "") -> Text:
    """A bar chart of a histogram (counts per bin between edges)."""
    fig = new_figure(width, height)
    centers = (np.asarray(edges[:-1], float) + np.asarray(edges[1:], float)) / 2
    if title:
        fig.title(title)
    if len(centers) and np.any(np.asarray(counts) > 0):
        fig.draw(fig.bar([float(c) for c in centers], [float(c) for c in counts], width=1))
    return Text.from_ansi(fig.build().string())


def series_text(x: Sequence[float], series: Mapping[str, Sequence[float]], width: int, height: int,
                title: str = "") -> Text:
    """Line chart of several series over the same x."""
    fig = new_figure(width, height)
    if title:
        fig.title(title)
    for name, ys in series.items():
        pts = [(float(a), float(b)) for a, b in zip(x, ys, strict=False) if np.isfinite(b)]
        if pts:
            fig.draw(fig.signal([p[0] for p in pts], [p[1] for p in pts]).lines(True).label(name))
    return Text.from_ansi(fig.build().string())


class PlotView(Static):
    """Base: keeps the data, redraws at the current size."""

    DEFAULT_CSS = """
    PlotView { height: 12; width: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.note = "nothing to show"

    def draw(self, width: int, height: int) -> Text | None:
        return None

    def redraw(self) -> None:
        w, h = self.content_size
        # the size comes from CSS, not from the content: redraw without a relayout
        if w < MIN_SIZE[0] or h < MIN_SIZE[1]:
            self.update(self.note, layout=False)
            return
        text = self.draw(w, h)
        self.update(text if text is not None else self.note, layout=False)

    def on_resize(self) -> None:
        self.redraw()


class HistogramView(PlotView):
    """A histogram of one tensor (weights, biases or activations)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._hist: tuple[np.ndarray, np.ndarray, str] | None = None

    def show(self, counts: np.ndarray | None, edges: np.ndarray | None, title: str = "",
             note: str = "nothing to show") -> None:
        self._hist = None if counts is None or edges is None else (counts, edges, title)
        self.note = note
        self.redraw()

    def draw(self, width: int, height: int) -> Text | None:
        if self._hist is None:
            return None
        return histogram_text(*self._hist[:2], width, height, self._hist[2])


class SeriesChart(PlotView):
    """Several series by layer depth (mean, std, zeros...)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._data: tuple[list[float], dict[str, list[float]], str] | None = None

    def show(self, x: Sequence[float], series: dict[str, Sequence[float]], title: str = "",
             note: str = "nothing to show") -> None:
        self._data = (list(x), {k: list(v) for k, v in series.items()}, title) if x else None
        self.note = note
        self.redraw()

    def draw(self, width: int, height: int) -> Text | None:
        if self._data is None:
            return None
        return series_text(self._data[0], self._data[1], width, height, self._data[2])
