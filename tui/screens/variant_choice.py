"""A small modal list of the session's variants (the Layers screen's A and B pickers)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList


class VariantChoiceScreen(ModalScreen[str | None]):
    """Enter picks the highlighted variant, Escape keeps the current one (None)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("j", "down", "Down", show=False),
        Binding("k", "up", "Up", show=False),
    ]

    def __init__(self, title: str, variants: Sequence[str], current: str) -> None:
        super().__init__()
        self.title_text = title
        self.variants = list(variants)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Label(self.title_text, id="choice-title")
            yield OptionList(*self.variants, id="choice-list")
            yield Label("Enter to choose, Escape to keep " + self.current, id="choice-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.variants:
            options.highlighted = self.variants.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.variants[event.option_index])

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
