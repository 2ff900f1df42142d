"""Help: every key binding, generated from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA_KEYS = (
    ("↑ ↓  j k", "move in the tree and the tables"),
    ("← →  h l", "collapse / expand a block in the layer tree"),
    ("Tab  Shift+Tab", "move between panes"),
    ("Enter", "open the selected flipped image (Accuracy screen)"),
    ("Ctrl+P", "command palette: every action by name"),
)


def key_table(bindings: Iterable[Binding]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    seen: set[str] = set()
    for b in bindings:
        if not b.description or b.description in seen:
            continue
        seen.add(b.description)
        names = [k.strip() for k in b.key.split(",")]
        shown = " ".join({"question_mark": "?", "slash": "/", "escape": "Esc"}.get(k, k)
                         for k in names)
        table.add_row(shown, b.description)
    for keys, what in EXTRA_KEYS:
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and what they do; any of Escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close help")]

    def __init__(self, bindings: Iterable[Binding]) -> None:
        super().__init__()
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[b]r8-tui keys[/]  (Escape closes)\n")
            yield Static(key_table(self.bindings))

    def action_close(self) -> None:
        self.dismiss(None)
