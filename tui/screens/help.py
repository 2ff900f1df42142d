"""Help: the keys of the current screen first, then every other key, generated from the
bindings themselves (so help and behaviour agree)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter"}
EXTRA_KEYS = (
    ("↑ ↓  j k", "move in the tree and the tables"),
    ("g G", "first / last row of the tree or table"),
    ("← →  h l", "collapse / expand a block in the layer tree"),
    ("s S", "sort a table by the next column / reverse it"),
    ("Tab  Shift+Tab", "move between panes"),
    ("Enter", "open the selected flipped image (Accuracy screen)"),
    ("Esc", "clear the find, else cancel the running job"),
    ("Ctrl+P", "command palette: every action by name"),
)


def key_names(binding: Binding) -> str:
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in binding.key.split(","))


def key_table(bindings: Iterable[Binding], extra: Iterable[tuple[str, str]] = ()) -> Table:
    """One row per action (keys of the same action together), then ``extra`` rows."""
    table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    table.add_column(style="bold cyan", no_wrap=True, min_width=12)
    table.add_column()
    keys: dict[str, list[str]] = {}
    for b in bindings:
        if b.description:
            keys.setdefault(b.description, [])
            if key_names(b) not in keys[b.description]:
                keys[b.description].append(key_names(b))
    for description, names in keys.items():
        table.add_row(" ".join(names), description)
    for k, what in extra:
        table.add_row(k, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys and what they do; Escape, q or ? closes it, j/k scroll."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close help"),
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
        Binding("g", "scroll_edge(0)", "Top", show=False),
        Binding("G", "scroll_edge(1)", "Bottom", show=False),
    ]

    def __init__(self, here: Iterable[Binding], screen: str = "",
                 everything: Iterable[Binding] = ()) -> None:
        super().__init__()
        self.here = [b for b in here if b.action != "close"]
        self.screen_name = screen
        seen = {b.description for b in self.here}
        self.others = [b for b in everything if b.description not in seen]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text.from_markup(
                f"[b]Keys on the {self.screen_name} screen[/]  (j/k scroll, Esc closes)")
                if self.screen_name else Text.from_markup("[b]r8-tui keys[/]"))
            yield Static(key_table(self.here), id="help-here")
            yield Static(Text.from_markup("\n[b]Everywhere else[/]"))
            yield Static(key_table(self.others, EXTRA_KEYS), id="help-all")

    @property
    def box(self) -> VerticalScroll:
        return self.query_one("#help-box", VerticalScroll)

    def action_scroll(self, lines: int) -> None:
        self.box.scroll_relative(y=lines, animate=False)

    def action_scroll_edge(self, bottom: int) -> None:
        if bottom:
            self.box.scroll_end(animate=False)
        else:
            self.box.scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
