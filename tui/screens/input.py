"""Input screen: one test image (or a seeded random input) and every variant's prediction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from engine.logits import has_logits
from engine.ties import tie_broken_argmax
from engine.types import CLASS_NAMES
from tui.messages import LogitsLoaded, PredictionsLoaded
from tui.screens.base import Pane, short_class, top_k
from tui.screens.flipped import repaint_measured
from tui.session import InputLogits, InputPredictions
from tui.widgets.image_view import ImageView
from tui.widgets.table import R8Table
from tui.widgets.zoomable import Zoomable

PREDICTION_HEADER = ("variant", "prediction", "p", "correct", "tie", "top-3")
WIDE_AT = 100
"""From this many columns the predictions table shows tie and top-3 (else on z)."""


def class_name(i: int) -> str:
    return CLASS_NAMES[i] if 0 <= i < len(CLASS_NAMES) else "random"


def tie_mark(probs: np.ndarray, logits: np.ndarray | None) -> str:
    """'' unless the two highest probabilities are equal (argmax then took the lowest class
    index): the tied classes, and the class the logits rank first where that differs."""
    tied = np.flatnonzero(probs == probs.max())
    if len(tied) < 2:
        return ""
    mark = "tie " + "=".join(short_class(class_name(int(c))) for c in tied)
    if logits is not None:
        broken = int(tie_broken_argmax(probs[None], logits[None])[0])
        if broken != int(tied[0]):
            mark += f", logits: {class_name(broken)}"
    return mark


def prediction_rows(preds: InputPredictions, row: int = 0,
                    logits: InputLogits | None = None) -> list[list[Any]]:
    """variant, predicted class, probability, correct, tie, top-3 — for image ``row``."""
    label = int(preds.labels[row]) if len(preds.labels) else -1
    out: list[list[Any]] = []
    for variant, probs in preds.probs.items():
        best = top_k(probs[row])
        ok = "" if label < 0 else ("yes" if best[0][0] == label else "NO")
        top3 = "  ".join(f"{class_name(c)} {p:.2f}" for c, p in best)
        found = logits.logits.get(variant) if logits is not None else None
        tie = tie_mark(probs[row], found.logits[row] if found is not None else None)
        out.append([variant, class_name(best[0][0]), best[0][1], ok, tie, top3])
    for variant, err in preds.errors.items():
        out.append([variant, "-", None, "", "", f"error: {err}"])
    return out


def short_classes(text: str | None) -> str:
    """Class names in a cell cut as the logits table's headers are (the
    exported value keeps them whole)."""
    if text is None:
        return "-"
    for name in CLASS_NAMES:
        text = text.replace(f"{name} ", f"{short_class(name)} ")
    return text


def logit_rows(logits: InputLogits, row: int = 0,
               classes: Sequence[int] = range(len(CLASS_NAMES))) -> list[list[Any]]:
    """variant, then its logits of ``classes`` for image ``row``; a variant without logits
    (keras: probabilities only) has no row, the table's subtitle says so."""
    return [[variant, *(float(found.logits[row][c]) for c in classes)]
            for variant, found in logits.logits.items()]


def deciding_classes(logits: InputLogits, row: int, label: int, k: int) -> list[int]:
    """At most ``k`` classes, in class order: the ones that decide this image. The true class
    first, then every variant's first choice, then every variant's second, and so on."""
    chosen = [label] if label >= 0 else []
    ranks = [np.argsort(-found.logits[row], kind="stable") for found in logits.logits.values()]
    for depth in range(len(CLASS_NAMES)):
        for order in ranks:
            if len(chosen) >= k:
                return sorted(chosen)
            if int(order[depth]) not in chosen:
                chosen.append(int(order[depth]))
    return sorted(chosen[:k])


NAME_CELLS = 13
"""Cells of the logits table's variant column (``onnx-uint8`` and padding) and border."""
LOGIT_CELLS = 7
"""Cells of one logit column (``-10.6`` and padding)."""


def logit_text(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


class InputPane(Pane):
    """Image | label and predictions."""

    BINDINGS = [
        Binding("t", "pin", "Pin"),
        Binding("z", "zoom", "Zoom"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shown: InputPredictions | None = None
        self.position = 0
        self.logits: InputLogits | None = None
        """Every variant's logits on the shown input (once loaded)."""
        """The image of ``shown`` on screen (n/p walk a set of images)."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="input-body"):
            with Vertical(id="input-left"):
                yield Static("", id="input-label")
                yield ImageView(id="input-image")
            with Vertical(id="input-right"):
                with Zoomable(id="input-predictions-box"):
                    yield R8Table("predictions", id="input-predictions", title="predictions")
                with Zoomable(id="input-logits-box"):
                    yield R8Table("logits", id="input-logits",
                                  title="logits (before softmax; z full screen)")

    @property
    def image(self) -> ImageView:
        return self.query_one(ImageView)

    @property
    def label(self) -> Static:
        return self.query_one("#input-label", Static)

    @property
    def table(self) -> R8Table:
        return self.query_one("#input-predictions", R8Table)

    @property
    def logits_table(self) -> R8Table:
        return self.query_one("#input-logits", R8Table)

    def on_mount(self) -> None:
        self.watch(self.screen, "maximized", lambda _: self.reshow(), init=False)

    def on_resize(self) -> None:
        if self.shown is not None and self.narrow != (len(self.table.header) < len(PREDICTION_HEADER)):
            self.show(self.shown)

    def reshow(self) -> None:
        """Show the shown input again (zoomed or narrowed: other columns)."""
        if self.shown is not None:
            self.show(self.shown)

    @property
    def narrow(self) -> bool:
        """Below WIDE_AT columns, unzoomed: the predictions table leaves out tie and top-3."""
        return self.app.size.width < WIDE_AT and self.screen.maximized is None

    def refresh_data(self) -> None:
        text = self.r8.input_text
        if self.shown is not None and self.shown.input == text:
            if self.position != self.r8.session.set_position(text):
                self.show(self.shown)  # n/p walked the set: its predictions are here already
            return
        session = self.r8.session
        self.label.update(f"{text}\nloading…")
        # nothing of the previous input stays under "loading…"
        self.image.show(None)
        self.table.show_loading(f"predictions of {text}: loading…")
        self.logits_table.show_loading("logits: loading…")
        self.start("predictions", text,
                   lambda p, c: PredictionsLoaded(session.predictions(text, p, c)),
                   f"predicting {text} with {len(session.variants)} variants")

    def on_predictions_loaded(self, event: PredictionsLoaded) -> None:
        if event.key != self.r8.input_text:
            return  # the input changed since: a newer job is on its way
        self.show_message("")
        self.logits = None
        self.show(event.predictions)
        session, text = self.r8.session, event.predictions.input
        self.start("logits", text, lambda p, c: LogitsLoaded(session.logits(text, p, c)),
                   f"logits of {text} in {len(session.variants)} variants")

    def on_logits_loaded(self, event: LogitsLoaded) -> None:
        if self.shown is None or event.key != self.shown.input:
            return
        self.logits = event.logits
        self.show(self.shown)

    @property
    def shown_image(self) -> str | None:
        """The single image shown, as an input spec (``test:N`` or the random input)."""
        if self.shown is None:
            return None
        index = int(self.shown.indices[self.position]) if len(self.shown.indices) else -1
        return f"test:{index}" if index >= 0 else self.shown.input

    def show(self, preds: InputPredictions) -> None:
        self.shown = preds
        n = len(preds.images)
        row = self.position = min(self.r8.session.set_position(preds.input), max(0, n - 1))
        self.image.show(preds.images[row] if n else None)
        label = int(preds.labels[row]) if len(preds.labels) else -1
        index = int(preds.indices[row]) if len(preds.indices) else -1
        where = f"official test index {index}" if index >= 0 else "seeded random pixels"
        more = f" · {row + 1} of {n}" if n > 1 else ""
        self.label.update(f"[b]{preds.input}[/]{more}\n{where}\nlabel [b]{class_name(label)}[/]")
        rows = prediction_rows(preds, row, self.logits)
        fmts = [None, None, lambda v: "-" if v is None else f"{v:.3f}", None, None,
                short_classes]
        self.table.border_title = "predictions"
        if self.narrow:
            ties = [r[0] for r in rows if r[4]]
            self.table.border_subtitle = (f"tie in {', '.join(ties)}: z shows" if ties
                                          else "z: tie, top-3")
            self.table.load(PREDICTION_HEADER[:4], [r[:4] for r in rows], fmts[:4])
        else:
            self.table.border_subtitle = None
            self.table.load(list(PREDICTION_HEADER), rows, fmts)
        repaint_measured(self.table)
        if self.logits is None:
            self.logits_table.border_title = "logits: loading…"
            return
        label = int(preds.labels[row]) if len(preds.labels) else -1
        true = f"; true class {class_name(label)}" if label >= 0 else ""
        classes: Sequence[int] = range(len(CLASS_NAMES))
        if self.narrow:  # the classes that fit, the ones that decide this image first
            fit = max(2, (self.logits_table.content_size.width - NAME_CELLS) // LOGIT_CELLS)
            if fit < len(CLASS_NAMES):
                classes = deciding_classes(self.logits, row, label, fit)
        every = len(classes) == len(CLASS_NAMES)
        self.logits_table.border_title = (f"logits before softmax{true} (z full screen)"
                                          if every else f"logits{true} (z: all 10)")
        self.logits_table.load(["variant", *(short_class(CLASS_NAMES[c]) for c in classes)],
                               logit_rows(self.logits, row, classes),
                               [None, *([logit_text] * len(classes))])
        repaint_measured(self.logits_table)
        self.logits_table.border_subtitle = "; ".join(
            f"{v}: probabilities only" if not has_logits(v) else f"{v}: no logits"
            for v in self.logits.errors) or None

    def action_zoom(self) -> None:
        """The focused table full-screen (Escape or z restores the layout)."""
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        focused = self.app.focused
        target = focused if focused in self.tables() else self.table
        target.focus()
        self.screen.maximize(target)

    def action_pin(self) -> None:
        text = self.shown_image
        if text is None:
            self.notify("no image shown yet; wait for it, then press t", severity="warning")
            return
        self.r8.session.pin_input(text)
        self.notify(f"pinned {text}: flipped images are set against it (Accuracy, Enter)",
                    timeout=4)
