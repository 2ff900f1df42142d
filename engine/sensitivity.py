"""Per-layer sensitivity of an int8 variant (AIMET QuantAnalyzer's idea), on one scale for
onnx-int8, onnx-uint8 and torch-int8.

For each quantizable unit (engine.float_layers: a conv with its BN and ReLU, an add with
its ReLU, the average pooling, the dense head), in model order:

- ``float-one`` (default): the accuracy with only that unit left in float, against the
  all-int8 variant: how much that unit's quantization costs.
- ``int8-one``: the accuracy with only that unit quantized, against float: how much
  quantizing it alone costs.

Each point is the same variant with other ``float_layers`` settings, built from ONE
calibration: ONNX Runtime reuses the cached tensor ranges (its calibration-cache JSON),
PyTorch FX loads the all-int8 model's cached observer states into a prepared model whose
mapping leaves those units float (engine.quantize). Each point's predictions are cached
as they finish (engine.evaluate.predictions), so an interrupted run keeps every finished
layer and a rerun resumes where it stopped.

Noise floor: the accuracy of the all-int8 variant moves when only the calibration draw
changes (seed of the stratified training sample), with no layer setting changed. Its range
over NOISE_SEEDS is ``noise_floor_points``: a layer effect inside it is within what chance
in the calibration alone produces. Each row also carries an exact two-sided sign test on
its flips (McNemar's test: gained vs lost images are a fair coin when the change does
nothing), ``p_value``, which judges that layer's own evidence on these images.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine import evaluate
from engine import float_layers as FL
from engine import quantize as Q
from engine import variants as V
from engine.errors import UsageError
from engine.layers import layer_map
from engine.types import Dataset, ProgressFn, QuantSettings
from engine.workspace import Workspace

MODES = ("float-one", "int8-one")
NOISE_SEEDS = (0, 1, 2, 3)
"""Calibration seeds whose all-int8 accuracies give the noise floor (0 is the default)."""
FLOAT_REFERENCE = "onnx"
"""The float variant int8-one is measured against (same graph as every int8 variant;
keras, onnx and torch agree on all 9,979 test argmaxes)."""


@dataclass(frozen=True)
class LayerSensitivity:
    """One unit's row."""

    layer: str
    """Keras name of the unit (conv2d_3, add_1, average_pooling2d, dense)."""
    accuracy: float
    """Accuracy with only this unit float (float-one) or only this unit int8 (int8-one)."""
    correct: int
    """Correct images."""
    delta_points: float
    """accuracy - baseline accuracy, in points (1 image of 9,979 = 0.01)."""
    gained: int
    """Images right here and wrong in the baseline."""
    lost: int
    """Images wrong here and right in the baseline."""
    p_value: float
    """Exact two-sided sign test of gained vs lost (1.0 when nothing flipped)."""
    layers: tuple[str, ...]
    """Keras layers the unit covers."""
    cached: bool = False
    """Its predictions came from the cache (an earlier, possibly interrupted, run)."""


@dataclass(frozen=True)
class SensitivityReport:
    """Every unit of one int8 variant, in model order."""

    variant: str
    """The int8 variant as named everywhere, with its settings (e.g. ``torch-int8``)."""
    mode: str
    """float-one or int8-one."""
    dataset: str
    """Data set name."""
    size: int
    """Number of images."""
    baseline: str
    """What deltas are against: the all-int8 variant (float-one) or float (int8-one)."""
    baseline_accuracy: float
    """Its accuracy."""
    int8_accuracy: float
    """The variant as given (every unit int8, or its own float layers)."""
    float_accuracy: float
    """The float model."""
    noise_floor_points: float
    """Range of the all-int8 accuracy over calibration seeds NOISE_SEEDS, in points."""
    noise_accuracies: dict[int, float]
    """Seed -> all-int8 accuracy behind the noise floor."""
    noise_method: str
    """How the noise floor was measured, in words."""
    layers: tuple[LayerSensitivity, ...]
    """Rows in model order."""
    seconds: float
    """Wall time of the call."""
    notes: tuple[str, ...] = ()
    """Data set notes."""



def _opts(opts: V.VariantOptions, quant: Any) -> V.VariantOptions:
    """``opts`` with the quantization settings ``quant`` (a mapping), parsed."""
    return replace(opts, quant=QuantSettings.parse(quant, opts.quant.cpu))


def recipe(variant: str, opts: V.VariantOptions) -> tuple[str, V.VariantOptions]:
    """An int8 variant registered with its own settings (``torch-int8@recommended``) as its
    recipe and those settings, so its points are that recipe with one more (or one less)
    float unit; any other name is returned as it is."""
    if variant in Q.VARIANT_BACKEND or variant not in V.names(kind="quantized"):
        return variant, opts
    v = V.get(variant)
    assert isinstance(v, V.QuantizedVariant)
    return v.base, v.options(opts)


def sign_test_p(gained: int, lost: int) -> float:
    """Exact two-sided binomial (sign) test p-value of ``gained`` vs ``lost`` at p = 1/2."""
    n = gained + lost
    if n == 0:
        return 1.0
    k = min(gained, lost)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def check_request(ws: Workspace, variant: str, mode: str, dataset: Dataset,
                  layers: tuple[str, ...] | None, opts: V.VariantOptions,
                  ) -> tuple[Q.ResolvedQuant, tuple[FL.QuantUnit, ...]]:
    """Refuse what cannot run, with one line naming the fix; the settings and the units."""
    variant, opts = recipe(variant, opts)
    if variant not in Q.VARIANT_BACKEND:
        kind = "a float variant" if variant in V.ALL_VARIANTS else "not a variant"
        raise UsageError(f"sensitivity needs an int8 variant; {variant!r} is {kind}; use "
                         f"--variant {' or '.join(Q.VARIANT_BACKEND)}")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; use {' or '.join(MODES)}")
    if len(dataset) == 0:
        raise UsageError(f"the subset {dataset.name!r} holds no images; choose a subset "
                         "that selects some (e.g. all, first:1000)")
    s = Q.settings(variant, opts.quant)
    lmap = layer_map(ws, opts.opset)
    FL.check_names(lmap, s.float_layers)
    units = FL.quant_units(lmap)
    if layers:
        units = FL.check_names(lmap, layers, "--layers")
    if mode == "int8-one" and s.float_layers:
        raise UsageError("--mode int8-one quantizes one layer at a time and keeps every other "
                         "layer float; drop --float-layers")
    units = tuple(u for u in units if u.name not in s.float_layers)
    if not units:
        raise UsageError("no layer left to measure (all are in --float-layers); drop some")
    return s, units


def sensitivity(
    ws: Workspace,
    variant: str,
    dataset: Dataset,
    mode: str = "float-one",
    opts: V.VariantOptions | None = None,
    layers: tuple[str, ...] | None = None,
    noise_seeds: tuple[int, ...] = NOISE_SEEDS,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> SensitivityReport:
    """Accuracy of ``variant`` with each unit alone float (or alone int8) on ``dataset``."""
    t0 = time.perf_counter()
    variant, opts = recipe(variant, opts or V.VariantOptions())
    s, units = check_request(ws, variant, mode, dataset, layers, opts)
    all_units = FL.unit_names(layer_map(ws, opts.opset))
    labels = dataset.labels

    hits: list[bool] = []

    def correct(quant: dict[str, Any], name: str = variant) -> np.ndarray:
        o = _opts(opts, quant)
        p = evaluate.predictions(ws, name, dataset, o, on_progress=on_progress, cancel=cancel)
        hits.append(p.cached)
        return np.asarray(p.probs.argmax(axis=1) == labels)

    base_quant = opts.quant.to_mapping()
    total = len(units) + len(noise_seeds) + 1
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        step += 1
        if on_progress:
            on_progress(step, total, f"sensitivity {s.label}: {what}")

    int8_ok = correct(base_quant)
    tick("as given")
    float_ok = correct({}, FLOAT_REFERENCE)
    if mode == "float-one":
        baseline, base_ok = s.label, int8_ok
    else:
        baseline, base_ok = f"float ({FLOAT_REFERENCE})", float_ok
    rows: list[LayerSensitivity] = []
    for u in units:
        if mode == "float-one":
            floats = (*s.float_layers, u.name)
        else:
            floats = tuple(n for n in all_units if n != u.name)
        ok = correct({**base_quant, "float_layers": ",".join(floats)})
        gained = int(np.sum(ok & ~base_ok))
        lost = int(np.sum(~ok & base_ok))
        acc = float(ok.mean())
        rows.append(LayerSensitivity(
            layer=u.name, accuracy=acc, correct=int(ok.sum()),
            delta_points=100.0 * (acc - float(base_ok.mean())), gained=gained, lost=lost,
            p_value=sign_test_p(gained, lost), layers=u.layers, cached=hits[-1]))
        tick(u.name)
    noise: dict[int, float] = {}
    for seed in noise_seeds:
        q = {**base_quant, "calib_seed": seed, "float_layers": "", "bias_correction": False}
        noise[seed] = float(correct(q).mean())
        tick(f"noise floor, calibration seed {seed}")
    spread = 100.0 * (max(noise.values()) - min(noise.values())) if len(noise) > 1 else 0.0
    method = (f"range of the all-int8 accuracy over calibration seeds "
              f"{', '.join(map(str, noise_seeds))} ({s.calib}, {s.method}) on the same images")
    return SensitivityReport(
        variant=s.label, mode=mode, dataset=dataset.name, size=len(dataset),
        baseline=baseline, baseline_accuracy=float(base_ok.mean()),
        int8_accuracy=float(int8_ok.mean()), float_accuracy=float(float_ok.mean()),
        noise_floor_points=spread, noise_accuracies=noise, noise_method=method,
        layers=tuple(rows), seconds=time.perf_counter() - t0, notes=dataset.notes)
