"""Frozen result dataclasses shared across the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ProgressFn = Callable[[int, int, str], None]
"""Progress callback: (done, total, what is being done)."""

CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels, with each row's official index."""

    name: str
    """What it is, e.g. ``test``, ``test[mlperf-perf]``, ``train[stratified:1000:0]``."""
    images: np.ndarray
    """uint8, (N, 32, 32, 3), NHWC, raw 0-255 pixels."""
    labels: np.ndarray
    """int64, (N,), class ids 0-9."""
    indices: np.ndarray
    """int64, (N,), each row's official index in its split (its row number when unknown)."""
    identity: str
    """Hash of the pixels, labels and indices; keys cached results."""
    source: str = ""
    """The folder or file it came from."""
    notes: tuple[str, ...] = ()
    """Anything the user should know (missing rows, skipped indices)."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class OutputDiff:
    """How far two variants' outputs are apart on one input set."""

    a: str
    """First variant."""
    b: str
    """Second variant."""
    inputs: str
    """``real`` (CIFAR-10 test images) or ``random`` (seeded uniform 0-255)."""
    n: int
    """Number of inputs compared."""
    max_abs_diff: float
    """Largest absolute difference of any output element."""
    mean_abs_diff: float
    """Mean absolute difference over all output elements."""
    max_rel_diff: float
    """Largest |a-b| / max(|a|, eps)."""
    argmax_agreement: float
    """Share of inputs whose argmax is the same (0-1)."""
    tolerance: float
    """The max-abs tolerance the pair was judged against."""
    passed: bool
    """max_abs_diff <= tolerance, argmax agrees on every input and nothing is NaN."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of one variant on one data set."""

    variant: str
    """Variant name (keras, onnx, torch, onnx-int8, ...)."""
    dataset: str
    """Data set name."""
    correct: int
    """Number of correct top-1 predictions."""
    total: int
    """Number of images."""
    per_class_correct: tuple[int, ...]
    """Correct predictions per true class."""
    per_class_total: tuple[int, ...]
    """Images per true class."""
    confusion: tuple[tuple[int, ...], ...]
    """10x10, rows true class, columns predicted class."""
    images_per_second: float | None = None
    """Throughput of the run that produced the predictions (None when served from cache)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Variant details (device, TF32, quantization settings)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")
