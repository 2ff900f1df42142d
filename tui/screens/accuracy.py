"""Accuracy screen: every variant against the float baseline, per class, confusion, flips."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from engine import format as fmt
from engine.types import CLASS_NAMES, ProgressFn
from tui.messages import ReportLoaded
from tui.screens.base import Pane, pct
from tui.widgets.table import R8Table

if TYPE_CHECKING:
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


def flipped_rows(row: Any, labels: dict[int, int]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for kind, indices in (("lost", row.float_right_variant_wrong),
                          ("gained", row.float_wrong_variant_right)):
        for idx in indices:
            label = labels.get(int(idx), -1)
            out.append([int(idx), kind, CLASS_NAMES[label] if label >= 0 else "-"])
    return out


class AccuracyPane(Pane):
    """Variants table; per-class bars | confusion matrix and flipped images of the selection."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report: VariantsReport | None = None
        self.labels: dict[int, int] = {}

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        yield Static("", id="accuracy-title")
        yield R8Table("variants", id="accuracy-variants")
        with Horizontal(id="accuracy-bottom"):
            yield R8Table("per-class", id="accuracy-per-class", title="per class")
            with Vertical(id="accuracy-right"):
                yield R8Table("confusion", id="accuracy-confusion",
                              title="confusion (rows true)")
                yield R8Table("flipped", id="accuracy-flipped",
                              title="flipped vs float (Enter opens)")

    @property
    def variants_table(self) -> R8Table:
        return self.query_one("#accuracy-variants", R8Table)

    @property
    def flipped_table(self) -> R8Table:
        return self.query_one("#accuracy-flipped", R8Table)

    def refresh_data(self) -> None:
        if self.report is not None:
            row = next((i for i, r in enumerate(self.report.rows)
                        if r.variant == self.r8.variant), None)
            shown = self.variants_table.shown_row(row) if row is not None else None
            if shown is not None and shown != self.variants_table.cursor_row:
                self.variants_table.move_cursor(row=shown)
            return
        session = self.r8.session

        subset = session.subset

        def job(p: ProgressFn, c: threading.Event) -> ReportLoaded:
            return ReportLoaded(subset, session.report(p, c), session.test_labels())

        self.query_one("#accuracy-title", Static).update(
            f"evaluating {len(session.variants)} variants on {session.subset}…")
        self.start("accuracy", session.subset, job, f"evaluating variants on {session.subset}")

    def on_report_loaded(self, event: ReportLoaded) -> None:
        self.show_message("")
        self.report, self.labels = event.report, event.labels
        rep = self.report
        notes = f"  [dim]{'; '.join(rep.notes)}[/]" if rep.notes else ""
        self.query_one("#accuracy-title", Static).update(
            f"[b]{rep.dataset}[/] ({rep.size} images), baseline [b]{rep.baseline}[/]{notes}")
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
        per_class = self.query_one("#accuracy-per-class", R8Table)
        per_class.border_title = f"{row.variant}: per class"
        confusion = self.query_one("#accuracy-confusion", R8Table)
        confusion.border_title = f"{row.variant}: confusion (rows true)"
        per_class.load(
            ["class", "accuracy", "Δ", "bar"], per_class_rows(self.report, row),
            [None, pct, lambda v: f"{v:+.1f}", None])
        confusion.load(
            ["true", *(c[:5] for c in CLASS_NAMES)], confusion_rows(self.report, row.variant))
        flipped = self.flipped_table
        flipped.border_title = f"{row.variant} vs {self.report.baseline}: flipped (Enter opens)"
        flipped.load(["index", "change", "label"], flipped_rows(row, self.labels))

    @on(DataTable.RowSelected, "#accuracy-flipped")
    def _open_flipped(self, event: DataTable.RowSelected) -> None:
        row = self.flipped_table.selected_row()
        if row is not None:
            self.r8.open_input(f"test:{row[0]}")
