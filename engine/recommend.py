"""`r8 quantize --recommend`: the smallest change that brings an int8 variant within a
target of float accuracy, decided on training images only.

Data: the calibration images (``train:N``, stratified) and a *validation* split: a
stratified draw of training images outside every calibration set the search may use.
Every decision reads validation labels only; the test set is evaluated once, for the
chosen settings (and the plain variant, for comparison), after the choice is made.

Search, in order of how much it changes (the first step within the target wins):

1. the plain variant;
2. bias correction alone;
3. float layers, guided by the sensitivity ranking on the validation split (float-one,
   on the best of 1-2): the top 1, then the top 2, ... up to ``max_float_layers``;
4. calibration method and size (each backend's methods, train:1000 and train:5000), with
   the float layers and bias correction chosen so far.

When no step reaches the target, the best validation accuracy wins (ties go to the
smaller change) and the result says the target was missed on validation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from engine import calibration, data, evaluate
from engine import float_layers as FL
from engine import quantize as Q
from engine import sensitivity as S
from engine import variants as V
from engine.cache import make_key
from engine.errors import UsageError
from engine.layers import layer_map
from engine.report import model_size
from engine.types import Dataset, ProgressFn, QuantSettings
from engine.workspace import Workspace

STAGE = "recommend"
"""Where the latest recommendation per variant is saved (for VARIANT@recommended)."""
RESULT_STAGE = "recommend-result"
"""Each search's result, keyed by everything it depends on (a warm rerun reads it)."""
DEFAULT_TARGET_DELTA = 0.05
"""Points of accuracy below float the variant may stay (on validation)."""
DEFAULT_MAX_FLOAT_LAYERS = 2
VALIDATION_SIZE = 5000
"""Training images in the validation split (1 image = 0.02 points)."""
VALIDATION_SEED = 1
CALIB_SIZES = (1000, 5000)
"""Calibration sizes tried in step 4 (train:N, stratified, the variant's seed)."""
FLOAT_REFERENCE = S.FLOAT_REFERENCE
SUFFIX = V.RECOMMENDED
"""Variant names like ``torch-int8@recommended`` select a saved recommendation."""


@dataclass(frozen=True)
class Candidate:
    """One setting tried, with its validation accuracy."""

    step: str
    """plain, bias correction, float layers, calibration."""
    quant: dict[str, Any]
    """VariantOptions.quant of the candidate."""
    label: str
    """The variant as outputs name it, e.g. ``torch-int8 [float: dense; bias-corr]``."""
    val_accuracy: float
    """Accuracy on the validation split."""
    val_delta_points: float
    """val_accuracy - float validation accuracy, in points."""


@dataclass(frozen=True)
class Recommendation:
    """The chosen settings of one int8 variant and what they give on the test set."""

    variant: str
    """onnx-int8, onnx-uint8 or torch-int8."""
    chosen: Candidate
    """The settings chosen on validation."""
    met_target: bool
    """Whether the chosen settings are within the target on validation."""
    target_delta: float
    """The target, in points below float."""
    max_float_layers: int
    """The most layers the search could leave float."""
    calibration: str
    """Calibration images of the chosen settings (name)."""
    validation: str
    """Validation split name."""
    validation_size: int
    """Its number of images."""
    calibration_size: int
    """Calibration images of the plain variant."""
    float_val_accuracy: float
    """Float accuracy on the validation split."""
    steps: tuple[Candidate, ...]
    """Every candidate tried, in order."""
    ranking: tuple[tuple[str, float], ...]
    """Sensitivity ranking on validation: (layer, delta points), most helpful first."""
    test: dict[str, Any]
    """Test-set figures: dataset, size, float/plain/chosen accuracy, size, throughput."""
    seconds: float
    """Wall time of the call."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Anything the user should know."""

    @property
    def name(self) -> str:
        """The name eval and report accept for these settings."""
        return self.variant + SUFFIX



def _opts(opts: V.VariantOptions, quant: Any) -> V.VariantOptions:
    """``opts`` with the quantization settings ``quant`` (a mapping), parsed."""
    return replace(opts, quant=QuantSettings.parse(quant, opts.quant.cpu))

def check_request(ws: Workspace, variant: str, target_delta: float, max_float_layers: int,
                  opts: V.VariantOptions) -> tuple[str, ...]:
    """Refuse bad input with one line naming the fix; the unit names."""
    if variant not in Q.VARIANT_BACKEND:
        kind = "a float variant" if variant in V.ALL_VARIANTS else "not a variant"
        raise UsageError(f"--recommend needs an int8 variant; {variant!r} is {kind}; use "
                         f"--variant {' or '.join(Q.VARIANT_BACKEND)}")
    if not target_delta >= 0:
        raise UsageError(f"--target-delta {target_delta} is negative; give the points below "
                         f"float the variant may stay, e.g. --target-delta "
                         f"{DEFAULT_TARGET_DELTA}")
    units = FL.unit_names(layer_map(ws, opts.opset))
    if not 0 <= max_float_layers <= len(units):
        raise UsageError(f"--max-float-layers {max_float_layers} is out of range; the model "
                         f"has {len(units)} quantizable layers, use 0..{len(units)}")
    s = Q.settings(variant, opts.quant)
    if s.float_layers or s.bias_correction:
        raise UsageError("--recommend searches float layers and bias correction itself; drop "
                         "--float-layers and --bias-correction")
    return units


def validation_split(ws: Workspace, s: Q.ResolvedQuant, size: int = VALIDATION_SIZE,
                     seed: int = VALIDATION_SEED) -> tuple[Dataset, int]:
    """Training images outside every calibration set of the search (the variant's own and
    train:N of CALIB_SIZES with its seed), stratified; and how many were excluded."""
    train = ws.train_set
    used: set[int] = set()
    specs = {s.calib, *(f"train:{n}" for n in CALIB_SIZES)}
    for spec in specs:
        if spec.startswith("train:"):
            used.update(int(i) for i in
                        data.stratified(train, int(spec.split(":")[1]), s.calib_seed).indices)
    free = np.flatnonzero(~np.isin(train.indices, np.fromiter(used, np.int64, len(used))))
    pool = data.subset(train, free, "train[not calibration]")
    val = data.stratified(pool, min(size, len(pool)), seed)
    val = data.subset(val, np.arange(len(val)),
                      f"train[validation:{len(val)}:{seed}, disjoint from calibration]")
    return val, len(used)


def recommend(
    ws: Workspace,
    variant: str,
    test: Dataset | None = None,
    target_delta: float = DEFAULT_TARGET_DELTA,
    max_float_layers: int = DEFAULT_MAX_FLOAT_LAYERS,
    opts: V.VariantOptions | None = None,
    validation_size: int = VALIDATION_SIZE,
    calib_search: bool = True,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Recommendation:
    """Search the settings of ``variant`` (see the module doc); evaluate the choice on
    ``test`` (default: the test set) and save it under ``variant@recommended``."""
    t0 = time.perf_counter()
    opts = opts or V.VariantOptions()
    check_request(ws, variant, target_delta, max_float_layers, opts)
    test = test if test is not None else ws.test_set
    parts = {"variant": V.identity(ws, variant, _opts(opts, {
                 **opts.quant.to_mapping(), "float_layers": "", "bias_correction": False})),
             "target_delta": target_delta, "max_float_layers": max_float_layers,
             "validation": [validation_size, VALIDATION_SEED, list(CALIB_SIZES)],
             "calib_search": calib_search, "test": test.identity, "version": 1}
    key = make_key(RESULT_STAGE, parts, evaluate.PREDICTION_LIBRARIES)

    def compute() -> Recommendation:
        return _search(ws, variant, test, target_delta, max_float_layers, opts,
                       validation_size, calib_search, on_progress, cancel)

    rec = ws.cache.json_result(RESULT_STAGE, key, compute, asdict, _from_dict,
                               {"variant": variant})
    rec = replace(rec, seconds=time.perf_counter() - t0)
    save(ws, rec, opts)
    return rec


def _from_dict(d: dict[str, Any]) -> Recommendation:
    def cand(c: dict[str, Any]) -> Candidate:
        return Candidate(c["step"], dict(c["quant"]), c["label"], float(c["val_accuracy"]),
                         float(c["val_delta_points"]))

    return Recommendation(
        variant=d["variant"], chosen=cand(d["chosen"]), met_target=bool(d["met_target"]),
        target_delta=float(d["target_delta"]), max_float_layers=int(d["max_float_layers"]),
        calibration=d["calibration"], validation=d["validation"],
        validation_size=int(d["validation_size"]), calibration_size=int(d["calibration_size"]),
        float_val_accuracy=float(d["float_val_accuracy"]),
        steps=tuple(cand(c) for c in d["steps"]),
        ranking=tuple((str(n), float(x)) for n, x in d["ranking"]), test=dict(d["test"]),
        seconds=float(d["seconds"]), notes=tuple(d["notes"]))


def _search(
    ws: Workspace, variant: str, test: Dataset, target_delta: float, max_float_layers: int,
    opts: V.VariantOptions, validation_size: int, calib_search: bool,
    on_progress: ProgressFn | None, cancel: threading.Event | None,
) -> Recommendation:
    t0 = time.perf_counter()
    s = Q.settings(variant, opts.quant)
    val, excluded = validation_split(ws, s, validation_size)
    base_quant = {**opts.quant.to_mapping(), "float_layers": "", "bias_correction": False}

    def accuracy(name: str, quant: dict[str, Any], ds: Dataset) -> float:
        p = evaluate.predictions(ws, name, ds, _opts(opts, quant),
                                 on_progress=on_progress, cancel=cancel)
        return float(np.mean(p.probs.argmax(axis=1) == ds.labels))

    float_val = accuracy(FLOAT_REFERENCE, {}, val)
    steps: list[Candidate] = []

    def trial(step: str, quant: dict[str, Any]) -> Candidate:
        acc = accuracy(variant, quant, val)
        c = Candidate(step, dict(quant), Q.settings(variant, quant).label, acc,
                      100.0 * (acc - float_val))
        steps.append(c)
        if on_progress:
            on_progress(len(steps), len(steps) + 1, f"recommend {variant}")
        return c

    def ok(c: Candidate) -> bool:
        return -c.val_delta_points <= target_delta + 1e-9

    plain = trial("plain", base_quant)
    chosen: Candidate | None = plain if ok(plain) else None
    ranking: tuple[tuple[str, float], ...] = ()
    if chosen is None:
        bc = trial("bias correction", {**base_quant, "bias_correction": True})
        chosen = bc if ok(bc) else None
        base = bc if bc.val_accuracy > plain.val_accuracy else plain
        if chosen is None and max_float_layers > 0:
            # ranked on the plain variant: each point with bias correction would re-run it
            sens = S.sensitivity(ws, variant, val, "float-one", _opts(opts, base_quant),
                                 noise_seeds=(), on_progress=on_progress, cancel=cancel)
            ranked = sorted(sens.layers, key=lambda r: (-r.delta_points, r.layer))
            ranking = tuple((r.layer, r.delta_points) for r in ranked)
            best_fl = base
            for k in range(1, max_float_layers + 1):
                layers = sorted(r.layer for r in ranked[:k])
                c = trial("float layers", {**base.quant, "float_layers": ",".join(layers)})
                if c.val_accuracy > best_fl.val_accuracy:
                    best_fl = c
                if ok(c):
                    chosen = c
                    break
            base = best_fl
        if chosen is None and calib_search:
            methods = Q.ONNX_METHODS if s.backend == "onnx" else Q.TORCH_METHODS
            for n in CALIB_SIZES:
                for m in methods:
                    if f"train:{n}" == s.calib and m == s.method:
                        continue
                    c = trial("calibration", {**base.quant, "calib": f"train:{n}",
                                              "method": m})
                    if ok(c):
                        chosen = c
                        break
                if chosen is not None:
                    break
    met = chosen is not None
    if chosen is None:
        order = {id(c): i for i, c in enumerate(steps)}
        chosen = max(steps, key=lambda c: (round(c.val_accuracy, 9), -order[id(c)]))
    test_fig = _test_figures(ws, variant, chosen, base_quant, test, opts, on_progress, cancel)
    cs = Q.settings(variant, chosen.quant)
    calib_name = calibration.calibration_set(ws, cs.calib, cs.calib_seed).name
    notes = [f"decided on {len(val)} training images (validation, stratified, disjoint from "
             f"the {excluded} calibration images any step could use); the test set "
             f"({len(test)} images) was evaluated only after the choice"]
    if not met:
        notes.append(f"no setting tried is within {target_delta:.2f} points of float on "
                     f"validation; chose the best one ({chosen.val_delta_points:+.2f})")
    rec = Recommendation(
        variant=variant, chosen=chosen, met_target=met, target_delta=target_delta,
        max_float_layers=max_float_layers, calibration=calib_name, validation=val.name,
        validation_size=len(val), calibration_size=int(s.calib.split(":")[1])
        if s.calib.startswith("train:") else 0, float_val_accuracy=float_val,
        steps=tuple(steps), ranking=ranking, test=test_fig,
        seconds=time.perf_counter() - t0, notes=tuple(notes))
    return rec


def _test_figures(ws: Workspace, variant: str, chosen: Candidate, plain_quant: dict[str, Any],
                  test: Dataset, opts: V.VariantOptions, on_progress: ProgressFn | None,
                  cancel: threading.Event | None) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset": test.name, "size": len(test)}
    for role, name, quant in (("float", FLOAT_REFERENCE, {}), ("plain", variant, plain_quant),
                              ("chosen", variant, chosen.quant)):
        o = _opts(opts, quant)
        p = evaluate.predictions(ws, name, test, o, on_progress=on_progress, cancel=cancel)
        out[role] = {"accuracy": float(np.mean(p.probs.argmax(axis=1) == test.labels)),
                     "images_per_second": p.images_per_second}
        if role != "float":
            out[role]["size_bytes"] = _size(ws, variant, o)
    return out


def _size(ws: Workspace, variant: str, opts: V.VariantOptions) -> int | None:
    """Size on disk: the QDQ file, or torch.save(state_dict) of the FX model as built."""
    if Q.VARIANT_BACKEND[variant] == "onnx":
        return model_size(ws, variant, opts)[0]
    return Q.state_dict_bytes(Q.torch_quantized_module(ws, opts))


# -- saved recommendations ------------------------------------------------------------------
def _save_key(ws: Workspace, variant: str, opts: V.VariantOptions) -> str:
    """One saved recommendation per variant and base settings (the latest search wins)."""
    base = Q.settings(variant, {**opts.quant.to_mapping(), "float_layers": "",
                                "bias_correction": False})
    return make_key(STAGE, {"model": ws.model_sha, "settings": base.key_parts(),
                            "opset": opts.opset})


def save(ws: Workspace, rec: Recommendation, opts: V.VariantOptions) -> None:
    ws.cache.save(STAGE, _save_key(ws, rec.variant, opts), {},
                  {"variant": rec.variant, "name": rec.name, "recommendation": asdict(rec)})


def resolve(ws: Workspace, name: str, opts: V.VariantOptions) -> tuple[str, V.VariantOptions]:
    """``VARIANT@recommended`` -> (VARIANT, options with its saved settings); any other name
    is returned as it is."""
    if not name.endswith(SUFFIX):
        return name, opts
    return name.removesuffix(SUFFIX), replace(
        opts, quant=QuantSettings.parse(saved_quant(ws, name, opts), opts.quant.cpu))


def register(ws: Workspace, name: str, opts: V.VariantOptions) -> V.Variant:
    """Register ``VARIANT@recommended`` as a quantized variant built as VARIANT with the
    settings saved for ``opts`` (a UsageError naming the command when none are saved); a
    later call replaces it (the saved settings may have changed)."""
    base, with_saved = resolve(ws, name, opts)
    built = V.get(base)
    if not isinstance(built, V.QuantizedVariant):
        raise UsageError(f"{name!r} names no int8 variant; use onnx-int8, onnx-uint8 or "
                         "torch-int8 with @recommended")
    return V.register(replace(built, name=name, recipe=base, quant=with_saved.quant),
                      replace=True)


def register_requested(ws: Workspace, names: list[str] | tuple[str, ...],
                       opts: V.VariantOptions) -> None:
    """Register every ``VARIANT@recommended`` among ``names`` (the CLI edge, after
    parse_variants and before any work)."""
    for name in names:
        if name.endswith(SUFFIX):
            register(ws, name, opts)


def saved_quant(ws: Workspace, name: str, opts: V.VariantOptions) -> dict[str, Any]:
    """The quantization settings saved for ``VARIANT@recommended``, or a UsageError saying
    which command makes them."""
    variant = name.removesuffix(SUFFIX)
    if variant not in Q.VARIANT_BACKEND:
        raise UsageError(f"unknown variant {name!r}; use one of "
                         f"{', '.join(v + SUFFIX for v in Q.VARIANT_BACKEND)}")
    hit = ws.cache.load(STAGE, _save_key(ws, variant, opts))
    if hit is None or "recommendation" not in hit[1]:
        raise UsageError(f"no recommendation saved for {variant}; run `r8 quantize --recommend "
                         f"--variant {variant}` first")
    return dict(hit[1]["recommendation"]["chosen"]["quant"])
