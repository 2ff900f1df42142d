"""Layers screen: any two variants A and B compared layer by layer (accumulated and isolated
error side by side, SQNR by depth), and the activation statistics of the current variant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from engine import format as fmt
from tui.messages import ActivationsLoaded, ComparisonLoaded, LayerMapLoaded
from tui.screens.base import Pane
from tui.screens.variant_picker import VariantPicker, variant_note
from tui.session import ActivationsByLayer
from tui.widgets.depth_chart import DepthChart
from tui.widgets.layer_tree import shape_text
from tui.widgets.table import R8Table

if TYPE_CHECKING:
    from engine.compare import ComparisonReport

COMPARE_HEADER = ("layer", "acc. dB", "isol. dB", "acc. cosine", "acc. max |diff|",
                  "isol. weights dB", "isol. requant dB", "first", "shape")
"""Columns of the comparison, the two SQNRs first (side by side at 80 columns): accumulated
error (B against A at each layer, SQNR in dB) and the isolated error the int8 side's layer adds
by itself (engine.isolated; empty on a float pair)."""
COMPARE_FORMATS = [None, fmt.db, fmt.db, None, None, fmt.db, fmt.db, None, None]
"""The dB columns with two decimals (engine.format.db), so they line up."""


def activation_rows(acts: ActivationsByLayer) -> list[list[Any]]:
    return [[name, shape_text(s.shape), s.stats.mean, s.stats.std, s.stats.min, s.stats.max,
             s.stats.zeros_fraction, s.saturated_fraction] for name, s in acts.items()]


def comparison_rows(rep: ComparisonReport) -> list[list[Any]]:
    """One row per layer; isolated cells are None (shown ``-``) where the report has none."""
    rows = []
    for c in rep.layers:
        iso = c.isolated
        rows.append([c.name, c.diff.sqnr_db, iso.diff.sqnr_db if iso else None, c.diff.cosine,
                     c.diff.max_abs_diff,
                     iso.weight_sqnr_db if iso else None,
                     iso.requant_sqnr_db if iso else None,
                     "first" if c.name == rep.first_divergence else "", shape_text(c.shape)])
    return rows


def images_text(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


class LayersPane(Pane):
    """A vs B per layer, with the depth chart | activation statistics of the current variant."""

    BINDINGS = [
        Binding("a", "pick('a')", "Pick A"),
        Binding("b", "pick('b')", "Pick B"),
        Binding("u", "swap", "Swap A/B"),  # s is every table's sort
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chosen_a: str | None = None
        """A picked by the user (None: the float baseline)."""
        self.chosen_b: str | None = None
        """B picked by the user (None: follows the app's variant)."""
        self._shown: dict[str, object] = {}
        """Table -> the result it shows: an unchanged result is not loaded again."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        yield Static("", id="layers-compare-title")
        yield R8Table("comparison", id="layers-compare")
        with Horizontal(id="layers-bottom"):
            yield R8Table("activation-stats", id="layers-acts", title="activations")
            yield DepthChart(id="layers-chart")

    @property
    def acts_table(self) -> R8Table:
        return self.query_one("#layers-acts", R8Table)

    @property
    def chart(self) -> DepthChart:
        return self.query_one(DepthChart)

    @property
    def compare_table(self) -> R8Table:
        return self.query_one("#layers-compare", R8Table)

    @property
    def title(self) -> Static:
        return self.query_one("#layers-compare-title", Static)

    def pair(self) -> tuple[str, str]:
        """(A, B): the user's choices, else the float baseline and the app's variant."""
        session = self.r8.session
        a = self.chosen_a or session.baseline
        b = self.chosen_b or session.compared_variant(self.r8.variant)
        return a, b

    # -- picking A and B ---------------------------------------------------------------------

    def action_pick(self, side: str) -> None:
        a, b = self.pair()
        current = a if side == "a" else b
        names = self.r8.session.capturable_variants()

        def chosen(name: str | None) -> None:
            if name:
                self.choose(name if side == "a" else a, name if side == "b" else b)

        label = "reference A" if side == "a" else "compared B"
        notes = {v: variant_note(v) for v in names}
        self.r8.push_screen(VariantPicker(names, current, notes, f"Layers: {label}"), chosen)

    def action_swap(self) -> None:
        a, b = self.pair()
        self.choose(b, a)

    def choose(self, a: str, b: str) -> None:
        """Compare ``a`` (reference) with ``b`` from now on."""
        self.chosen_a, self.chosen_b = a, b
        self.refresh_data()

    # -- loading -----------------------------------------------------------------------------

    def refresh_data(self) -> None:
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        a, b = self.pair()
        if session.known_activations(variant, text) is None:
            self.acts_table.show_loading(f"{variant} activations on {text}: loading…")
            self.start("activations", (variant, text), lambda p, c: ActivationsLoaded(
                variant, text, session.activations(variant, text, p, c)),
                f"capturing {variant} activations on {text}")
        if session.known_compare_errors(a, b, text) is None:
            self.start("compare-ab", (a, b, text), lambda p, c: ComparisonLoaded(
                a, b, text, session.compare_errors(a, b, text, p, c)),
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

    # -- showing -----------------------------------------------------------------------------

    def show(self) -> None:
        session, variant, text = self.r8.session, self.r8.variant, self.r8.input_text
        acts = session.known_activations(variant, text)
        if acts is not None and self._shown.get("acts") is not acts:
            self._shown["acts"] = acts
            self.acts_table.border_title = f"{variant} activations on {text}"
            self.acts_table.load(["layer", "shape", "mean", "std", "min", "max", "zeros",
                                  "saturated"], activation_rows(acts))
        self.show_comparison()

    def show_comparison(self) -> None:
        session, text = self.r8.session, self.r8.input_text
        a, b = self.pair()
        rep = session.known_compare_errors(a, b, text)
        if rep is not None and self._shown.get("compare") is rep:
            return
        self._shown["compare"] = rep
        if rep is None:
            self.title.update(f"[b]A[/] {a} vs [b]B[/] {b} on {text}: comparing…  "
                              "(a/b pick A/B, u swaps)")
            self.compare_table.border_title = None
            self.compare_table.load(list(COMPARE_HEADER), [])
            self.chart.border_title = f"SQNR by depth, {b} vs {a}"
            self.chart.show({}, "SQNR dB", note=f"comparing {a} with {b}…")
            return
        first = rep.first_divergence or "none"
        if rep.isolated_variant:
            isolated = f"isolated error: {rep.isolated_variant}'s own layers"
        else:
            isolated = "isolated error: - (A and B are float: it needs an int8 side)"
        self.title.update(
            f"[b]A[/] {a} vs [b]B[/] {b} · {rep.input} ({images_text(rep.n)}) · "
            f"first < {rep.threshold_db:g} dB: [b]{first}[/]\n{isolated} · "
            "[dim]a/b pick, u swap, Enter: on Model[/]")
        self.compare_table.border_title = f"{b} against {a}"
        self.compare_table.left_out = (rep.skipped, "not materialised in both")
        self.compare_table.load(list(COMPARE_HEADER), comparison_rows(rep), COMPARE_FORMATS)
        series = {"accumulated": [c.diff.sqnr_db for c in rep.layers]}
        if rep.isolated_variant:
            series["isolated"] = [c.isolated.diff.sqnr_db if c.isolated else float("nan")
                                  for c in rep.layers]
        self.chart.border_title = f"SQNR by depth, {b} vs {a}"
        self.chart.show(series, "SQNR dB", note="no finite SQNR to plot (identical tensors)")

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a layer row opens that layer on the Model screen."""
        table = event.data_table
        if not isinstance(table, R8Table) or not table.values:
            return
        row = table.values[event.cursor_row]
        name = str(row[0]).split(":")[0]  # dense:logits -> dense
        event.stop()
        self.r8.action_show("model")
        if not self.r8.model_pane.find(name):
            self.r8.notify(f"layer {name} is not in the model tree; press 1 to browse it",
                           severity="warning")
