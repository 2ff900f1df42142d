"""Predictions, accuracy, per-class accuracy, confusion matrix and cross-variant agreement."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import variants as V
from engine.cache import make_key
from engine.errors import CancelledError, UsageError
from engine.runners import Runner
from engine.types import CLASS_NAMES, AccuracyReport, Dataset, ProgressFn
from engine.workspace import Workspace

DEFAULT_BATCH_SIZE = 500
PREDICTION_LIBRARIES = ("numpy", "tensorflow", "tf_keras", "tf2onnx", "onnx", "onnxruntime",
                        "onnx2torch", "torch", "torchao")


def predict(
    runner: Runner,
    images: np.ndarray,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[np.ndarray, float]:
    """Run ``runner`` over ``images`` in batches; returns (probabilities, seconds)."""
    if batch_size <= 0:
        raise UsageError(f"batch size {batch_size} is not positive; use --batch-size 1 or more")
    n = len(images)
    out: list[np.ndarray] = []
    elapsed = 0.0
    for start in range(0, n, batch_size):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"{runner.name}: cancelled after {start} of {n} images")
        batch = images[start:start + batch_size]
        t0 = time.perf_counter()
        out.append(runner.infer(batch))
        elapsed += time.perf_counter() - t0
        if on_progress:
            on_progress(min(start + batch_size, n), n, runner.name)
    return (np.concatenate(out) if out else np.zeros((0, 10), np.float32)), elapsed


@dataclass(frozen=True)
class Predictions:
    """One variant's probabilities on one data set."""

    variant: str
    """Variant name."""
    probs: np.ndarray
    """float32 (N, 10)."""
    images_per_second: float | None
    """Measured throughput; the figure of the run that filled the cache when cached."""
    cached: bool
    """Served from the cache."""
    details: dict[str, Any] = field(default_factory=dict)
    """Device, TF32, notices."""


def predictions(
    ws: Workspace,
    variant: str,
    dataset: Dataset,
    opts: V.VariantOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Predictions:
    """Probabilities of ``variant`` on ``dataset``, from the cache when possible."""
    opts = opts or V.VariantOptions()
    if variant.endswith(V.RECOMMENDED):
        from engine import recommend

        shown = variant
        variant, opts = recommend.resolve(ws, variant, opts)
        p = predictions(ws, variant, dataset, opts, batch_size, on_progress, cancel)
        return Predictions(shown, p.probs, p.images_per_second, p.cached,
                           {**p.details, "settings": quant_label(variant, opts)})
    key = make_key(
        "predictions",
        {"variant": V.identity(ws, variant, opts), "data": dataset.identity},
        PREDICTION_LIBRARIES,
    )
    hit = ws.cache.load("predictions", key)
    if hit is not None and "probs" in hit[0] and hit[0]["probs"].shape == (len(dataset), 10):
        meta = hit[1]
        return Predictions(variant, hit[0]["probs"], meta.get("images_per_second"), True,
                           dict(meta.get("details", {})))
    runner = V.open_runner(ws, variant, opts)
    try:
        probs, seconds = predict(runner, dataset.images, batch_size, on_progress, cancel)
        details = {"device": runner.device, "notice": getattr(runner, "notice", "")}
        if variant == "torch" and runner.device == "cuda":
            details["tf32"] = opts.tf32
    finally:
        runner.close()
    ips = len(dataset) / seconds if seconds > 0 else None
    ws.cache.save(
        "predictions", key, {"probs": probs},
        {"variant": variant, "dataset": dataset.name, "n": len(dataset),
         "images_per_second": ips, "details": details},
    )
    return Predictions(variant, probs, ips, False, details)


def quant_label(variant: str, opts: V.VariantOptions) -> str:
    """The variant with its layer settings, e.g. ``torch-int8 [float: dense]``."""
    from engine import quantize

    return quantize.settings(variant, opts.quant).label


def accuracy_report(
    variant: str, dataset: Dataset, probs: np.ndarray, images_per_second: float | None = None,
    extra: dict[str, Any] | None = None,
) -> AccuracyReport:
    """Overall and per-class accuracy and the confusion matrix."""
    if probs.shape != (len(dataset), 10):
        raise UsageError(f"{variant}: {probs.shape} predictions for {len(dataset)} images")
    pred = probs.argmax(axis=1)
    k = len(CLASS_NAMES)
    confusion = np.bincount(dataset.labels * k + pred, minlength=k * k).reshape(k, k)
    per_total = confusion.sum(axis=1)
    per_correct = np.diag(confusion)
    return AccuracyReport(
        variant=variant,
        dataset=dataset.name,
        correct=int(per_correct.sum()),
        total=len(dataset),
        per_class_correct=tuple(int(x) for x in per_correct),
        per_class_total=tuple(int(x) for x in per_total),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion),
        images_per_second=images_per_second,
        extra=dict(extra or {}),
    )


@dataclass(frozen=True)
class AgreementReport:
    """How two variants' predictions agree on the same images."""

    a: str
    """First variant."""
    b: str
    """Second variant."""
    argmax_agreement: float
    """Share of images with the same top-1 class (0-1)."""
    max_abs_diff: float
    """Largest absolute difference of any probability."""
    disagree_indices: tuple[int, ...]
    """Official indices of the images whose top-1 differs."""


def agreement(a: str, pa: np.ndarray, b: str, pb: np.ndarray, dataset: Dataset) -> AgreementReport:
    """Compare two variants' probabilities on ``dataset``."""
    same = pa.argmax(axis=1) == pb.argmax(axis=1)
    diff = float(np.max(np.abs(pa.astype(np.float64) - pb))) if len(pa) else 0.0
    return AgreementReport(a, b, float(same.mean()) if len(same) else float("nan"), diff,
                           tuple(int(i) for i in dataset.indices[~same]))


@dataclass(frozen=True)
class EvalReport:
    """Accuracy of several variants on one data set, and their pairwise agreement."""

    dataset: str
    """Data set name."""
    size: int
    """Number of images."""
    reports: dict[str, AccuracyReport]
    """Per variant."""
    agreements: tuple[AgreementReport, ...]
    """Every pair of variants."""
    notes: tuple[str, ...]
    """Data set notes and runner notices."""
    probs: dict[str, np.ndarray] = field(default_factory=dict)
    """Per variant (N, 10) probabilities."""


def evaluate(
    ws: Workspace,
    variants: list[str],
    dataset: Dataset,
    opts: V.VariantOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> EvalReport:
    """Evaluate each variant on ``dataset`` and compare every pair."""
    reports: dict[str, AccuracyReport] = {}
    probs: dict[str, np.ndarray] = {}
    notes = list(dataset.notes)
    for v in variants:
        p = predictions(ws, v, dataset, opts, batch_size, on_progress, cancel)
        if p.details.get("notice"):
            notes.append(f"{v}: {p.details['notice']}")
        probs[v] = p.probs
        reports[v] = accuracy_report(v, dataset, p.probs, p.images_per_second,
                                     {**p.details, "cached": p.cached})
    pairs = [
        agreement(a, probs[a], b, probs[b], dataset)
        for i, a in enumerate(variants) for b in variants[i + 1:]
    ]
    return EvalReport(dataset.name, len(dataset), reports, tuple(pairs),
                      tuple(dict.fromkeys(notes)), probs)
