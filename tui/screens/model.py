"""Model screen: the layer tree and, beside it, the selected layer's details."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static, Tree

from tui.messages import (
    ActivationsLoaded,
    ComparisonLoaded,
    JobResult,
    LayerMapLoaded,
    WeightsLoaded,
)
from tui.screens.base import Pane
from tui.session import ActivationsByLayer
from tui.widgets.layer_tree import LayerTree, shape_text
from tui.widgets.plots import HistogramView
from tui.widgets.table import R8Table

if TYPE_CHECKING:
    from engine.layers import LayerInfo

BIAS_PARAMS = ("bias", "beta")
"""Parameters shown by the biases view; every other parameter is a weight."""
STAT_ROWS = ("count", "min", "max", "mean", "std", "mean_abs", "zeros_fraction", "p1", "p5",
             "p50", "p95", "p99")
METRICS = ("none", "act std", "act zeros", "SQNR dB")
"""Colour cells of the tree, cycled with c."""


def layer_info_text(layer: Any) -> str:
    onnx = ", ".join(layer.onnx_nodes) or "-"
    torch = ", ".join(layer.torch_modules) or "-"
    lines = [
        f"[b]{layer.name}[/]  {layer.kind}  [dim]{layer.block} #{layer.index}[/]",
        f"out {shape_text(layer.output_shape)}  params {layer.params:,}  "
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


class ModelPane(Pane):
    """Layer tree | info, histogram and statistics of the selected layer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer_infos: tuple[Any, ...] = ()
        self.metric_index = 0
        self.last_layer: LayerInfo | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="model-body"):
            yield LayerTree(id="layer-tree")
            with Vertical(id="layer-side"):
                yield Static("loading the layer map…", id="layer-info")
                yield HistogramView(id="layer-hist")
                yield R8Table("layer-stats", id="layer-stats")

    @property
    def layer_tree(self) -> LayerTree:
        return self.query_one(LayerTree)

    @property
    def info(self) -> Static:
        return self.query_one("#layer-info", Static)

    @property
    def hist(self) -> HistogramView:
        return self.query_one(HistogramView)

    @property
    def stats(self) -> R8Table:
        return self.query_one("#layer-stats", R8Table)

    @property
    def metric(self) -> str:
        return METRICS[self.metric_index]

    # -- loading ------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        session = self.r8.session
        if not self.layer_infos:
            self.start("model", "layers",
                       lambda p, c: LayerMapLoaded(session.layer_map(p, c)),
                       "reading the layer map")
            return
        variant, view, text = self.r8.variant, self.r8.view, self.r8.input_text
        wants_acts = view == "activations" or self.metric in ("act std", "act zeros")
        if wants_acts and session.known_activations(variant, text) is None:
            self.start("activations", (variant, text), lambda p, c: ActivationsLoaded(
                variant, text, session.activations(variant, text, p, c)),
                f"capturing {variant} activations on {text}")
        if view != "activations" and session.known_weights(variant) is None:
            self.start("weights", variant,
                       lambda p, c: WeightsLoaded(variant, session.weights(variant, p, c)),
                       f"reading {variant} weights")
        if self.metric == "SQNR dB":
            a, b = session.baseline, session.compared_variant(variant)
            if session.known_comparison(a, b, text) is None:
                self.start("compare", (b, text), lambda p, c: ComparisonLoaded(
                    a, b, text, session.compare(a, b, text, p, c)),
                    f"comparing {a} with {b} on {text}")
        self.show_tree()
        self.show_layer()

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

    def result_arrived(self, event: JobResult) -> None:
        """Redraw from the session: what is shown is read for the current state, so a result
        of an older state changes nothing on screen."""
        self.show_message("")
        self.show_tree()
        self.show_layer()

    # -- showing ------------------------------------------------------------------------------

    def metric_values(self) -> dict[str, float] | None:
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        if self.metric == "none":
            return None
        if self.metric == "SQNR dB":
            rep = session.known_comparison(session.baseline, session.compared_variant(variant),
                                           text)
            return {c.name: c.diff.sqnr_db for c in rep.layers} if rep else {}
        acts = session.known_activations(variant, text) or {}
        field = "std" if self.metric == "act std" else "zeros_fraction"
        return {name: getattr(s.stats, field) for name, s in acts.items()}

    def show_tree(self) -> None:
        if not self.layer_infos:
            return
        values = self.metric_values()
        label = ""
        if values is not None:
            label = self.metric
            if self.metric == "SQNR dB":
                label += f" {self.r8.session.baseline} vs " \
                         f"{self.r8.session.compared_variant(self.r8.variant)}"
        self.layer_tree.show_layers(self.layer_infos, values, label)

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted) -> None:
        self.show_layer()

    def show_layer(self) -> None:
        """The selected layer; on a group row (stem, stack1…) the last layer shown, kept in
        step with the variant and view."""
        layer = self.layer_tree.selected_layer or self.last_layer
        if layer is None:
            return
        self.last_layer = layer
        self.info.update(layer_info_text(layer), layout=False)  # fixed height in app.tcss
        session, variant, view = self.r8.session, self.r8.variant, self.r8.view
        if view == "activations":
            acts = session.known_activations(variant, self.r8.input_text)
            self.show_activation(layer, acts)
            return
        reports = session.known_weights(variant)
        if reports is None:
            self.hist.show(None, None, note=f"loading {variant} weights…")
            self.stats.load(["stat"], [])
            return
        mine = [r for r in reports.get(layer.name, ())
                if (r.param in BIAS_PARAMS) == (view == "biases")]
        if not mine:
            self.hist.show(None, None, note=f"{layer.name} has no {view} in {variant}"
                           " — press w to switch to another view")
            self.stats.load(["stat"], [])
            return
        first = mine[0]
        self.hist.show(first.histogram.counts, first.histogram.edges,
                       f"{variant} {layer.name}.{first.param} {shape_text(first.shape)}")
        header, rows = stats_columns([(r.param, r.stats) for r in mine])
        for r in mine:
            for k, v in (r.quant or {}).items():
                if isinstance(v, (int, float)):
                    rows.append([f"q.{k}", *(v if x is r else None for x in mine)])
        self.stats.load(header, rows)

    def show_activation(self, layer: LayerInfo, acts: ActivationsByLayer | None) -> None:
        variant, text = self.r8.variant, self.r8.input_text
        if acts is None:
            self.hist.show(None, None, note=f"capturing {variant} activations on {text}…")
            self.stats.load(["stat"], [])
            return
        s = acts.get(layer.name)
        if s is None:
            self.hist.show(None, None, note=f"no {variant} activation captured for {layer.name}")
            self.stats.load(["stat"], [])
            return
        self.hist.show(s.histogram.counts, s.histogram.edges,
                       f"{variant} {layer.name} on {text}")
        header, rows = stats_columns([("activation", s.stats)])
        if s.saturated_fraction is not None:
            rows.append(["saturated_fraction", s.saturated_fraction])
        self.stats.load(header, rows)

    def cycle_metric(self) -> None:
        self.metric_index = (self.metric_index + 1) % len(METRICS)
        self.r8.notify(f"tree colour: {self.metric}", timeout=2)
        self.refresh_data()

    def find(self, name: str) -> bool:
        names = self.layer_tree.layer_names
        match = name if name in names else next((n for n in names if name in n), None)
        if match is None:
            return False
        self.layer_tree.select_layer(match)
        self.layer_tree.focus()
        return True
