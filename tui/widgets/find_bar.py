"""Find as you type (k9s, lazygit): a one-line input above the footer, hidden when idle.

The bar only edits the query and says how many layers match; the app applies it (moves the
tree cursor, filters the tables) on every keystroke.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label


class FindBar(Horizontal):
    """``/`` opens it; Enter keeps the find (n/N step through matches), Escape clears it."""

    DEFAULT_CSS = """
    FindBar { height: 1; display: none; background: $boost; }
    FindBar.-open { display: block; }
    FindBar Label { width: auto; padding: 0 1; }
    FindBar #find-count { color: $text-muted; }
    FindBar > Input, FindBar > Input:focus { width: 1fr; height: 1; border: none;
                                             padding: 0; }
    """

    ENTER_CLOSES = True
    """Enter keeps the find and closes the bar (keys typed after it go to the pane:
    tui.type_ahead)."""
    BINDINGS = [Binding("escape", "clear", "Clear find")]

    class Changed(Message):
        """The query changed (``done``: Enter was pressed, ``cleared``: Escape)."""

        def __init__(self, query: str, done: bool = False, cleared: bool = False) -> None:
            super().__init__()
            self.query = query
            self.done = done
            self.cleared = cleared

    def compose(self) -> ComposeResult:
        return []  # built when first needed: hidden until /, it was part of every first paint

    def _build(self) -> None:
        if not self.children:
            self.mount_all([
                Label("/", id="find-prompt"),
                Input(placeholder="layer name (Keras, ONNX or PyTorch); Enter keeps it, "
                      "Esc clears", id="find-input"),
                Label("", id="find-count")])

    @property
    def input(self) -> Input:
        self._build()
        return self.query_one("#find-input", Input)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self) -> None:
        self.add_class("-open")
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-open")

    def show_count(self, text: str) -> None:
        self._build()
        self.query_one("#find-count", Label).update(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Changed(event.value, done=True))

    def action_clear(self) -> None:
        self.input.value = ""
        self.post_message(self.Changed("", cleared=True))
