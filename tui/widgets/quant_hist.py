"""Charts drawn cell by cell at the widget's size: a histogram with the int8 grid over it,
per-channel weight ranges, and per-layer bars of a metric.

Pure functions return rich Text for a (width, height); ``ChartView`` keeps what to draw and
redraws on resize, so every chart grows with its pane. Axes say what they show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from engine import format as fmt

EIGHTHS = " ▁▂▃▄▅▆▇█"
FLOAT_STYLE = "dodger_blue2"
INT8_STYLE = "magenta"
BOTH_STYLE = "medium_purple1"
CLIP_STYLE = "bold red"
ZERO_STYLE = "bold yellow"
Y_AXIS = 8
"""Columns of the count axis (labels and the axis line)."""
MIN_SIZE = (24, 6)
"""Below this a chart is replaced by its one-line note."""


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``value`` with a short label on the x axis."""

    value: float
    label: str
    style: str


class Runs:
    """Builds a Text one cell at a time, one span per run of equal style (a chart row is a
    few runs, not a span per cell: what makes it cheap to render)."""

    def __init__(self, text: Text) -> None:
        self.text = text
        self.chars: list[str] = []
        self.style = ""

    def add(self, chars: str, style: str = "") -> None:
        if style != self.style:
            self.flush()
            self.style = style
        self.chars.append(chars)

    def flush(self) -> None:
        if self.chars:
            self.text.append("".join(self.chars), self.style or None)
            self.chars = []


def fit(text: str, width: int) -> str:
    """``text`` in ``width`` cells, ending in … when cut."""
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def axis_number(x: float) -> str:
    """An axis label that fits Y_AXIS - 1 columns: fewer digits, never a cut number."""
    text = fmt.number(float(x))
    return text if len(text) < Y_AXIS else f"{x:.2g}"


def _column_counts(counts: np.ndarray, edges: np.ndarray, lo: float, hi: float,
                   cols: int) -> np.ndarray:
    """Counts re-binned onto ``cols`` equal plot columns over lo..hi (by bin centre)."""
    centres = (np.asarray(edges[:-1], float) + np.asarray(edges[1:], float)) / 2
    idx = np.clip(((centres - lo) / (hi - lo) * cols).astype(int), 0, cols - 1)
    return np.bincount(idx, weights=np.asarray(counts, float), minlength=cols)


def _axis_labels(cols: int, lo: float, hi: float, markers: Sequence[Marker],
                 name: str = "") -> Text:
    """The x-axis row: each marker's label under its column, lo and hi at the ends and the
    axis name in the middle, where they fit."""
    row = [" "] * cols
    styles: list[str] = [""] * cols

    def put(text: str, at: int, style: str) -> None:
        at = max(0, min(cols - len(text), at))
        if any(c != " " for c in row[max(0, at - 1):at + len(text) + 1]):
            return  # no overlap: the first label placed wins
        for i, ch in enumerate(text):
            row[at + i], styles[at + i] = ch, style

    for m in markers:  # markers first: the zero point and clip limits matter most
        if lo <= m.value <= hi:
            col = int((m.value - lo) / (hi - lo) * (cols - 1))
            put(m.label, col - len(m.label) // 2, m.style)
    put(fmt.number(lo), 0, "")
    end = fmt.number(hi)
    put(end, cols - len(end), "")
    if name:
        put(name, (cols - len(name)) // 2, "dim")
    out = Text()
    runs = Runs(out)
    for ch, st in zip(row, styles, strict=True):
        runs.add(ch, st)
    runs.flush()
    return out


def overlay_text(series: Sequence[tuple[np.ndarray, str]], edges: np.ndarray, width: int,
                 height: int, title: str, caption: str, y_label: str = "count",
                 markers: Sequence[Marker] = (), x_label: str = "value") -> Text:
    """Up to two histograms on the same bins (float, then int8) as block columns; where both
    reach, the cell takes BOTH_STYLE; markers are vertical lines over empty cells. The
    count axis is labelled at its top, the value axis in its middle, ``caption`` below."""
    cols = max(1, width - Y_AXIS)
    rows = max(1, height - 4)  # title, axis line, axis labels, caption
    lo, hi = float(edges[0]), float(edges[-1])
    if hi <= lo:
        hi = lo + 1.0
    binned = [_column_counts(c, edges, lo, hi, cols) for c, _ in series]
    top = max((float(b.max()) for b in binned), default=0.0) or 1.0
    # eighths of each cell filled, per series: (series, rows, cols), top row first
    below = (rows - 1 - np.arange(rows))[:, None] * 8
    fills = [np.clip(np.rint(b / top * rows * 8)[None, :] - below, 0, 8).astype(int).tolist()
             for b in binned]
    marker_cols = {int((m.value - lo) / (hi - lo) * (cols - 1)): m for m in markers
                   if lo <= m.value <= hi}
    out = Text(fit(title, width), style="bold")
    out.append("\n")
    two = len(fills) > 1
    for r in range(rows):
        label = axis_number(top) if r == 0 else ("0" if r == rows - 1 else
                                                 (y_label[:Y_AXIS - 1] if r == 1 else ""))
        out.append(f"{label:>{Y_AXIS - 1}}│", "dim")
        runs = Runs(out)
        f0 = fills[0][r] if fills else [0] * cols
        f1 = fills[1][r] if two else [0] * cols
        for c in range(cols):
            a, b = f0[c], f1[c]
            if a and b:
                runs.add(EIGHTHS[max(a, b)], BOTH_STYLE if a == b else
                         (FLOAT_STYLE if a > b else INT8_STYLE))
            elif a:
                runs.add(EIGHTHS[a], series[0][1])
            elif b:
                runs.add(EIGHTHS[b], series[1][1])
            elif c in marker_cols:
                runs.add("│", marker_cols[c].style)
            else:
                runs.add(" ")
        runs.flush()
        out.append("\n")
    out.append(" " * (Y_AXIS - 1) + "└", "dim")
    out.append("─" * cols + "\n", "dim")
    out.append(" " * Y_AXIS)
    out.append_text(_axis_labels(cols, lo, hi, markers, x_label))
    out.append("\n")
    out.append(fit(caption, width), "dim")
    return out


def channel_strip_text(ranges: np.ndarray, width: int, height: int, title: str) -> Text:
    """Per-channel weights: one column per output channel (several per column when there
    are more channels than columns), drawn from its float min to its float max; the
    per-tensor range is the full height, each channel's representable range marked ─."""
    cols = max(1, width - Y_AXIS)
    rows = max(1, height - 4)
    n = len(ranges)
    lo = float(min(ranges[:, 0].min(), ranges[:, 2].min()))
    hi = float(max(ranges[:, 1].max(), ranges[:, 3].max()))
    if hi <= lo:
        hi = lo + 1.0
    per_col = max(1, -(-n // cols))
    groups = [ranges[i:i + per_col] for i in range(0, n, per_col)]

    def row_of(v: float) -> int:
        return int(round((hi - v) / (hi - lo) * (rows - 1)))

    out = Text(fit(title, width), style="bold")
    out.append("\n")
    for r in range(rows):
        label = axis_number(hi) if r == 0 else (axis_number(lo) if r == rows - 1 else "")
        out.append(f"{label:>{Y_AXIS - 1}}│", "dim")
        runs = Runs(out)
        for g in groups:
            fmin, fmax = float(g[:, 0].min()), float(g[:, 1].max())
            rmin, rmax = float(g[:, 2].min()), float(g[:, 3].max())
            if row_of(fmax) <= r <= row_of(fmin):
                runs.add("█", FLOAT_STYLE)
            elif r in (row_of(rmax), row_of(rmin)):
                runs.add("─", CLIP_STYLE)
            else:
                runs.add(" ")
        runs.flush()
        out.append("\n")
    out.append(" " * (Y_AXIS - 1) + "└" + "─" * len(groups) + "\n", "dim")
    out.append(" " * Y_AXIS + f"channel 0..{n - 1}" + (f" ({per_col} per column)"
                                                        if per_col > 1 else ""), "dim")
    out.append("\n")
    out.append(fit("y: value · █ float range of the channel · ─ its int8 limits", width), "dim")
    return out


def bars_text(labels: Sequence[str], values: Sequence[float | None], width: int, height: int,
              title: str, unit: str, colours: Sequence[str | None] = (),
              format_value: Callable[[Any], str] = fmt.number) -> Text:
    """Horizontal bars, one row per label (the first rows that fit), from 0 to each value
    (left of a │ for negative values)."""
    rows = max(1, height - 2)
    label_w = min(max((len(x) for x in labels), default=1), 22)
    shown = [format_value(v) for v in values]
    value_w = max((len(s) for s in shown), default=1)
    bar_w = max(1, width - label_w - value_w - 3)
    finite = [v for v in values if v is not None and np.isfinite(v)]
    lo = min(0.0, min(finite, default=0.0))
    hi = max(0.0, max(finite, default=1.0))
    span = (hi - lo) or 1.0
    zero = int(round(-lo / span * bar_w))  # bars grow from 0: left for negative values
    out = Text(fit(title, width), style="bold")
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        if i >= rows:
            break
        out.append("\n")
        out.append(f"{name[:label_w]:<{label_w}} ")
        colour = colours[i] if i < len(colours) and colours[i] else FLOAT_STYLE
        end = zero if v is None or not np.isfinite(v) else int(round((v - lo) / span * bar_w))
        a, b = min(zero, end), max(zero, end)
        if a == b and v is not None and np.isfinite(v) and v != 0:
            b = a + 1  # a value too small for a cell still shows
        runs = Runs(out)
        for c in range(bar_w):
            runs.add("█" if a <= c < b else ("│" if c == zero and lo < 0 else " "),
                     colour if a <= c < b else "dim")
        runs.flush()
        out.append(f" {shown[i]:>{value_w}}")
    out.append("\n")
    more = f" (first {rows} of {len(labels)})" if len(labels) > rows else ""
    out.append(fit(f"x: {unit}{more}", width), "dim")
    return out


class ChartView(Widget):
    """Keeps a drawing function and redraws it at the widget's size (it fills its pane).

    The drawing becomes one Strip per line when it is made (Rich renders each line's few
    runs), and the widget serves those lines: no markup or layout pass on each frame."""

    DEFAULT_CSS = """
    ChartView { height: 1fr; min-height: 6; width: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note = "nothing to show"
        self._draw: Callable[[int, int], Text] | None = None
        self._strips: list[Strip] = []
        self.text = Text()
        """What is drawn, as text (tests and screen readers read it)."""
        self.kind = "none"
        """What is drawn: none, histogram, quant, strip or bars (tests read it)."""

    def show(self, draw: Callable[[int, int], Text] | None, kind: str = "none",
             note: str = "nothing to show") -> None:
        self._draw, self.kind, self.note = draw, kind if draw else "none", note
        self.redraw()

    def redraw(self) -> None:
        w, h = self.content_size
        if self._draw is None or w < MIN_SIZE[0] or h < MIN_SIZE[1]:
            self.text = Text(self.note)
        else:
            self.text = self._draw(w, h)
        if self.is_mounted:
            console, base = self.app.console, self.rich_style
            self._strips = [
                Strip(Segment.apply_style(line.render(console, end=""), base), line.cell_len)
                .crop_extend(0, w, base)
                for line in self.text.wrap(console, max(w, 1), no_wrap=True)]
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def on_resize(self) -> None:
        self.redraw()
