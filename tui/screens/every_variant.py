"""Every-variant screen: the selected layer in every variant at once.

One column per variant (keras, onnx, torch, the int8 variants and any registered at run
time): the layer's activation statistics on the current input, its SQNR and cosine against
the float baseline, the int8 variants' scale, zero point, levels used and clipped count,
and below the table a small histogram per variant on common axes. Everything comes from
results loaded in jobs (one per variant); moving between layers only redraws.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from engine import format as fmt
from engine.types import ProgressFn
from tui.messages import JobResult, LayerMapLoaded, StageFailed
from tui.screens.base import Pane
from tui.widgets.table import R8Table

if TYPE_CHECKING:
    from tui.session import Session

STAT_ROWS = ("SQNR dB", "cosine", "scale", "zero point", "levels used", "clipped", "mean", "std",
             "min", "max", "zeros")
"""Rows of the table, one column per variant (what quantization did first: at 80x24 the
statistics below may be cut)."""
SPARK = " ▁▂▃▄▅▆▇█"
"""Block characters of the histograms, from empty to full (8 levels a row)."""
HIST_BINS = 12
"""Columns of each variant's histogram."""
HIST_ROWS = 3
"""Text rows of each variant's histogram (3 x 8 levels)."""
STAT_WIDTH = 12
"""Characters of the stat column (with its gap)."""
COLUMN_WIDTH = 10
"""Characters of a variant column."""
STAGE_PREFIX = "every-variant:"
"""Job stage of one variant's results (one stage each: they load side by side)."""


class VariantLoaded(JobResult):
    """One variant's activations, comparison with the baseline and (int8) qparams are in the
    session's memory for ``input_text``."""

    def __init__(self, variant: str, input_text: str) -> None:
        super().__init__((variant, input_text))
        self.variant = variant
        self.input_text = input_text


def load_variant(session: Session, variant: str, text: str, p: ProgressFn,
                 c: threading.Event) -> VariantLoaded:
    """What the view needs of ``variant`` (each piece cached by the session and the engine)."""
    session.activations(variant, text, p, c)
    if variant != session.baseline:
        session.compare(session.baseline, variant, text, p, c)
    if session.is_quantized(variant):
        session.qparams(variant, text, p, c)
    return VariantLoaded(variant, text)


def variant_column(session: Session, variant: str, text: str, layer: str) -> list[Any]:
    """The STAT_ROWS values of ``layer`` in ``variant`` (None where there is none)."""
    acts = session.known_activations(variant, text) or {}
    s = acts.get(layer)
    st = s.stats if s is not None else None
    rep = session.known_comparison(session.baseline, variant, text) \
        if variant != session.baseline else None
    diff = next((c.diff for c in rep.layers if c.name == layer), None) if rep else None
    qrep = session.known_qparams(variant, text)
    q = next((x for x in qrep.layers if x.name == layer), None) if qrep else None
    return [diff.sqnr_db if diff else None, diff.cosine if diff else None,
            q.scale if q else None, q.zero_point if q else None,
            f"{q.levels_used}/{q.levels}" if q else None, q.clipped if q else None,
            st.mean if st else None, st.std if st else None, st.min if st else None,
            st.max if st else None, st.zeros_fraction if st else None]


def common_histograms(hists: dict[str, tuple[np.ndarray, np.ndarray]],
                      bins: int = HIST_BINS) -> tuple[dict[str, np.ndarray], float, float]:
    """Each variant's histogram re-binned onto one shared range (counts move with their
    bin's centre), so the shapes can be compared column by column."""
    lo = min(float(e[0]) for _, e in hists.values())
    hi = max(float(e[-1]) for _, e in hists.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    out = {}
    for name, (counts, e) in hists.items():
        centres = (np.asarray(e[:-1], float) + np.asarray(e[1:], float)) / 2
        at = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, bins - 1)
        out[name] = np.bincount(at, weights=np.asarray(counts, float), minlength=bins)
    return out, lo, hi


def spark_rows(counts: np.ndarray, rows: int = HIST_ROWS) -> list[str]:
    """A bar chart in block characters, ``rows`` high, log-scaled counts (the zero spike of a
    ReLU output would flatten everything else)."""
    level = np.log1p(np.asarray(counts, float))
    top = float(level.max()) if len(level) else 0.0
    eighths = np.rint(level / top * rows * 8).astype(int) if top > 0 else np.zeros(len(level), int)
    lines = []
    for r in range(rows - 1, -1, -1):
        part = np.clip(eighths - r * 8, 0, 8)
        lines.append("".join(SPARK[int(v)] for v in part))
    return lines


def short(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters, with a marker when cut."""
    return name if len(name) <= width else name[:width - 1] + "…"


def histogram_grid(hists: dict[str, tuple[np.ndarray, np.ndarray]], width: int) -> Text:
    """The variants' small histograms side by side, wrapped to ``width`` columns."""
    if not hists:
        return Text("no histogram yet", no_wrap=True)
    binned, lo, hi = common_histograms(hists)
    cell = HIST_BINS + 2
    per_line = max(1, width // cell)
    names = list(binned)
    title = f"histograms (log count), one x range: {fmt.number(lo)} to {fmt.number(hi)}"
    out = Text(short(title, width), style="dim")  # one line: cut with a marker, not wrapped
    for start in range(0, len(names), per_line):
        group = names[start:start + per_line]
        out.append("\n" + "".join(short(n, cell - 1).ljust(cell) for n in group), style="bold")
        sparks = [spark_rows(binned[n]) for n in group]
        for r in range(HIST_ROWS):
            out.append("\n" + "".join(s[r].ljust(cell) for s in sparks), style="cyan")
    return out


class EveryVariantPane(Pane):
    """Layer list | the selected layer in every variant: statistics, SQNR, qparams, histograms."""

    LAYER_KEYS = Binding.Group("Layer", compact=True)
    PAGE_KEYS = Binding.Group("Variants", compact=True)
    BINDINGS = [  # short: the footer fits 80 columns
        Binding("left_square_bracket", "step_layer(-1)", "Previous layer", group=LAYER_KEYS),
        Binding("right_square_bracket", "step_layer(1)", "Next layer", group=LAYER_KEYS),
        Binding("less_than_sign,comma", "page(-1)", "Previous variants", group=PAGE_KEYS),
        Binding("greater_than_sign,full_stop", "page(1)", "More variants", group=PAGE_KEYS),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer_name: str | None = None
        """The layer shown."""
        self._synced: object = None
        """The Model screen's layer this view last followed."""
        self.header: list[str] = []
        """Header of the values shown: stat, then one column per variant."""
        self.rows: list[list[Any]] = []
        """The values shown (STAT_ROWS), exported by e."""
        self.first_column = 0
        """Index of the first variant after the baseline shown (paging when they do not fit)."""
        self.failed: dict[str, str] = {}
        """Variant -> why its job failed (kept until a retry; r retries)."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="every-body"):
            yield R8Table("every-variant-layers", id="every-layers", title="layers")
            with Vertical(id="every-side"):
                yield Static("", id="every-title")
                yield Static("", id="every-grid")
                yield R8Table("every-variant", id="every-table")  # hidden: what e exports
                yield Static("", id="every-hists")

    @property
    def layer_list(self) -> R8Table:
        return self.query_one("#every-layers", R8Table)

    @property
    def table(self) -> R8Table:
        return self.query_one("#every-table", R8Table)

    @property
    def grid(self) -> Static:
        return self.query_one("#every-grid", Static)

    @property
    def hists(self) -> Static:
        return self.query_one("#every-hists", Static)

    @property
    def title(self) -> Static:
        return self.query_one("#every-title", Static)

    def shown_variants(self) -> tuple[str, ...]:
        """The session's capturable variants, the float baseline first."""
        session = self.r8.session
        names = session.capturable_variants()
        return (session.baseline, *(v for v in names if v != session.baseline))

    # -- loading -----------------------------------------------------------------------------

    def refresh_data(self) -> None:
        session, text = self.r8.session, self.r8.input_text
        if session.known_layers() is None:
            self.start("model", "layers", lambda p, c: LayerMapLoaded(session.layer_map(p, c)),
                       "reading the layer map")
        self.failed.clear()
        for v in self.shown_variants():
            if not self.is_loaded(v, text):
                self.start(STAGE_PREFIX + v, (v, text),
                           lambda p, c, v=v: load_variant(session, v, text, p, c),
                           f"loading {v} on {text}")
        self.show_layers()

    def is_loaded(self, variant: str, text: str) -> bool:
        session = self.r8.session
        return session.known_activations(variant, text) is not None \
            and (variant == session.baseline
                 or session.known_comparison(session.baseline, variant, text) is not None) \
            and (not session.is_quantized(variant) or session.known_qparams(variant, text) is not None)

    def on_layer_map_loaded(self, event: LayerMapLoaded) -> None:
        self.show_layers()

    def on_variant_loaded(self, event: VariantLoaded) -> None:
        self.show_layer()

    def on_stage_failed(self, event: StageFailed) -> None:
        """A variant that failed is named in the title (the others still show)."""
        variant = event.stage.removeprefix(STAGE_PREFIX)
        if variant == event.stage:
            super().on_stage_failed(event)
            return
        self.failed[variant] = "cancelled" if event.cancelled else event.message
        self.show_layer()

    # -- showing -----------------------------------------------------------------------------

    def show_layers(self) -> None:
        """The layer list (once the layer map is known), following the Model screen's layer."""
        infos = self.r8.session.known_layers()
        if infos is None:
            self.title.update("reading the layer map…")
            return
        names = [x.name for x in infos]
        if self.layer_list.header != ["layer"]:
            self.layer_list.load(["layer"], [[n] for n in names])
        model_layer = self.r8.model_pane.last_layer
        if model_layer is not None and model_layer is not self._synced:
            self._synced = model_layer
            self.layer_name = model_layer.name
        if self.layer_name not in names:
            self.layer_name = names[0]
        row = names.index(self.layer_name)
        if self.layer_list.cursor_row != row:
            self.layer_list.move_cursor(row=row)
        self.show_layer()

    @on(DataTable.RowHighlighted, "#every-layers")
    def _layer_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = self.layer_list.values[event.cursor_row] if self.layer_list.values else None
        if row is not None and row[0] != self.layer_name:
            self.layer_name = str(row[0])
            self.show_layer()

    def action_step_layer(self, step: int) -> None:
        n = len(self.layer_list.values)
        if n:
            self.layer_list.move_cursor(row=(self.layer_list.cursor_row + step) % n)

    def show_layer(self) -> None:
        """The selected layer in every variant, from memory only."""
        layer = self.layer_name
        if layer is None:
            return
        session, text = self.r8.session, self.r8.input_text
        variants = self.shown_variants()
        loading = [v for v in variants if not self.is_loaded(v, text)]
        columns = [variant_column(session, v, text, layer) for v in variants]
        rows = [[stat, *(col[i] for col in columns)] for i, stat in enumerate(STAT_ROWS)]
        self.header = ["stat", *variants]
        self.rows = rows
        self.show_grid(variants, rows)
        mean_row = STAT_ROWS.index("mean")
        absent = [v for v, col in zip(variants, columns, strict=True)
                  if session.known_activations(v, text) is not None and col[mean_row] is None]
        skipped = [v for v in session.variants if v not in variants]
        parts = [f"[b]{layer}[/] in every variant · input {text}",
                 f"SQNR/cosine against {session.baseline}"]
        spec = session.known_input(text)
        if spec is not None:
            parts[0] += f" ({len(spec)} image{'s' if len(spec) != 1 else ''})"
        failed = [v for v in loading if v in self.failed]
        loading = [v for v in loading if v not in self.failed]
        if loading:
            parts.append(f"loading {', '.join(loading)}…")
        if failed:
            parts.append(f"[red]{failed[0]}: {escape(self.failed[failed[0]])}[/] (r retries)")
        if absent:
            parts.append(f"not materialised in {', '.join(absent)}")
        if skipped:
            parts.append(f"{', '.join(skipped)}: tensors not capturable")
        self.title.update(parts[0] + "  [dim]\\[ ] or the list: another layer[/]\n"
                          + " · ".join(parts[1:]), layout=False)  # fixed height in app.tcss
        hists = {}
        for v in variants:
            s = (session.known_activations(v, text) or {}).get(layer)
            if s is not None and len(s.histogram.edges) > 1:
                hists[v] = (s.histogram.counts, s.histogram.edges)
        width = self.hists.content_size.width or 56
        if self.hists.size.width == 0:  # not laid out yet: the pane's width less the list
            width = max(HIST_BINS, self.size.width - 28)
        self.hists.update(histogram_grid(hists, width), layout=False)

    def on_resize(self) -> None:
        self.show_layer()

    def table_in_view(self) -> R8Table | None:
        """e exports every variant's column of the layer shown (all of them, not one page);
        the hidden table is filled only then (filling it on each layer change costs ~20 ms)."""
        if not self.rows:
            return None
        self.table.table_name = f"every-variant-{self.layer_name}"
        self.table.load(self.header, self.rows)
        return self.table

    def fitting_columns(self) -> int:
        """How many variant columns fit beside the stat column."""
        width = self.grid.content_size.width or 56
        return max(1, (width - STAT_WIDTH) // (COLUMN_WIDTH + 1))

    def action_page(self, step: int) -> None:
        others = len(self.shown_variants()) - 1
        fit = max(1, self.fitting_columns() - 1)
        self.first_column = min(max(0, self.first_column + step * fit), max(0, others - fit))
        self.show_layer()

    def show_grid(self, variants: tuple[str, ...], rows: list[list[Any]]) -> None:
        """The table on screen: the baseline and the page of other variants that fits, drawn
        as one Rich table (a layer change redraws one widget, no relayout)."""
        fit = self.fitting_columns()
        others = list(range(1, len(variants)))
        self.first_column = min(self.first_column, max(0, len(others) - (fit - 1)))
        shown = [0, *others[self.first_column:self.first_column + fit - 1]]
        # plain fixed-width text: a Rich Table of the same cells takes ~50 ms to draw here
        grid = Text(no_wrap=True, overflow="ellipsis")
        grid.append("stat".ljust(STAT_WIDTH)
                    + " ".join(short(variants[i], COLUMN_WIDTH).rjust(COLUMN_WIDTH)
                               for i in shown), style="bold")
        for row in rows:
            grid.append("\n" + str(row[0]).ljust(STAT_WIDTH)
                        + " ".join(fmt.number(row[i + 1]).rjust(COLUMN_WIDTH) for i in shown))
        hidden = len(variants) - len(shown)
        title = f"{len(shown)} of {len(variants)} variants: . and , page" if hidden else None
        if self.grid.border_title != title:
            self.grid.border_title = title
        self.grid.update(grid, layout=False)
