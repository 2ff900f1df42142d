"""The variant picker: a modal list of the session's variants, the current one highlighted;
``v`` (again), ``j`` or down moves on (round the end), Enter picks, Escape keeps the current
one. So ``v v Enter`` is the next variant."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class VariantPicker(ModalScreen[str | None]):
    """Dismissed with the picked variant's name, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("v,j", "move(1)", "Next", show=False),
                Binding("V,k", "move(-1)", "Previous", show=False)]
    DEFAULT_CSS = """
    VariantPicker { align: center middle; }
    #picker-box { width: auto; min-width: 36; max-width: 100%; height: auto; max-height: 100%;
                  border: round $accent; background: $surface; padding: 0 1; }
    #picker-list { height: auto; max-height: 16; width: auto; min-width: 34; border: none; }
    #picker-hint { color: $text-muted; }
    """

    def __init__(self, variants: Sequence[str], current: str,
                 notes: dict[str, str] | None = None) -> None:
        """``notes``: a short word per variant (float, int8, repaired) shown beside it."""
        super().__init__()
        self.variants = list(variants)
        self.current = current
        self.notes = notes or {}

    def compose(self) -> ComposeResult:
        width = max(map(len, self.variants), default=0)
        options = [Option(f"{'●' if v == self.current else ' '} {v:<{width}}  "
                          f"[dim]{self.notes.get(v, '')}[/]", id=v) for v in self.variants]
        with Vertical(id="picker-box"):
            yield Label("[b]Variant[/]", id="picker-title")
            yield OptionList(*options, id="picker-list")
            yield Label("v/j/k move · Enter picks · Esc keeps", id="picker-hint")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        picker.focus()
        if self.current in self.variants:
            picker.highlighted = self.variants.index(self.current)

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        picker = self.query_one(OptionList)
        if picker.option_count:
            picker.highlighted = ((picker.highlighted or 0) + step) % picker.option_count

    def action_cancel(self) -> None:
        self.dismiss(None)
