"""One table of every variant against the float Keras baseline: accuracy, delta in points,
per-class deltas, argmax agreement, model size on disk and the images that flipped."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import evaluate
from engine import variants as V
from engine.types import AccuracyReport, Dataset, ProgressFn
from engine.workspace import Workspace

TARGETS = {"onnx-int8": 0.870, "onnx-uint8": 0.868, "torch-int8": 0.865}
"""Issue 4's accuracy targets on the full shared test set with default settings."""
TARGET_MIN_IMAGES = 9_000
"""Targets are judged only on (nearly) the whole test set."""
DEFAULT_REPORT_VARIANTS = V.ALL_VARIANTS


@dataclass(frozen=True)
class VariantRow:
    """One variant compared with the baseline."""

    variant: str
    """Variant name."""
    accuracy: float
    """Top-1 accuracy (0-1)."""
    correct: int
    """Correct predictions."""
    total: int
    """Images."""
    delta_points: float
    """(accuracy - baseline accuracy) * 100."""
    per_class_delta: tuple[float, ...]
    """10 values: per-class accuracy minus the baseline's, in points."""
    agreement_with_float: float
    """Argmax agreement with the baseline (0-1)."""
    size_bytes: int | None
    """Model size on disk (None when unknown)."""
    float_right_variant_wrong: tuple[int, ...]
    """Official test indices the baseline gets right and this variant wrong."""
    float_wrong_variant_right: tuple[int, ...]
    """Official test indices the baseline gets wrong and this variant right."""
    details: dict
    """Device, cache, quantization settings and the reduce_range reason, size source."""


@dataclass(frozen=True)
class VariantsReport:
    """Every variant on one data set, against one float baseline."""

    dataset: str
    """Data set name."""
    size: int
    """Number of images."""
    baseline: str
    """The float reference (keras)."""
    rows: tuple[VariantRow, ...]
    """Baseline first, then the variants in the order asked."""
    reports: dict[str, AccuracyReport]
    """Full accuracy reports (per class, confusion) per variant."""
    notes: tuple[str, ...]
    """Data set notes, runner notices, calibration notes, target verdicts."""


def _per_class(r: AccuracyReport) -> np.ndarray:
    tot = np.asarray(r.per_class_total, dtype=np.float64)
    cor = np.asarray(r.per_class_correct, dtype=np.float64)
    return np.divide(cor, tot, out=np.full_like(cor, np.nan), where=tot > 0)


def model_size(ws: Workspace, variant: str, opts: V.VariantOptions) -> tuple[int | None, str]:
    """Size on disk of ``variant`` and what was measured (file, or serialized state_dict)."""
    from engine import quantize

    if variant == "keras":
        return ws.model_path.stat().st_size, "Keras .h5 file"
    if variant == "onnx":
        return ws.onnx_path(opts.opset).stat().st_size, "float .onnx file"
    if variant == "torch":
        from engine import convert

        module = convert.onnx_to_torch(ws.onnx_path(opts.opset))
        return quantize.state_dict_bytes(module), "torch.save(state_dict)"
    if variant in V.REFERENCE_VARIANTS:
        from engine import assets

        path = assets.find_tflite(V.TFLITE_FILE[variant], ws.model_path)
        return path.stat().st_size, ".tflite file"
    if quantize.VARIANT_BACKEND.get(variant) == "onnx":
        return quantize.onnx_quantized_path(ws, variant, opts).stat().st_size, "QDQ .onnx file"
    s = quantize.settings(variant, opts.quant)
    if s.float_layers or s.bias_correction:  # rebuilt from the all-int8 calibration
        module = quantize.torch_quantized_module(ws, opts)
        return quantize.state_dict_bytes(module), "torch.save(state_dict) of the FX model"
    meta = quantize.cached_meta(ws, variant, opts) or {}
    size = meta.get("serialized_bytes")
    return (int(size) if size is not None else None), "torch.save(state_dict) of the FX model"


def _target_note(s: Any, acc: float, n_images: int) -> str | None:
    """Verdict against TARGETS, only for default settings on the full test set."""
    from engine import calibration, quantize

    target = TARGETS.get(s.variant)
    defaults = (s.calib == calibration.normalize_spec(calibration.DEFAULT_CALIB)
                and s.calib_seed == calibration.DEFAULT_CALIB_SEED
                and s.method == quantize.DEFAULT_METHOD[s.backend] and s.per_channel
                and s.reduce_range_reason.startswith("auto")
                and not getattr(s, "float_layers", ()) and not getattr(s, "bias_correction", False))
    if target is None or n_images < TARGET_MIN_IMAGES or not defaults:
        return None
    gap = (acc - target) * 100
    if gap >= 0:
        return f"{s.variant}: {100 * acc:.2f} % meets the {100 * target:.1f} % target"
    return (f"{s.variant}: {100 * acc:.2f} % misses the {100 * target:.1f} % target by "
            f"{-gap:.2f} points")


def variants_report(
    ws: Workspace,
    variants: list[str],
    dataset: Dataset,
    opts: V.VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> VariantsReport:
    """Evaluate ``variants`` (and the keras baseline) on ``dataset`` and compare them."""
    from engine import quantize

    opts = opts or V.VariantOptions()
    names = list(dict.fromkeys([V.BASELINE, *V.parse_variants(",".join(variants))]))
    ev = evaluate.evaluate(ws, names, dataset, opts, on_progress=on_progress, cancel=cancel)
    base = ev.reports[V.BASELINE]
    base_pc = _per_class(base)
    base_pred = ev.probs[V.BASELINE].argmax(axis=1)
    base_ok = base_pred == dataset.labels
    notes = list(ev.notes)
    rows: list[VariantRow] = []
    for v in names:
        r = ev.reports[v]
        pred = ev.probs[v].argmax(axis=1)
        ok = pred == dataset.labels
        from engine import recommend

        bv, v_opts = recommend.resolve(ws, v, opts)  # VARIANT@recommended: saved settings
        size, size_what = model_size(ws, bv, v_opts)
        details: dict[str, Any] = {**r.extra, "size_of": size_what}
        if bv in quantize.VARIANT_BACKEND:
            s = quantize.settings(bv, v_opts.quant)
            meta = quantize.cached_meta(ws, bv, v_opts) or {}
            details.update(quant=s.to_dict(), calibration=meta.get("calibration"),
                           calibration_size=meta.get("calibration_size"))
            notes.extend(meta.get("calibration_notes", ()))
            note = _target_note(s, r.accuracy, len(dataset))
            if note:
                notes.append(note)
        rows.append(VariantRow(
            variant=v, accuracy=r.accuracy, correct=r.correct, total=r.total,
            delta_points=(r.accuracy - base.accuracy) * 100,
            per_class_delta=tuple(float(x) for x in (_per_class(r) - base_pc) * 100),
            agreement_with_float=float((pred == base_pred).mean()),
            size_bytes=size,
            float_right_variant_wrong=tuple(int(i) for i in dataset.indices[base_ok & ~ok]),
            float_wrong_variant_right=tuple(int(i) for i in dataset.indices[~base_ok & ok]),
            details=details,
        ))
    return VariantsReport(dataset.name, len(dataset), V.BASELINE, tuple(rows), ev.reports,
                          tuple(dict.fromkeys(notes)))
