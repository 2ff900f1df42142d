"""The footer: the keys that work here, the ones that matter most first, so that at 80
columns what is cut at the right edge is what every screen has (and help lists).

Textual's Footer lists the focused widget's keys, then its panes', then the app's, in that
order, and cuts the line at the right edge: with a screen's own keys in front, ``? Help`` and
``q Quit`` were the ones cut. Here the order is: the focused panel's and the screen's own
keys, then ``?`` and ``q``, then the app's other keys (screens, variant, input, find).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup

FIRST_APP_ACTIONS = ("help", "quit")
"""App actions shown right after the screen's own keys."""


class R8FooterKey(FooterKey):
    """A footer key that starts as the footer is (not compact).

    Textual's FooterKey starts compact and is then bound to the footer's ``compact``: each
    key added the ``-compact`` class and removed it again as it mounted, two style updates
    per key, ~0.4 s of the first paint for five footer builds of 15 keys."""

    compact = reactive(False)


class R8Footer(Footer):
    """Footer with the screen's keys, then Help and Quit, then the app's other keys.

    It is rebuilt only when what it shows changes: Textual recomposes a footer on every
    bindings update (each focus change, each refresh_bindings), and at start-up those
    rebuilds of ~15 keys each were most of the first paint's time."""

    _shown: tuple[tuple[object, ...], ...] | None = None
    """What the last compose showed (key, action, description, enabled, tooltip)."""

    def signature(self) -> tuple[tuple[object, ...], ...]:
        return tuple((b.key, b.action, b.description, enabled, tooltip)
                     for b, enabled, tooltip in self.ordered_bindings())

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and self.signature() != self._shown:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        # several updates queue a rebuild before the first one runs: it was rebuilt for each
        if self.is_attached and self.signature() != self._shown:
            await self.recompose()

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

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._shown = self.signature()
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for binding, enabled, tooltip in self.ordered_bindings():
            by_action[binding.action].append((binding, enabled, tooltip))
        self.styles.grid_size_columns = len(by_action)
        for group, items in groupby(by_action.values(), lambda b: b[0][0].group):
            entries = list(items)
            if group is not None and len(entries) > 1:
                with KeyGroup(classes="-compact" if group.compact else ""):
                    for binding, enabled, tooltip in (e[0] for e in entries):
                        yield R8FooterKey(binding.key, self.app.get_key_display(binding), "",
                                        binding.action, disabled=not enabled,
                                        tooltip=tooltip or binding.description,
                                        classes="-grouped").data_bind(compact=Footer.compact)
                yield FooterLabel(group.description)
                continue
            for binding, enabled, tooltip in (e[0] for e in entries):
                yield R8FooterKey(binding.key, self.app.get_key_display(binding),
                                binding.description, binding.action, disabled=not enabled,
                                tooltip=tooltip).data_bind(compact=Footer.compact)
