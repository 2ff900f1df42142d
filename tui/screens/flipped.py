"""The flipped-image browser: images one variant gets right and the float baseline wrong (or
the reverse), filtered, and one image's layer-by-layer error next to a pinned typical image's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from engine.types import CLASS_NAMES
from tui.messages import FlipDetailLoaded, StageFailed
from tui.widgets.footer import R8Footer
from tui.widgets.image_view import ImageView
from tui.widgets.table import R8Table

if TYPE_CHECKING:
    from engine.report import VariantRow, VariantsReport
    from tui.app import R8App
    from tui.session import FlipDetail

CHANGES = ("all", "lost", "gained")
"""lost: the baseline right, the variant wrong; gained: the reverse."""
FLIP_HEADER = ["index", "change", "label", "float", "p float", "int8", "p int8", "margin"]
"""The browser's columns (``int8``: the variant's prediction; margin: its top-1 minus top-2
probability, 0 where a tie decided the class)."""


@dataclass(frozen=True)
class FlipFilter:
    """Which flipped images the browser lists."""

    change: str = "all"
    """One of CHANGES."""
    label: int = -1
    """Only images of this true class (-1: every class)."""
    not_in: str | None = None
    """Leave out the images that also flipped in this other variant."""

    def describe(self) -> str:
        parts = [self.change if self.change != "all" else "lost+gained"]
        if self.label >= 0:
            parts.append(f"class {CLASS_NAMES[self.label]}")
        if self.not_in:
            parts.append(f"not flipped in {self.not_in}")
        return " · ".join(parts)


def flipped_set(row: VariantRow) -> set[int]:
    """Official indices whose correctness differs between the baseline and ``row``'s variant."""
    return set(row.float_right_variant_wrong) | set(row.float_wrong_variant_right)


def flipped_indices(report: VariantsReport, variant: str, labels: dict[int, int],
                    flt: FlipFilter) -> list[tuple[int, str]]:
    """(official index, lost|gained) of ``variant``'s flips that pass ``flt``, in index order."""
    rows = {r.variant: r for r in report.rows}
    row = rows[variant]
    other = flipped_set(rows[flt.not_in]) if flt.not_in in rows else set()
    out: list[tuple[int, str]] = []
    for kind, indices in (("lost", row.float_right_variant_wrong),
                          ("gained", row.float_wrong_variant_right)):
        if flt.change not in ("all", kind):
            continue
        out.extend((int(i), kind) for i in indices
                   if (flt.label < 0 or labels.get(int(i), -1) == flt.label)
                   and int(i) not in other)
    return sorted(out)


def top2(p: np.ndarray) -> tuple[int, float, float]:
    """(argmax, its probability, top-1 minus top-2 probability)."""
    order = np.argsort(-p, kind="stable")
    return int(order[0]), float(p[order[0]]), float(p[order[0]] - p[order[1]])


def flip_rows(flips: Sequence[tuple[int, str]], labels: dict[int, int], base: np.ndarray,
              probs: np.ndarray, rows: dict[int, int]) -> list[list[Any]]:
    """One browser row per flip: label, float prediction and probability, the variant's
    prediction, probability and margin (``base``/``probs``: (N, 10), rows as ``rows``)."""
    out: list[list[Any]] = []
    for index, kind in flips:
        r = rows[index]
        fc, fp, _ = top2(base[r])
        qc, qp, margin = top2(probs[r])
        label = labels.get(index, -1)
        out.append([index, kind, CLASS_NAMES[label] if label >= 0 else "-", CLASS_NAMES[fc],
                    fp, CLASS_NAMES[qc], qp, margin])
    return out


def next_filter(flt: FlipFilter, what: str, others: Sequence[str]) -> FlipFilter:
    """``flt`` with its change, class or not-in variant stepped to the next choice."""
    if what == "change":
        return replace(flt, change=CHANGES[(CHANGES.index(flt.change) + 1) % len(CHANGES)])
    if what == "label":
        return replace(flt, label=flt.label + 1 if flt.label + 1 < len(CLASS_NAMES) else -1)
    choices: list[str | None] = [None, *others]
    at = choices.index(flt.not_in) if flt.not_in in choices else 0
    return replace(flt, not_in=choices[(at + 1) % len(choices)])


def layer_error_rows(detail: FlipDetail) -> list[list[Any]]:
    """layer, SQNR dB of the image, of the pinned image, and the difference (image - pinned)."""
    typical = {x.name: x.diff.sqnr_db for x in detail.typical.layers}
    out: list[list[Any]] = []
    for x in detail.this.layers:
        here, there = x.diff.sqnr_db, typical.get(x.name, math.nan)
        out.append([x.name, here, there, here - there])
    return out


MEASURE_S = 0.2
"""When a table just loaded has surely measured its rows (DataTable does so on idle)."""


def repaint_measured(table: R8Table) -> None:
    """Repaint ``table`` once DataTable has measured its new rows: a paint before that keeps
    the header's column widths (class names cut to 5 letters) in DataTable's row cache."""
    table.set_timer(MEASURE_S, table.notify_style_update)


def db(v: float) -> str:
    return "-" if v is None or math.isnan(v) else ("inf" if math.isinf(v) else f"{v:.1f}")


def signed_db(v: float) -> str:
    return "-" if v is None or math.isnan(v) or math.isinf(v) else f"{v:+.1f}"


class FlipScreen(Screen[None]):
    """One flipped image: its pixels and predictions, and float against the variant layer by
    layer beside the pinned typical image (Δ dB: this image minus the typical one)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("n", "step(1)", "Next flip"),
        Binding("p", "step(-1)", "Previous flip"),
        Binding("t", "pin", "Pin as typical"),
        Binding("o", "open_input", "Input screen"),
    ]

    def __init__(self, variant: str, flips: Sequence[list[Any]], at: int) -> None:
        super().__init__()
        self.variant = variant
        self.flips = list(flips)
        """Browser rows (FLIP_HEADER) the screen walks with n/p."""
        self.at = at
        self.detail: FlipDetail | None = None

    @property
    def r8(self) -> R8App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="flip-body"):
            with Vertical(id="flip-left"):
                yield Static("", id="flip-label")
                yield ImageView(id="flip-image")
            with Vertical(id="flip-right"):
                yield Static("", id="flip-title")
                yield R8Table("flip-layers", id="flip-layers", title="layer by layer")
        yield R8Footer()

    @property
    def table(self) -> R8Table:
        return self.query_one("#flip-layers", R8Table)

    @property
    def input_text(self) -> str:
        return f"test:{self.flips[self.at][0]}"

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    def load(self) -> None:
        index, kind, label, fpred, fp, qpred, qp, margin = self.flips[self.at]
        self.query_one("#flip-label", Static).update(
            f"[b]test:{index}[/] ({self.at + 1} of {len(self.flips)}) {kind}\n"
            f"label [b]{label}[/]\nfloat {fpred} {fp:.3f}\n→ {self.variant} {qpred} {qp:.3f}\n"
            f"margin {margin:.3f}{'  (a tie)' if margin == 0 else ''}")
        session, variant, text = self.r8.session, self.variant, self.input_text
        self.query_one("#flip-title", Static).update(
            f"loading {text} and the pinned {session.pinned_input}…")
        self.r8.start_job(self, "flip-detail", (variant, text, session.pinned_input),
                          lambda p, c: FlipDetailLoaded(session.flip_detail(variant, text, p, c)),
                          f"comparing {text} layer by layer")

    def on_flip_detail_loaded(self, event: FlipDetailLoaded) -> None:
        d = event.detail
        if d.input != self.input_text:
            return
        self.detail = d
        self.query_one(ImageView).show(d.image)
        self.query_one("#flip-title", Static).update(
            f"SQNR dB, {d.reference} against {d.variant} (accumulated): [b]{d.input}[/] and "
            f"the pinned [b]{d.pinned}[/] (t pins this image)")
        self.table.load(["layer", "dB", "pinned", "Δ dB"], layer_error_rows(d),
                        [None, db, db, signed_db])
        repaint_measured(self.table)

    def on_stage_failed(self, event: StageFailed) -> None:
        prefix = "Cancelled" if event.cancelled else "Error"
        self.query_one("#flip-title", Static).update(f"[red]{prefix}: {event.message}[/]")

    def action_step(self, step: int) -> None:
        self.at = (self.at + step) % len(self.flips)
        self.load()

    def action_pin(self) -> None:
        self.r8.session.pin_input(self.input_text)
        self.notify(f"pinned {self.input_text} as the typical image", timeout=3)
        self.load()

    def action_open_input(self) -> None:
        text = self.input_text
        self.app.pop_screen()
        self.r8.open_input(text)
