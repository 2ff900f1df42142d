"""The variant picker: a modal list of variants, the current one highlighted; ``v`` (again),
``j`` or down moves on (round the end), Enter picks, Escape keeps the current one. So
``v v Enter`` is the next variant. The one picker of the app: ``v`` (the app's variant) and
the Layers screen's ``a``/``b`` (reference A, compared B) open it with their own title."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class VariantPicker(ModalScreen[str | None]):
    """Dismissed with the picked variant's name, or None."""

    ENTER_CLOSES = True
    """Enter picks and closes (keys typed after it are for the screen below: tui.type_ahead)."""
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
                 notes: dict[str, str] | None = None, title: str = "Variant") -> None:
        """``notes``: a short word per variant (float, int8, repaired) shown beside it;
        ``title``: what is being picked (the box's first line)."""
        super().__init__()
        self.title_text = title
        self.variants = list(variants)
        self.current = current
        self.notes = notes or {}

    def compose(self) -> ComposeResult:
        width = max(map(len, self.variants), default=0)
        options = [Option(f"{'●' if v == self.current else ' '} {v:<{width}}  "
                          f"[dim]{self.notes.get(v, '')}[/]", id=v) for v in self.variants]
        with Vertical(id="picker-box"):
            yield Label(f"[b]{escape(self.title_text)}[/]", id="picker-title")
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


def variant_note(name: str) -> str:
    """float, int8, reference or repaired (an int8 variant registered at run time)."""
    from engine import variants as V

    if name not in V.names():
        return "int8, repaired" if name.endswith(V.RECOMMENDED) else ""
    v = V.get(name)
    kind = {"quantized": "int8"}.get(v.kind, v.kind)
    return f"{kind}, repaired" if name not in V.ALL_VARIANTS else kind
