"""Messages that carry engine results from jobs (worker threads) back to the screens.

A job returns one ``JobResult`` message; the app posts it to the pane that asked for it
unless the job was cancelled or replaced in the meantime (so a stale result never arrives).
Each result type names what it carries, so screens handle them with typed fields.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from textual.message import Message

from engine.types import ProgressFn

if TYPE_CHECKING:
    import numpy as np

    from engine.compare import ComparisonReport
    from engine.layers import LayerInfo
    from engine.report import VariantsReport
    from tui.session import (
        ActivationsByLayer,
        FlipDetail,
        InputLogits,
        InputPredictions,
        WeightsByLayer,
    )


class StageProgress(Message):
    """A running job reports progress; a newer report of the same stage replaces an older one."""

    def __init__(self, stage: str, done: int, total: int, what: str) -> None:
        super().__init__()
        self.stage = stage
        """Job name (``model``, ``weights``, ``predictions``, ...)."""
        self.done = done
        """Units done so far."""
        self.total = total
        """Units in all (0 when unknown)."""
        self.what = what
        """What is being done, as the engine names it."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StageProgress) and message.stage == self.stage


class JobResult(Message, bubble=False):
    """What a finished job returns; ``key`` is what was asked for (variant, input, ...)."""

    def __init__(self, key: Hashable) -> None:
        super().__init__()
        self.key = key
        """Lets a screen drop a result that no longer matches its state."""


JobFn = Callable[[ProgressFn, threading.Event], JobResult]
"""What the app runs in a job thread: (on_progress, cancel) -> a result message."""


class LayerMapLoaded(JobResult):
    def __init__(self, layers: tuple[LayerInfo, ...]) -> None:
        super().__init__("layers")
        self.layers = layers
        """Every Keras layer and what implements it."""


class WeightsLoaded(JobResult):
    def __init__(self, variant: str, weights: WeightsByLayer) -> None:
        super().__init__(variant)
        self.variant = variant
        self.weights = weights
        """Layer name -> WeightReports."""


class ActivationsLoaded(JobResult):
    def __init__(self, variant: str, input_text: str, activations: ActivationsByLayer) -> None:
        super().__init__((variant, input_text))
        self.variant = variant
        self.input_text = input_text
        self.activations = activations
        """Layer name -> LayerActivationStats."""


class ComparisonLoaded(JobResult):
    def __init__(self, a: str, b: str, input_text: str, report: ComparisonReport) -> None:
        super().__init__((b, input_text))
        self.a, self.b, self.input_text = a, b, input_text
        self.report = report


class PredictionsLoaded(JobResult):
    def __init__(self, predictions: InputPredictions) -> None:
        super().__init__(predictions.input)
        self.predictions = predictions


class ReportLoaded(JobResult):
    def __init__(self, subset: str, report: VariantsReport, labels: dict[int, int]) -> None:
        super().__init__(subset)
        self.report = report
        self.labels = labels
        """Official test index -> label."""


class InputStepped(JobResult):
    def __init__(self, old: str, new: str) -> None:
        super().__init__(old)
        self.new = new
        """The input after the one the step started from."""


class InputChecked(JobResult):
    def __init__(self, text: str, switch: bool) -> None:
        super().__init__(text)
        self.text = text
        """An input spec that parsed (the app shows it)."""
        self.switch = switch
        """Whether to switch to the Input screen."""


class StageFailed(Message, bubble=False):
    """A job failed or was cancelled; ``message`` is one line that names the fix."""

    def __init__(self, stage: str, key: Hashable, message: str, cancelled: bool) -> None:
        super().__init__()
        self.stage = stage
        """Job name."""
        self.key = key
        """What was asked for."""
        self.message = message
        """One-line description (an R8Error's message as is)."""
        self.cancelled = cancelled
        """True when the user cancelled it (Escape)."""


class AccuracyLoaded(ReportLoaded):
    """The variants report and every variant's probabilities on the whole test set."""

    def __init__(self, subset: str, report: VariantsReport, labels: dict[int, int],
                 probs: dict[str, np.ndarray], rows: dict[int, int]) -> None:
        super().__init__(subset, report, labels)
        self.probs = probs
        """Variant -> (N, 10) probabilities, rows as the test set."""
        self.rows = rows
        """Official test index -> row of ``probs``."""


class FlipDetailLoaded(JobResult):
    def __init__(self, detail: FlipDetail) -> None:
        super().__init__((detail.variant, detail.input, detail.pinned))
        self.detail = detail
        """One flipped image against the pinned one, layer by layer."""
class VariantAdded(JobResult):
    """A repair job (quantize with settings, or the recommender) registered and built a
    variant; the app shows it everywhere."""

    def __init__(self, name: str, seconds: float, detail: str) -> None:
        super().__init__(name)
        self.name = name
        """The registered variant's name (engine.variants)."""
        self.seconds = seconds
        """Wall time of the job's engine work (quantization or search)."""
        self.detail = detail
        """One line: the settings, or the recommendation's outcome."""


class DeviceFound(JobResult):
    def __init__(self, text: str) -> None:
        super().__init__("device")
        self.text = text
        """What the header shows: ``cpu`` or ``cuda · TF32 off``."""


class LogitsLoaded(JobResult):
    def __init__(self, logits: InputLogits) -> None:
        super().__init__(logits.input)
        self.logits = logits
        """Every variant's logits on the input."""
