"""The calibration sweep: calibration size x method x per-channel x reduce_range for each
quantized variant, each point quantized, evaluated and cached."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from engine import calibration
from engine.quantize import ONNX_METHODS, TORCH_METHODS, VARIANT_BACKEND
from engine.types import ProgressFn, QuantSettings, VariantOptions
from engine.workspace import Workspace

SWEEP_SIZES = (100, 500, 1000, 5000)
"""Calibration sizes of the sweep (stratified training images)."""


@dataclass(frozen=True)
class SweepPoint:
    """One setting of the calibration sweep."""

    calib_size: int
    """Stratified training images (train:N)."""
    method: str
    """Calibration method."""
    per_channel: bool
    """Per-channel weight scales."""
    reduce_range: bool
    """7-bit range."""

    def quant(self, seed: int = calibration.DEFAULT_CALIB_SEED) -> dict[str, Any]:
        return {"calib": f"train:{self.calib_size}", "calib_seed": seed, "method": self.method,
                "per_channel": self.per_channel, "reduce_range": self.reduce_range}


def sweep_points(variant: str, sizes: tuple[int, ...] = SWEEP_SIZES) -> tuple[SweepPoint, ...]:
    """The full grid for ``variant``: size x method x per-channel x reduce_range."""
    methods = ONNX_METHODS if VARIANT_BACKEND.get(variant) == "onnx" else TORCH_METHODS
    return tuple(SweepPoint(n, m, pc, rr) for n in sizes for m in methods
                 for pc in (True, False) for rr in (False, True))


@dataclass(frozen=True)
class SweepRow:
    """Accuracy of one variant at one sweep point."""

    variant: str
    """Quantized variant."""
    point: SweepPoint
    """Its settings."""
    accuracy: float
    """Top-1 accuracy (0-1)."""
    delta_points: float
    """(accuracy - baseline accuracy) * 100."""
    agreement_with_float: float
    """Argmax agreement with the baseline (0-1)."""
    cached: bool
    """Predictions served from the cache."""


@dataclass(frozen=True)
class SweepReport:
    """The calibration sweep on one data set."""

    dataset: str
    """Data set name."""
    size: int
    """Number of images."""
    baseline: str
    """The float variant deltas are taken against."""
    baseline_accuracy: float
    """Its accuracy (0-1)."""
    rows: tuple[SweepRow, ...]
    """One per variant and point."""
    notes: tuple[str, ...]
    """Data set notes."""


def sweep(
    ws: Workspace,
    variants: tuple[str, ...] | list[str],
    dataset: Any,
    opts: VariantOptions | None = None,
    points: dict[str, tuple[SweepPoint, ...]] | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> SweepReport:
    """Quantize and evaluate every (variant, point); each quantized model and its
    predictions are cached, so an interrupted sweep resumes where it stopped."""
    from engine import evaluate
    from engine.variants import BASELINE

    opts = opts or VariantOptions()
    seed = opts.quant.calib_seed
    base = evaluate.predictions(ws, BASELINE, dataset, opts, on_progress=on_progress,
                                cancel=cancel)
    base_pred = base.probs.argmax(axis=1)
    base_acc = float((base_pred == dataset.labels).mean())
    rows: list[SweepRow] = []
    for v in variants:
        for pt in (points or {}).get(v) or sweep_points(v):
            o = replace(opts, quant=QuantSettings.parse(pt.quant(seed), opts.quant.cpu))
            p = evaluate.predictions(ws, v, dataset, o, on_progress=on_progress, cancel=cancel)
            pred = p.probs.argmax(axis=1)
            acc = float((pred == dataset.labels).mean())
            rows.append(SweepRow(v, pt, acc, (acc - base_acc) * 100,
                                 float((pred == base_pred).mean()), p.cached))
    return SweepReport(dataset.name, len(dataset), BASELINE, base_acc, tuple(rows),
                       tuple(dataset.notes))
