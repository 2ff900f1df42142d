"""What every screen (tab) of the app has in common."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from engine import format as fmt
from tui.messages import JobFn, StageFailed
from tui.widgets.table import R8Table

if TYPE_CHECKING:
    from tui.app import R8App


class Pane(Vertical):
    """One screen of the app. ``refresh_data`` starts the jobs the current state needs."""

    @property
    def r8(self) -> R8App:
        return self.app  # type: ignore[return-value]

    def refresh_data(self) -> None:
        """Show what the app's state (variant, input, view) asks for, loading what is missing."""

    def start(self, stage: str, key: Hashable, fn: JobFn, label: str) -> None:
        """Start a job (a retry clears the banner of the cancelled or failed one)."""
        self.show_message("")
        self.r8.start_job(self, stage, key, fn, label)

    @property
    def is_active(self) -> bool:
        return self.r8.tabs.active == (self.id or "").removesuffix("-pane")

    def focus_if_active(self, widget: Widget) -> None:
        """Focus ``widget`` unless another tab is shown (focus would switch tabs)."""
        if self.is_active:
            widget.focus()

    def focus_default(self) -> None:
        """Focus the pane's first focusable widget (the tree or the main table); keys typed
        meanwhile wait for it (tui.type_ahead)."""
        first = next((w for w in self.query("*") if w.focusable), None)
        if first is not None:
            self.r8.expect_focus_in(first)
            first.focus()

    def tables(self) -> list[R8Table]:
        return list(self.query(R8Table))

    def table_in_view(self) -> R8Table | None:
        """The focused table, else the first one with rows."""
        focused = self.app.focused
        if isinstance(focused, R8Table) and focused in self.tables():
            return focused
        return next((t for t in self.tables() if t.values), None)

    def show_message(self, text: str) -> None:
        """An in-place message (errors with their fix); empty hides it."""
        msg = self.query_one(".pane-message", Static)
        msg.update(text)
        msg.display = bool(text)

    def on_stage_failed(self, event: StageFailed) -> None:
        prefix = "Cancelled" if event.cancelled else "Error"
        hint = " — press r to retry" if event.cancelled else ""
        self.show_message(f"{prefix}: {event.message}{hint}")


pct = fmt.pct
"""Percentages as everywhere (engine.format.pct)."""


SHORT_CLASS = 5
"""Letters of a class name where columns are narrow (``autom``): confusion and logits
headers, tie marks, top-3."""


def short_class(name: str) -> str:
    return name[:SHORT_CLASS]


def top_k(probs: Any, k: int = 3) -> list[tuple[int, float]]:
    """The k most probable classes; on a tie the lower class index first, as argmax."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]
