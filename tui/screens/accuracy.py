"""Accuracy screen: every variant against the float baseline, per class, confusion, flips."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from engine import format as fmt
from engine.types import CLASS_NAMES, ProgressFn
from tui.messages import AccuracyLoaded
from tui.screens.base import Pane, pct, short_class
from tui.screens.flipped import (
    FLIP_HEADER,
    FlipFilter,
    FlipScreen,
    flip_rows,
    flipped_indices,
    next_filter,
    repaint_measured,
)
from tui.widgets.table import R8Table
from tui.widgets.zoomable import Zoomable

if TYPE_CHECKING:
    import numpy as np
    from textual.events import Resize

    from engine.report import VariantsReport

BAR_WIDTH = 8


size_text = fmt.size


def bar(frac: float) -> str:
    full = 0 if fmt.missing(frac) else max(0, min(BAR_WIDTH, round(frac * BAR_WIDTH)))
    return "█" * full + "·" * (BAR_WIDTH - full)


def variant_rows(rep: Any) -> list[list[Any]]:
    return [[r.variant, r.accuracy, r.delta_points, r.size_bytes, r.agreement_with_float,
             len(r.float_right_variant_wrong) + len(r.float_wrong_variant_right)]
            for r in rep.rows]


def per_class_rows(rep: Any, row: Any) -> list[list[Any]]:
    acc = rep.reports[row.variant]
    out = []
    for i, name in enumerate(CLASS_NAMES):
        frac = acc.per_class_accuracy[i]
        out.append([name, frac, row.per_class_delta[i], bar(frac)])
    return out


def confusion_rows(rep: Any, variant: str) -> list[list[Any]]:
    acc = rep.reports[variant]
    return [[name, *acc.confusion[i]] for i, name in enumerate(CLASS_NAMES)]


PANELS = ("flipped", "per-class", "confusion")
"""The panels under the variants table; a narrow screen shows one at a time (d steps), a
wide one the browser and one of the others."""
WIDE = (120, 32)
"""From this size (columns, rows) the browser shows beside per-class or confusion."""
RIGHT_WIDTH = {"per-class": 40, "confusion": 74}
"""Columns of the panel beside the browser on a wide screen."""


class AccuracyPane(Pane):
    """Variants table; under it the flipped-image browser, per-class bars and the confusion
    matrix of the selected variant (side by side when wide, one at a time when narrow)."""

    BINDINGS = [
        Binding("d", "next_panel", "Panel"),
        Binding("z", "zoom", "Zoom"),
        Binding("f", "filter('change')", "Lost/gained", show=False),  # named on the filter line
        Binding("c", "filter('label')", "Class filter", show=False),
        Binding("b", "filter('not_in')", "Not flipped in", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report: VariantsReport | None = None
        self.labels: dict[int, int] = {}
        self.probs: dict[str, np.ndarray] = {}
        self.rows: dict[int, int] = {}
        self.variant: str | None = None
        """The variant whose per-class and confusion panels are shown (the table's cursor)."""
        self.browsed: str | None = None
        """The variant whose flips the browser shows: ``variant`` when it is int8, else the
        session's first int8 variant (a float variant barely flips against the baseline)."""
        self.panel = PANELS[0]
        """The panel a narrow screen shows."""
        self.filter = FlipFilter()

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        yield Static("", id="accuracy-title")
        yield Static("", id="accuracy-notes")
        yield R8Table("variants", id="accuracy-variants")
        with Horizontal(id="accuracy-bottom"):
            with Zoomable(id="accuracy-flips"):
                yield Static("", id="accuracy-filter")
                yield R8Table("flipped", id="accuracy-flipped",
                              title="flipped vs float (Enter opens)")
            with Vertical(id="accuracy-right"):
                with Zoomable(id="accuracy-per-class-box"):
                    yield R8Table("per-class", id="accuracy-per-class", title="per class")
                with Zoomable(id="accuracy-confusion-box"):
                    yield R8Table("confusion", id="accuracy-confusion",
                                  title="confusion (rows true)")

    @property
    def variants_table(self) -> R8Table:
        return self.query_one("#accuracy-variants", R8Table)

    @property
    def flipped_table(self) -> R8Table:
        return self.query_one("#accuracy-flipped", R8Table)

    @property
    def per_class_table(self) -> R8Table:
        return self.query_one("#accuracy-per-class", R8Table)

    @property
    def confusion_table(self) -> R8Table:
        return self.query_one("#accuracy-confusion", R8Table)

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE[0] and self.app.size.height >= WIDE[1]

    def on_resize(self, event: Resize) -> None:
        self.apply_layout()

    def apply_layout(self) -> None:
        """Wide: the browser beside per-class or confusion (d switches); narrow: the chosen
        panel alone, full width, and the notes on one line."""
        wide = self.wide
        right = "confusion" if self.panel == "confusion" else "per-class"
        self.query_one("#accuracy-flips").display = wide or self.panel == "flipped"
        self.query_one("#accuracy-per-class-box").display = \
            self.panel == "per-class" if not wide else right == "per-class"
        self.query_one("#accuracy-confusion-box").display = \
            self.panel == "confusion" if not wide else right == "confusion"
        box = self.query_one("#accuracy-right")
        box.display = wide or self.panel != "flipped"
        box.styles.width = (RIGHT_WIDTH[right] if wide else "1fr")
        self.set_class(not wide, "-narrow")

    def action_next_panel(self) -> None:
        self.panel = PANELS[(PANELS.index(self.panel) + 1) % len(PANELS)]
        self.apply_layout()
        table = {"flipped": self.flipped_table, "per-class": self.per_class_table,
                 "confusion": self.confusion_table}[self.panel]
        if table.display:
            table.focus()

    def action_zoom(self) -> None:
        """The focused panel full-screen (Escape or z again restores the layout)."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        focused = self.app.focused
        target = focused if focused is not None and focused is not self.variants_table \
            and focused in self.tables() else None
        if target is None:
            target = {"flipped": self.flipped_table, "per-class": self.per_class_table,
                      "confusion": self.confusion_table}[self.panel]
            target.focus()
        screen.maximize(target)

    def refresh_data(self) -> None:
        self.apply_layout()
        if self.report is not None:
            row = next((i for i, r in enumerate(self.report.rows)
                        if r.variant == self.r8.variant), None)
            shown = self.variants_table.shown_row(row) if row is not None else None
            if shown is not None and shown != self.variants_table.cursor_row:
                self.variants_table.move_cursor(row=shown)
            return
        session = self.r8.session

        subset = session.subset

        def job(p: ProgressFn, c: threading.Event) -> AccuracyLoaded:
            report = session.report(p, c)
            probs = session.all_test_probs(p, c)
            ordered, rows = session.official_order()
            return AccuracyLoaded(subset, report, session.test_labels(), probs,
                                  dict(zip(ordered.tolist(), rows.tolist(), strict=True)))

        self.query_one("#accuracy-title", Static).update(
            f"evaluating {len(session.variants)} variants on {session.subset}…")
        self.start("accuracy", session.subset, job, f"evaluating variants on {session.subset}")

    def on_accuracy_loaded(self, event: AccuracyLoaded) -> None:
        self.show_message("")
        self.report, self.labels = event.report, event.labels
        self.probs, self.rows = event.probs, event.rows
        rep = self.report
        self.query_one("#accuracy-title", Static).update(
            f"[b]{rep.dataset}[/] ({rep.size} images), baseline [b]{rep.baseline}[/]")
        self.query_one("#accuracy-notes", Static).update("; ".join(rep.notes))
        self.variants_table.load(
            ["variant", "accuracy", "Δ points", "size", "agreement", "flipped"],
            variant_rows(rep),
            [None, pct, lambda v: f"{v:+.2f}", size_text, pct, None])
        # the cursor starts on the variant the header names (the app's), else the first int8
        first = next((i for i, r in enumerate(rep.rows) if r.variant == self.r8.variant),
                     next((i for i, r in enumerate(rep.rows) if r.variant != rep.baseline), 0))
        self.focus_if_active(self.variants_table)
        self.variants_table.move_cursor(row=first)
        self.show_variant(first)

    @on(DataTable.RowHighlighted, "#accuracy-variants")
    def _variant_highlighted(self, event: DataTable.RowHighlighted) -> None:
        source = self.variants_table.source_row(event.cursor_row)  # the table may be sorted
        if source is not None:
            self.show_variant(source)

    def show_variant(self, index: int) -> None:
        if self.report is None or not 0 <= index < len(self.report.rows):
            return
        row = self.report.rows[index]
        self.variant = row.variant
        self.per_class_table.border_title = f"{row.variant}: per class"
        self.confusion_table.border_title = f"{row.variant}: confusion (rows true)"
        self.per_class_table.load(
            ["class", "accuracy", "Δ", "bar"], per_class_rows(self.report, row),
            [None, pct, lambda v: f"{v:+.1f}", None])
        self.confusion_table.load(
            ["true", *(short_class(c) for c in CLASS_NAMES)], confusion_rows(self.report, row.variant))
        repaint_measured(self.per_class_table)
        repaint_measured(self.confusion_table)
        self.browsed = self.browsed_variant(row.variant)
        if self.filter.not_in == self.browsed:
            self.filter = FlipFilter(self.filter.change, self.filter.label)
        self.show_flips()

    def browsed_variant(self, variant: str) -> str:
        """``variant`` if it is int8, else the first int8 variant of the report (else itself)."""
        session = self.r8.session
        if self.report is None or session.is_quantized(variant):
            return variant
        return next((r.variant for r in self.report.rows if session.is_quantized(r.variant)),
                    variant)

    def show_flips(self) -> None:
        """The flipped-image browser of the selected variant, filtered."""
        if self.report is None or self.variant is None or self.browsed is None:
            return
        rep, variant = self.report, self.browsed
        flips = flipped_indices(rep, variant, self.labels, self.filter)
        total = sum(len(r.float_right_variant_wrong) + len(r.float_wrong_variant_right)
                    for r in rep.rows if r.variant == variant)
        table = self.flipped_table
        why = (f" ({self.variant} float: first int8)" if variant != self.variant
               else " (Enter opens)")  # the note fits 80 columns; Enter is in the help
        table.border_title = (f"{variant} vs {rep.baseline}: {len(flips)} of {total} flipped"
                              f"{why}")
        self.query_one("#accuracy-filter", Static).update(
            f"[b]{self.filter.describe()}[/]  [dim]f lost/gained · c class · b not in · "
            "d panel · z zoom[/]")
        rows = (flip_rows(flips, self.labels, self.probs[rep.baseline], self.probs[variant],
                          self.rows) if rep.baseline in self.probs and variant in self.probs
                else [[i, kind, "-", "-", None, "-", None, None] for i, kind in flips])
        three = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        table.load(FLIP_HEADER, rows, [None, None, None, None, three, None, three, three])
        repaint_measured(table)

    def action_filter(self, what: str) -> None:
        if self.report is None or self.browsed is None:
            return
        others = [r.variant for r in self.report.rows
                  if r.variant not in (self.report.baseline, self.browsed)]
        self.filter = next_filter(self.filter, what, others)
        self.show_flips()

    @on(DataTable.RowSelected, "#accuracy-flipped")
    def _open_flipped(self, event: DataTable.RowSelected) -> None:
        table = self.flipped_table
        if table.selected_row() is not None and self.browsed is not None:
            self.app.push_screen(FlipScreen(self.browsed, table.values, table.cursor_row))
