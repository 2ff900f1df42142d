"""The footer: the keys that work here, the ones that matter most first, so that at 80
columns what is cut at the right edge is what every screen has (and help lists).

Textual's Footer lists the focused widget's keys, then its panes', then the app's, in that
order, and cuts the line at the right edge: with a screen's own keys in front, ``? Help`` and
``q Quit`` were the ones cut. Here the order is: the focused panel's and the screen's own
keys, then ``?`` and ``q``, then the app's other keys (screens, variant, input, find).

It is one widget that draws one line. Textual's Footer is a widget per key (15 here, plus
groups and labels), restyled and laid out on every rebuild: at start-up that was ~0.2 s of
CPU of the first paint (issue 14), on top of every focus change after it. A key that does not
fit is left out whole, never cut.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

FIRST_APP_ACTIONS = ("help", "quit")
"""App actions shown right after the screen's own keys."""


@dataclass(frozen=True)
class FooterEntry:
    """One item of the footer: ``12345 Screen`` (a compact group) or ``v Variant``."""

    keys: tuple[str, ...]
    """The keys to press (a group: one per display character run, in order)."""
    key_display: tuple[str, ...]
    description: str
    enabled: bool

    @property
    def key_text(self) -> str:
        return "".join(self.key_display)


class R8Footer(Widget):
    """The screen's keys, then Help and Quit, then the app's other keys, on one line."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer--key", "footer--description"}
    DEFAULT_CSS = """
    R8Footer {
        dock: bottom; height: 1; width: 1fr;
        color: $footer-foreground; background: $footer-background;
        .footer--key { color: $footer-key-foreground; background: $footer-key-background;
                       text-style: bold; }
        .footer--description { color: $footer-description-foreground; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: tuple[FooterEntry, ...] = ()
        self._spans: list[tuple[int, int, str, bool]] = []
        """(x from, x to, key, enabled) of what was drawn: a key with its description, or
        one key of a group."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        entries = tuple(self.make_entries())
        if entries != self.entries:
            self.entries = entries
            self.refresh()

    def ordered_bindings(self) -> list[tuple[Binding, bool, str]]:
        app = self.app
        own, first, rest = [], [], []
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show:
                continue
            entry = (binding, enabled, tooltip)
            if node is not app:
                own.append(entry)
            elif binding.action in FIRST_APP_ACTIONS:
                first.append(entry)
            else:
                rest.append(entry)
        return own + first + rest

    def make_entries(self) -> list[FooterEntry]:
        """One entry per action (its first binding); the actions of a compact group with
        more than one shown are one entry: their keys together, then the group's name."""
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for binding, enabled, tooltip in self.ordered_bindings():
            by_action[binding.action].append((binding, enabled, tooltip))
        out: list[FooterEntry] = []
        display = self.app.get_key_display
        for group, items in groupby(by_action.values(), lambda b: b[0][0].group):
            firsts = [b[0] for b in items]
            if group is not None and len(firsts) > 1:
                out.append(FooterEntry(tuple(b.key for b, _, _ in firsts),
                                       tuple(display(b) for b, _, _ in firsts),
                                       group.description, any(e for _, e, _ in firsts)))
                continue
            out.extend(FooterEntry((b.key,), (display(b),), b.description, enabled)
                       for b, enabled, _ in firsts)
        return out

    def render(self) -> Text:
        key_style = self.get_component_rich_style("footer--key")
        desc_style = self.get_component_rich_style("footer--description")
        dim = Style(dim=True)
        width = self.size.width
        text = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, str, bool]] = []
        for entry in self.entries:
            piece = len(entry.key_text) + (1 + len(entry.description) if entry.description
                                           else 0)
            if text.cell_len + 1 + piece > width:
                break  # whole keys only: the ones that matter most came first
            text.append(" ")
            start = text.cell_len
            keys, desc = (key_style, desc_style) if entry.enabled else \
                (key_style + dim, desc_style + dim)
            for key, shown in zip(entry.keys, entry.key_display, strict=True):
                x = text.cell_len
                text.append(shown, keys)
                if len(entry.keys) > 1:
                    spans.append((x, text.cell_len, key, entry.enabled))
            if entry.description:
                text.append(" ")
                text.append(entry.description, desc)
            if len(entry.keys) == 1:
                spans.append((start, text.cell_len, entry.keys[0], entry.enabled))
            text.append(" ")
        self._spans = spans
        return text

    def on_click(self, event: events.Click) -> None:
        """A click on a key (or its description) presses it; each key of a group its own."""
        for x0, x1, key, enabled in self._spans:
            if x0 <= event.x < x1:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
