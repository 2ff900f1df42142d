"""Layers screen: activation statistics through the network, and two variants compared."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui.messages import ActivationsLoaded, ComparisonLoaded, LayerMapLoaded
from tui.screens.base import Pane
from tui.session import ActivationsByLayer
from tui.widgets.layer_tree import shape_text
from tui.widgets.plots import SeriesChart
from tui.widgets.table import R8Table


def activation_rows(acts: ActivationsByLayer) -> list[list[Any]]:
    return [[name, shape_text(s.shape), s.stats.mean, s.stats.std, s.stats.min, s.stats.max,
             s.stats.zeros_fraction, s.saturated_fraction] for name, s in acts.items()]


def comparison_rows(rep: Any) -> list[list[Any]]:
    return [[c.name, shape_text(c.shape), c.diff.sqnr_db, c.diff.cosine, c.diff.max_abs_diff,
             "first" if c.name == rep.first_divergence else ""] for c in rep.layers]


class LayersPane(Pane):
    """Activation table and chart | comparison of the float baseline with another variant."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="layers-top"):
            yield R8Table("activation-stats", id="layers-acts", title="activations")
            yield SeriesChart(id="layers-chart")
        yield Static("", id="layers-compare-title")
        yield R8Table("comparison", id="layers-compare")

    @property
    def acts_table(self) -> R8Table:
        return self.query_one("#layers-acts", R8Table)

    @property
    def chart(self) -> SeriesChart:
        return self.query_one(SeriesChart)

    @property
    def compare_table(self) -> R8Table:
        return self.query_one("#layers-compare", R8Table)

    def pair(self) -> tuple[str, str]:
        session = self.r8.session
        return session.baseline, session.compared_variant(self.r8.variant)

    def refresh_data(self) -> None:
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        a, b = self.pair()
        if session.known_activations(variant, text) is None:
            self.acts_table.show_loading(f"{variant} activations on {text}: loading…")
            self.start("activations", (variant, text), lambda p, c: ActivationsLoaded(
                variant, text, session.activations(variant, text, p, c)),
                f"capturing {variant} activations on {text}")
        if session.known_comparison(a, b, text) is None:
            self.query_one("#layers-compare-title", Static).update(
                f"comparing {a} with {b} on {text}…")
            self.start("compare", (b, text), lambda p, c: ComparisonLoaded(
                a, b, text, session.compare(a, b, text, p, c)),
                f"comparing {a} with {b} on {text}")
        if session.known_layers() is None:
            self.start("model", "layers", lambda p, c: LayerMapLoaded(session.layer_map(p, c)),
                       "reading the layer map")
        self.show()

    def on_activations_loaded(self, event: ActivationsLoaded) -> None:
        self.show_message("")
        self.show()

    def on_comparison_loaded(self, event: ComparisonLoaded) -> None:
        self.show_message("")
        self.show()

    def on_layer_map_loaded(self, event: LayerMapLoaded) -> None:
        self.show()

    def show(self) -> None:
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        acts = session.known_activations(variant, text)
        if acts is not None:
            self.acts_table.border_title = f"{variant} activations on {text}"
            self.acts_table.load(["layer", "shape", "mean", "std", "min", "max", "zeros",
                                  "saturated"], activation_rows(acts))
            # ReLU outputs only: the raw 0-255 input and the pre-BatchNorm convs live on other
            # scales and would flatten the curves; after each ReLU mean, std and the share of
            # zeros are comparable by depth
            kinds = {x.name: x.kind for x in session.known_layers() or ()}
            relu = [(n, s.stats) for n, s in acts.items() if kinds.get(n) == "Activation"]
            self.chart.show(list(range(1, len(relu) + 1)), {
                "mean": [st.mean for _, st in relu], "std": [st.std for _, st in relu],
                "zeros": [st.zeros_fraction for _, st in relu]}, "after each ReLU, by depth")
        a, b = self.pair()
        rep = session.known_comparison(a, b, text)
        if rep is not None:
            first = rep.first_divergence or "none"
            self.query_one("#layers-compare-title", Static).update(
                f"[b]{a}[/] vs [b]{b}[/] on {text}: first divergence [b]{first}[/] "
                f"(SQNR < {rep.threshold_db:g} dB)")
            self.compare_table.load(["layer", "shape", "SQNR dB", "cosine", "max |diff|",
                                     "divergence"], comparison_rows(rep))
