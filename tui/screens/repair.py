"""The repair dialog: quantize an int8 variant with chosen settings (float layers, bias
correction, calibration method and images), or run the recommender, as a new variant."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList

from engine.errors import UsageError
from engine.quantize import METHODS
from tui.session import RepairRequest

DEFAULT_METHOD = "default"
"""The method choice that keeps the session's (or the backend's) method."""


class RepairScreen(ModalScreen[RepairRequest | None]):
    """Settings of the int8 variant to build; ``check`` refuses bad ones with one line (the
    dialog stays open with what was typed). Enter in the calibration field or the Quantize
    button builds the variant, the Recommend button runs the recommender, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+r", "recommend", "Recommend")]
    DEFAULT_CSS = """
    RepairScreen { align: center middle; }
    #repair-box { width: 78; max-width: 100%; height: auto; max-height: 100%;
                  border: round $accent; background: $surface; padding: 0 1; }
    #repair-title { width: 1fr; text-style: bold; }
    #repair-body { height: auto; }
    #repair-layers { width: 1fr; height: 12; max-height: 12; border: round $primary-background; }
    #repair-layers:focus { border: round $accent; }
    #repair-right { width: 30; height: auto; }
    #repair-right Select { width: 1fr; }
    #repair-right Label { margin: 0 0 0 1; color: $text-muted; }
    #repair-calib { width: 1fr; }
    #repair-buttons { height: 3; }
    #repair-buttons Button { margin: 0 1 0 0; min-width: 12; }
    #repair-error { width: 1fr; height: auto; }
    """

    def __init__(self, recipes: Sequence[str], units: Sequence[tuple[str, str]],
                 initial: RepairRequest, check: Callable[[RepairRequest], str]) -> None:
        """``units``: (Keras name, label) of each quantizable unit; ``check`` returns the
        new variant's name or raises UsageError."""
        super().__init__()
        self.recipes = list(recipes)
        self.units = list(units)
        self.initial = initial
        self.check = check

    def compose(self) -> ComposeResult:
        init = self.initial
        with Vertical(id="repair-box"):
            yield Label("Repair: quantize with settings, or run the recommender",
                        id="repair-title")
            with Horizontal(id="repair-body"):
                marked = set(init.float_layers)
                layers = SelectionList[str](
                    *((label, name, name in marked) for name, label in self.units),
                    id="repair-layers")
                layers.border_title = "float layers (space marks)"
                yield layers
                with Vertical(id="repair-right"):
                    yield Label("int8 variant")
                    yield Select([(r, r) for r in self.recipes], value=init.recipe,
                                 allow_blank=False, id="repair-recipe")
                    yield Label("calibration method")
                    yield Select([(m, m) for m in (DEFAULT_METHOD, *METHODS)],
                                 value=init.method or DEFAULT_METHOD, allow_blank=False,
                                 id="repair-method")
                    yield Label("calibration images")
                    yield Input(init.calib, placeholder="train:N, mlperf or random:N",
                                id="repair-calib")
                    yield Checkbox("bias correction", init.bias_correction,
                                   id="repair-bias")
            with Horizontal(id="repair-buttons"):
                yield Button("Quantize", variant="primary", id="repair-quantize")
                yield Button("Recommend", id="repair-recommend")
            yield Label("", id="repair-error")

    def on_mount(self) -> None:
        self.query_one("#repair-layers", SelectionList).focus()
        self.show_name()

    def request(self, recommend: bool = False) -> RepairRequest:
        method = self.query_one("#repair-method", Select).value
        return RepairRequest(
            recipe=str(self.query_one("#repair-recipe", Select).value),
            float_layers=tuple(self.query_one("#repair-layers", SelectionList).selected),
            bias_correction=self.query_one("#repair-bias", Checkbox).value,
            method=None if method == DEFAULT_METHOD else str(method),
            calib=self.query_one("#repair-calib", Input).value.strip(),
            recommend=recommend)

    def show_name(self) -> None:
        """The name the variant will get, or why these settings cannot be built."""
        try:
            text = f"new variant: [b]{self.check(self.request())}[/]"
        except UsageError as exc:
            text = f"[red]{exc}[/]"
        self.query_one("#repair-error", Label).update(text)

    @on(SelectionList.SelectedChanged)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(Input.Changed)
    def _changed(self) -> None:
        self.show_name()

    def submit(self, recommend: bool) -> None:
        req = self.request(recommend)
        try:
            self.check(req)
        except UsageError as exc:
            self.query_one("#repair-error", Label).update(f"[red]{exc}[/]")
            return
        self.dismiss(req)

    @on(Button.Pressed, "#repair-quantize")
    @on(Input.Submitted)
    def _quantize(self) -> None:
        self.submit(recommend=False)

    @on(Button.Pressed, "#repair-recommend")
    def action_recommend(self) -> None:
        self.submit(recommend=True)

    def action_cancel(self) -> None:
        self.dismiss(None)

