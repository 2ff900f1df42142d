"""Input screen: one test image (or a seeded random input) and every variant's prediction."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from engine.types import CLASS_NAMES
from tui.messages import PredictionsLoaded
from tui.screens.base import Pane, top_k
from tui.session import InputPredictions
from tui.widgets.image_view import ImageView
from tui.widgets.table import R8Table


def class_name(i: int) -> str:
    return CLASS_NAMES[i] if 0 <= i < len(CLASS_NAMES) else "random"


def prediction_rows(preds: InputPredictions, row: int = 0) -> list[list[Any]]:
    """variant, predicted class, probability, correct, top-3 — for image ``row``."""
    label = int(preds.labels[row]) if len(preds.labels) else -1
    out: list[list[Any]] = []
    for variant, probs in preds.probs.items():
        best = top_k(probs[row])
        ok = "" if label < 0 else ("yes" if best[0][0] == label else "NO")
        top3 = "  ".join(f"{class_name(c)} {p:.2f}" for c, p in best)
        out.append([variant, class_name(best[0][0]), best[0][1], ok, top3])
    for variant, err in preds.errors.items():
        out.append([variant, "-", None, "", f"error: {err}"])
    return out


class InputPane(Pane):
    """Image | label and predictions."""

    BINDINGS = [Binding("t", "pin", "Pin as typical")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shown: InputPredictions | None = None
        self.position = 0
        """The image of ``shown`` on screen (n/p walk a set of images)."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="pane-message")
        with Horizontal(id="input-body"):
            with Vertical(id="input-left"):
                yield Static("", id="input-label")
                yield ImageView(id="input-image")
            yield R8Table("predictions", id="input-predictions", title="predictions")

    @property
    def image(self) -> ImageView:
        return self.query_one(ImageView)

    @property
    def label(self) -> Static:
        return self.query_one("#input-label", Static)

    @property
    def table(self) -> R8Table:
        return self.query_one("#input-predictions", R8Table)

    def refresh_data(self) -> None:
        text = self.r8.input_text
        if self.shown is not None and self.shown.input == text:
            if self.position != self.r8.session.set_position(text):
                self.show(self.shown)  # n/p walked the set: its predictions are here already
            return
        session = self.r8.session
        self.label.update(f"{text}\nloading…")
        self.start("predictions", text,
                   lambda p, c: PredictionsLoaded(session.predictions(text, p, c)),
                   f"predicting {text} with {len(session.variants)} variants")

    def on_predictions_loaded(self, event: PredictionsLoaded) -> None:
        if event.key != self.r8.input_text:
            return  # the input changed since: a newer job is on its way
        self.show_message("")
        self.show(event.predictions)

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
        self.table.load(["variant", "prediction", "p", "correct", "top-3"],
                        prediction_rows(preds, row), [None, None, lambda v: "-" if v is None
                                                      else f"{v:.3f}", None, None])

    def action_pin(self) -> None:
        text = self.shown_image
        if text is None:
            self.notify("no image shown yet; wait for it, then press t", severity="warning")
            return
        self.r8.session.pin_input(text)
        self.notify(f"pinned {text}: flipped images are set against it (Accuracy, Enter)",
                    timeout=4)
