"""A one-line prompt (export path, layer to find, input to show), dismissed with the text."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    """Enter submits the text, Escape cancels (None)."""

    ENTER_CLOSES = True
    """Enter submits and closes (keys typed after it are for the screen below: tui.type_ahead)."""
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "",
                 suggestions: Sequence[str] = (), hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.suggestions = list(suggestions)
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.title_text, id="prompt-title")
            suggester = SuggestFromList(self.suggestions, case_sensitive=False) \
                if self.suggestions else None
            yield Input(self.value, placeholder=self.placeholder, suggester=suggester,
                        id="prompt-input")
            yield Label(self.hint or "Enter to confirm, Escape to cancel", id="prompt-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
