"""Model screen: the layer tree (coloured by a metric, with its values) and, beside it, the
selected layer's details or the selected group's summary.

For an int8 variant the histogram shows quantization: the float and int8 distributions on
the same integer grid, the zero point, the clip limits, the clipped values in each tail and
the levels used; per-channel weights add each channel's range against the tensor's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from engine import format as fmt
from engine import variants as V
from tui.messages import (
    ActivationsLoaded,
    ComparisonLoaded,
    JobResult,
    LayerMapLoaded,
    WeightsLoaded,
)
from tui.screens.base import Pane
from tui.widgets import metric_scale as M
from tui.widgets.layer_tree import Column, LayerTree, shape_text
from tui.widgets.quant_hist import (
    BOTH_STYLE,
    CLIP_STYLE,
    FLOAT_STYLE,
    INT8_STYLE,
    ZERO_STYLE,
    ChartView,
    Marker,
    bars_text,
    channel_strip_text,
    overlay_text,
)
from tui.widgets.side_table import SideTable

if TYPE_CHECKING:
    from engine.isolated import IsolatedReport
    from engine.layers import LayerInfo
    from engine.quant_view import QuantView
    from engine.sensitivity import SensitivityReport
    from tui.session import QuantViewsByLayer, WeightViewsByLayer

BIAS_PARAMS = ("bias", "beta")
"""Parameters shown by the biases view; every other parameter is a weight."""
STAT_ROWS = ("count", "min", "max", "mean", "std", "mean_abs", "zeros_fraction", "p1", "p5",
             "p50", "p95", "p99")
METRICS = M.METRICS
"""Colour modes of the tree, cycled with c."""
WIDE = 120
"""From this terminal width the tree shows the kind and every value column of a colour mode
(below, only the coloured one: the others are rows of the stats table)."""
WEIGHT_LAYOUT = {"keras": "HWIO"}
"""Weight layout by variant family; every other variant stores conv kernels OIHW."""


class IsolatedLoaded(JobResult):
    def __init__(self, variant: str, input_text: str, report: IsolatedReport) -> None:
        super().__init__((variant, input_text))
        self.report = report


class SensitivityLoaded(JobResult):
    def __init__(self, variant: str, report: SensitivityReport) -> None:
        super().__init__(variant)
        self.report = report


class QuantViewsLoaded(JobResult):
    def __init__(self, variant: str, input_text: str, views: QuantViewsByLayer) -> None:
        super().__init__((variant, input_text))
        self.views = views


class WeightViewsLoaded(JobResult):
    def __init__(self, variant: str, views: WeightViewsByLayer) -> None:
        super().__init__(variant)
        self.views = views


def layer_info_text(layer: Any) -> str:
    onnx = ", ".join(layer.onnx_nodes) or "-"
    torch = ", ".join(layer.torch_modules) or "-"
    lines = [
        f"[b]{layer.name}[/]  {layer.kind}  [dim]{layer.block} #{layer.index}[/]",
        f"out {shape_text(layer.output_shape)} (HWC)  params {layer.params:,}  "
        f"in {', '.join(layer.inputs) or '-'}",
        f"[dim]ONNX[/]  {onnx}" + (f" → {layer.onnx_output}" if layer.onnx_output else ""),
        f"[dim]torch[/] {torch}",
    ]
    if layer.notes:
        lines.append(f"[dim italic]{layer.notes}[/]")
    return "\n".join(lines)


def stats_columns(named: list[tuple[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows): one row per statistic, one column per tensor (TensorStats)."""
    header = ["stat", *(name for name, _ in named)]
    rows = [[stat, *(getattr(s, stat) for _, s in named)] for stat in STAT_ROWS]
    return header, rows


def quant_rows(view: QuantView) -> list[list[Any]]:
    """The int8 facts of one tensor as (stat, value) rows."""
    q = view.quant
    return [
        ["q.scale", q.scale], ["q.zero_point", q.zero_point],
        ["q.range_min", q.range_min], ["q.range_max", q.range_max],
        ["q.levels_used", f"{q.levels_used} of {q.levels}"],
        ["q.clipped_low", view.clipped_low], ["q.clipped_high", view.clipped_high],
        ["q.clipped_share", fmt.pct(q.clipped_share, 3)],
    ]


def quant_drawing(view: QuantView, what: str) -> Callable[[int, int], Text]:
    """Float and int8 on one grid, the zero point and the clip limits; per-channel weights
    add the strip of channel ranges below when there is room."""
    q = view.quant
    markers = [Marker(q.range_min, f"◀{q.qmin}", CLIP_STYLE),
               Marker(q.range_max, f"{q.qmax}▶", CLIP_STYLE)]
    if not view.per_channel:
        markers.insert(0, Marker(0.0, f"zp {q.zero_point}", ZERO_STYLE))
    grid = (f"1 bar = {view.levels_per_bin} level{'s' if view.levels_per_bin > 1 else ''}"
            f" of {fmt.number(q.scale)}" if view.levels_per_bin else "per-channel scales")
    facts = (f"{q.levels_used}/{q.levels} levels used · clipped {view.clipped_low}◀ "
             f"▶{view.clipped_high} ({fmt.pct(q.clipped_share, 2)}) · {grid}")

    def draw(width: int, height: int) -> Text:
        series = [(view.float_counts, FLOAT_STYLE), (view.int8_counts, INT8_STYLE)]
        legend = Text.assemble(("█ float ", FLOAT_STYLE), ("█ int8 ", INT8_STYLE),
                               ("█ both ", BOTH_STYLE), ("│ clip ", CLIP_STYLE),
                               ("│ zero", ZERO_STYLE))
        if view.channel_ranges is None or height < 16:
            text = overlay_text(series, view.edges, width, height - 1, what, facts, "count",
                                markers)
        else:
            top = height * 3 // 5
            text = overlay_text(series, view.edges, width, top, what, facts, "count",
                                markers)
            text.append("\n")
            text.append_text(channel_strip_text(
                view.channel_ranges, width, height - top - 1,
                f"per-channel ranges (axis {view.channel_axis}) against the tensor's"))
        text.append("\n")
        text.append_text(legend)
        return text

    return draw


def histogram_drawing(counts: Any, edges: Any, title: str) -> Callable[[int, int], Text]:
    return lambda w, h: overlay_text([(counts, FLOAT_STYLE)], edges, w, h, title,
                                     "x: value · y: count", "count")


class ModelPane(Pane):
    """Layer tree | info, histogram and statistics of the selected layer (or group)."""

    BINDINGS = [
        Binding("S", "compute_sensitivity", "Compute sensitivity", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer_infos: tuple[Any, ...] = ()
        self.metric_index = 0
        self.last_layer: LayerInfo | None = None
        self._info_cache: dict[str, Content] = {}

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="model-body"):
            yield LayerTree(id="layer-tree")
            with Vertical(id="layer-side"):
                yield Static("loading the layer map…", id="layer-info")
                yield ChartView(id="layer-hist")
                yield SideTable("layer-stats", id="layer-stats")

    @property
    def layer_tree(self) -> LayerTree:
        return self.query_one(LayerTree)

    @property
    def info(self) -> Static:
        return self.query_one("#layer-info", Static)

    @property
    def hist(self) -> ChartView:
        return self.query_one(ChartView)

    @property
    def stats(self) -> SideTable:
        return self.query_one("#layer-stats", SideTable)

    @property
    def metric(self) -> M.Metric:
        return METRICS[self.metric_index]

    @property
    def int8_variant(self) -> str:
        """The int8 variant the diagnosis columns are about: the current one, or the one the
        float variant is compared with."""
        return self.r8.session.compared_variant(self.r8.variant)

    # -- loading ------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        session = self.r8.session
        if not self.layer_infos and (known := session.known_layers()):
            self.layer_infos = known  # read before the first frame (Session.read_cached)
            self.focus_if_active(self.layer_tree)
        if not self.layer_infos:
            self.start("model", "layers",
                       lambda p, c: LayerMapLoaded(session.layer_map(p, c)),
                       "reading the layer map")
            return
        variant, view, text = self.r8.variant, self.r8.view, self.r8.input_text
        metric = self.metric
        wants_acts = view == "activations" or metric in (M.ACT_STD, M.ACT_ZEROS)
        if wants_acts and session.known_activations(variant, text) is None:
            self.start("activations", (variant, text), lambda p, c: ActivationsLoaded(
                variant, text, session.activations(variant, text, p, c)),
                f"capturing {variant} activations on {text}")
        if view != "activations" and session.known_weights(variant) is None:
            self.start("weights", variant,
                       lambda p, c: WeightsLoaded(variant, session.weights(variant, p, c)),
                       f"reading {variant} weights")
        quantized = variant in V.QUANT_VARIANTS
        if quantized and view == "activations" and \
                session.known_quant_views(variant, text) is None:
            self.start("quant-views", (variant, text), lambda p, c: QuantViewsLoaded(
                variant, text, session.quant_views(variant, text, p, c)),
                f"reading {variant} and float activations on {text}")
        if quantized and view != "activations" and session.known_weight_views(variant) is None:
            self.start("weight-views", variant, lambda p, c: WeightViewsLoaded(
                variant, session.weight_views(variant, p, c)),
                f"reading {variant} int8 and float weights")
        q = self.int8_variant
        if metric in (M.SQNR, M.ISOLATED, M.SENSITIVITY):
            a = session.baseline
            if session.known_comparison(a, q, text) is None:
                self.start("compare", (q, text), lambda p, c: ComparisonLoaded(
                    a, q, text, session.compare(a, q, text, p, c)),
                    f"comparing {a} with {q} on {text}")
        if metric in (M.ISOLATED, M.SENSITIVITY) and session.known_isolated(q, text) is None:
            self.start("isolated", (q, text), lambda p, c: IsolatedLoaded(
                q, text, session.isolated(q, text, p, c)),
                f"isolated error of {q} on {text}")
        self.show_tree()
        self.show_layer()

    def action_compute_sensitivity(self) -> None:
        """Sensitivity of the int8 variant (slow: one evaluation per layer) as a job."""
        session, q = self.r8.session, self.int8_variant
        if q not in V.QUANT_VARIANTS:
            self.r8.notify(f"sensitivity needs an int8 variant; press v until one of "
                           f"{', '.join(V.QUANT_VARIANTS)} is shown", severity="warning")
            return
        if self.metric is not M.SENSITIVITY:
            self.metric_index = METRICS.index(M.SENSITIVITY)
        self.start("sensitivity", q, lambda p, c: SensitivityLoaded(
            q, session.sensitivity(q, p, c)),
            f"sensitivity of {q} on {session.subset} (Esc cancels)")
        self.refresh_data()

    def on_layer_map_loaded(self, event: LayerMapLoaded) -> None:
        self.layer_infos = event.layers
        self.show_message("")
        self.focus_if_active(self.layer_tree)
        self.refresh_data()

    def on_weights_loaded(self, event: WeightsLoaded) -> None:
        self.result_arrived(event)

    def on_activations_loaded(self, event: ActivationsLoaded) -> None:
        self.result_arrived(event)

    def on_comparison_loaded(self, event: ComparisonLoaded) -> None:
        self.result_arrived(event)

    def on_isolated_loaded(self, event: IsolatedLoaded) -> None:
        self.result_arrived(event)

    def on_sensitivity_loaded(self, event: SensitivityLoaded) -> None:
        self.result_arrived(event)

    def on_quant_views_loaded(self, event: QuantViewsLoaded) -> None:
        self.result_arrived(event)

    def on_weight_views_loaded(self, event: WeightViewsLoaded) -> None:
        self.result_arrived(event)

    def result_arrived(self, event: JobResult) -> None:
        """Redraw from the session: what is shown is read for the current state, so a result
        of an older state changes nothing on screen."""
        self.show_message("")
        self.show_tree()
        self.show_layer()

    # -- metric values ------------------------------------------------------------------------

    def _by_unit(self, rows: Any, value: Callable[[Any], float]) -> dict[str, float]:
        """A unit's value on every Keras layer it covers."""
        return {name: value(r) for r in rows for name in r.layers}

    def metric_values(self, metric: M.Metric) -> dict[str, float] | None:
        """Layer -> value of ``metric`` for the current state; None when not computed."""
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        q = self.int8_variant
        if metric is M.NONE:
            return None
        if metric is M.SQNR:
            rep = session.known_comparison(session.baseline, q, text)
            return {c.name: c.diff.sqnr_db for c in rep.layers} if rep else None
        if metric is M.ISOLATED:
            iso = session.known_isolated(q, text)
            return self._by_unit(iso.layers, lambda r: r.diff.sqnr_db) if iso else None
        if metric is M.SENSITIVITY:
            sens = session.known_sensitivity(q)
            return self._by_unit(sens.layers, lambda r: r.delta_points) if sens else None
        acts = session.known_activations(variant, text)
        if acts is None:
            return None
        field = "std" if metric is M.ACT_STD else "zeros_fraction"
        return {name: getattr(s.stats, field) for name, s in acts.items()}

    def columns(self) -> list[tuple[M.Metric, dict[str, float]]]:
        """The value columns of the current colour mode: the metric first; the sensitivity
        and isolated modes add the accumulated (and isolated) SQNR beside it."""
        metric = self.metric
        shown = {M.NONE: [], M.ISOLATED: [M.ISOLATED, M.SQNR],
                 M.SENSITIVITY: [M.SENSITIVITY, M.SQNR, M.ISOLATED]}.get(metric, [metric])
        return [(m, self.metric_values(m) or {}) for m in shown]

    def noise(self) -> tuple[float, float | None]:
        """(noise floor in points, points per image) of the sensitivity shown."""
        sens = self.r8.session.known_sensitivity(self.int8_variant)
        if sens is None:
            return 0.0, None
        return sens.noise_floor_points, 100.0 / sens.size if sens.size else None

    def legend(self, values: Mapping[str, float | None]) -> Text:
        noise, per_image = self.noise()
        if self.metric is M.SENSITIVITY and not values:
            return Text("not computed: press S (slow; Esc cancels)", "dim")
        pieces = M.legend(self.metric, values, noise, per_image)
        out = Text()
        for text, colour in pieces:
            out.append("■ " if colour != "dim" else "", colour)
            out.append(text + " ", "" if colour != "dim" else "dim")
        return out

    # -- showing ------------------------------------------------------------------------------

    def show_tree(self) -> None:
        if not self.layer_infos:
            return
        cols = self.columns()
        narrow = self.r8.size.width < WIDE
        if not cols:
            self.layer_tree.show_layers(self.layer_infos, compact=narrow)
            return
        metric, values = cols[0]
        noise, _ = self.noise()
        fmts = {M.SENSITIVITY: fmt.points, M.SQNR: fmt.db, M.ISOLATED: fmt.db}
        if narrow:
            cols = cols[:1]  # narrow: the other columns are rows of the stats table
        columns: list[Column] = [(m.column, v, fmts.get(m, fmt.number)) for m, v in cols]
        self.layer_tree.show_layers(self.layer_infos, columns,
                                    M.colours(metric, values, noise), self.legend(values))

    def on_resize(self) -> None:
        self.show_tree()

    def on_mount(self) -> None:
        # the side pane follows the cursor in the same frame as the tree: after the
        # NodeHighlighted message instead, each layer key drew two frames (issue 14)
        self.watch(self.layer_tree, "cursor_line", self._cursor_moved, init=False)

    def _cursor_moved(self, line: int) -> None:
        self.show_layer()

    def metric_rows(self, name: str, width: int) -> list[list[Any]]:
        """The tree's value columns for layer ``name`` as rows of the stats table (``width``
        cells each), with the sensitivity judged against the noise floor."""
        rows: list[list[Any]] = []
        pad = [None] * (width - 2)
        for m, values in self.columns():
            v = values.get(name)
            rows.append([m.name, v, *pad])
            if m is M.SENSITIVITY and v is not None:
                noise, per_image = self.noise()
                verdict = "within noise" if abs(v) <= noise else "beyond noise"
                rows.append(["noise floor (pts)", noise, *pad])
                rows.append(["sens vs noise", verdict, *pad])
                if per_image is not None:
                    rows.append(["1 image (pts)", per_image, *pad])
        return rows

    def info_content(self, layer: LayerInfo) -> Content:
        """The layer's info lines, parsed once per layer (markup parsing is a good part of
        a layer change otherwise)."""
        got = self._info_cache.get(layer.name)
        if got is None:
            got = self._info_cache[layer.name] = Content.from_markup(layer_info_text(layer))
        return got

    def selected_group(self) -> str | None:
        node = self.layer_tree.cursor_node
        if node is None or node.data is not None or not node.children:
            return None
        return str(node.label.plain).split()[0]

    def show_layer(self) -> None:
        """The selected layer; on a group row (stem, stack1…) a summary of its layers."""
        group = self.selected_group()
        if group is not None:
            self.show_group(group)
            return
        layer = self.layer_tree.selected_layer or self.last_layer
        if layer is None:
            return
        self.last_layer = layer
        self.info.update(self.info_content(layer), layout=False)  # fixed height in app.tcss
        session, variant, view = self.r8.session, self.r8.variant, self.r8.view
        if view == "activations":
            acts = session.known_activations(variant, self.r8.input_text)
            self.show_activation(layer, acts)
            return
        reports = session.known_weights(variant)
        if reports is None:
            self.hist.show(None, note=f"loading {variant} weights…")
            self.stats.load(["stat"], [])
            return
        mine = [r for r in reports.get(layer.name, ())
                if (r.param in BIAS_PARAMS) == (view == "biases")]
        if not mine:
            self.hist.show(None, note=f"{layer.name} has no {view} in {variant}"
                           " — press w to switch to another view")
            self.stats.load(["stat"], [])
            return
        first = mine[0]
        layout = WEIGHT_LAYOUT.get(variant, "OIHW") if len(first.shape) == 4 else ""
        what = f"{variant} {layer.name}.{first.param} {shape_text(first.shape)}" + \
            (f" ({layout})" if layout else "")
        views = session.known_weight_views(variant)
        qv = views.get((layer.name, first.param)) if views else None
        if qv is not None:
            self.hist.show(quant_drawing(qv, what), "quant")
        else:
            self.hist.show(histogram_drawing(first.histogram.counts, first.histogram.edges,
                                             what), "histogram")
        header, rows = stats_columns([(r.param, r.stats) for r in mine])
        if qv is not None and len(mine) == 1:
            rows += quant_rows(qv)
        else:
            for r in mine:
                for k, v in (r.quant or {}).items():
                    if isinstance(v, (int, float)):
                        rows.append([f"q.{k}", *(v if x is r else None for x in mine)])
        self.stats.load(header, rows + self.metric_rows(layer.name, len(header)))

    def show_activation(self, layer: LayerInfo, acts: Any) -> None:
        variant, text = self.r8.variant, self.r8.input_text
        if acts is None:
            self.hist.show(None, note=f"capturing {variant} activations on {text}…")
            self.stats.load(["stat"], [])
            return
        s = acts.get(layer.name)
        if s is None:
            self.hist.show(None, note=f"no {variant} activation captured for {layer.name}")
            self.stats.load(["stat"], [])
            return
        what = f"{variant} {layer.name} on {text} {shape_text(s.shape)} (NHWC)"
        views = self.r8.session.known_quant_views(variant, text)
        qv = views.get(layer.name) if views else None
        if qv is not None:
            self.hist.show(quant_drawing(qv, what), "quant")
        else:
            self.hist.show(histogram_drawing(s.histogram.counts, s.histogram.edges, what),
                           "histogram")
        header, rows = stats_columns([("activation", s.stats)])
        if s.saturated_fraction is not None:
            rows.append(["saturated_fraction", s.saturated_fraction])
        if qv is not None:
            rows += quant_rows(qv)
        self.stats.load(header, rows + self.metric_rows(layer.name, len(header)))

    def show_group(self, group: str) -> None:
        """A group row: its layers with the current metric (a bar chart and a table), in
        step with the variant, view and colour mode."""
        layers = [x for x in self.layer_infos if x.block == group]
        cols = self.columns()
        params = sum(x.params for x in layers)
        shown = self.metric.name if cols else "parameters"
        self.info.update(
            f"[b]{group}[/]  {len(layers)} layers  params {params:,}\n"
            f"variant {self.r8.variant} · view {self.r8.view} · colour: {shown}\n"
            "[dim]j/k to a layer for its histogram; c changes the colour metric[/]",
            layout=False)
        names = [x.name for x in layers]
        if cols:
            metric, values = cols[0]
            vals = [values.get(n) for n in names]
            noise, _ = self.noise()
            colour = M.colours(metric, values, noise)
            unit = {M.SENSITIVITY: "points gained when left float",
                    M.SQNR: "accumulated SQNR dB", M.ISOLATED: "isolated SQNR dB"}.get(
                        metric, metric.name)
            f = {M.SENSITIVITY: fmt.points, M.SQNR: fmt.db, M.ISOLATED: fmt.db}.get(
                metric, fmt.number)
            title = f"{group}: {metric.name} by layer ({self.int8_variant})" \
                if metric.scale != "rank" else f"{group}: {metric.name} ({self.r8.variant})"
            self.hist.show(lambda w, h: bars_text(names, vals, w, h, title, unit,
                                                  [colour.get(n) for n in names], f), "bars")
        else:
            counts = [float(x.params) for x in layers]
            self.hist.show(lambda w, h: bars_text(names, counts, w, h,
                                                  f"{group}: parameters by layer",
                                                  "parameters"), "bars")
        if cols:  # the tree already shows shapes: the metric columns get the room
            header = ["layer", *(m.column for m, _ in cols)]
            rows = [[x.name, *(v.get(x.name) for _, v in cols)] for x in layers]
        else:
            header = ["layer", "kind", "shape", "params"]
            rows = [[x.name, x.kind, shape_text(x.output_shape), x.params] for x in layers]
        if cols and cols[0][0] is M.SENSITIVITY:
            noise, _ = self.noise()
            header.insert(2, "vs noise")
            for row in rows:
                row.insert(2, None if row[1] is None else
                           ("within" if abs(row[1]) <= noise else "beyond"))
        self.stats.load(header, rows)

    def cycle_metric(self) -> None:
        self.metric_index = (self.metric_index + 1) % len(METRICS)
        hint = ""
        if self.metric is M.SENSITIVITY and \
                self.r8.session.known_sensitivity(self.int8_variant) is None:
            hint = " — not computed yet: press S to compute it (slow; Esc cancels)"
        self.r8.notify(f"tree colour: {self.metric.name}{hint}", timeout=4 if hint else 2)
        self.refresh_data()

    def find(self, name: str) -> bool:
        names = self.layer_tree.layer_names
        match = name if name in names else next((n for n in names if name in n), None)
        if match is None:
            return False
        self.layer_tree.select_layer(match)
        self.layer_tree.focus()
        return True
