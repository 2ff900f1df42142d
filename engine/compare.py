"""Per-layer comparison of two variants on the same inputs: SQNR, cosine, MSE, max |diff|,
and the first layer where they diverge."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from engine import variants as V
from engine.activations import (
    CACHED_TENSORS_MAX,
    CAPTURE_BATCH,
    LAYOUT,
    capture_activations,
    check_variant,
    open_capturer,
    run_capture,
)
from engine.cache import make_key
from engine.errors import CancelledError, UsageError
from engine.inputs import InputSpec, check_images
from engine.isolated import LOGITS, ORT_OPTIMIZATION, IsolatedError, isolated_errors
from engine.layers import LayerInfo, layer_map
from engine.stats import DiffSums, Moments, TensorDiff, diff_sums, moments
from engine.ties import OutputTies
from engine.types import ProgressFn
from engine.workspace import Workspace

COMPARE_STAGE = "compare"
DIVERGENCE_DB = 40.0
"""Default first-divergence threshold: a layer below this SQNR has visibly drifted (int8
layers of this model sit around 20-35 dB, float variants far above 80 dB)."""
FLOAT_AGREEMENT_DB = 80.0
"""Float variants must agree per layer above this SQNR (or exactly)."""
ERROR_MODES = ("accumulated", "isolated", "both")
"""accumulated: b against a at each layer (today's figures); isolated: the error each layer
of the int8 side adds by itself (engine.isolated); both."""


@dataclass(frozen=True)
class LayerComparison:
    """One layer of two variants on the same inputs."""

    name: str
    """Keras layer name."""
    shape: tuple[int, ...]
    """Tensor shape with the batch dimension, NHWC."""
    diff: TensorDiff
    """b against a (a is the reference), over every image of the set at once."""
    a: dict[str, float] = field(default_factory=dict)
    """min, max, mean, std, zeros_fraction of a's tensor."""
    b: dict[str, float] = field(default_factory=dict)
    """The same for b."""
    below_threshold: bool = False
    """SQNR below the report's threshold (or NaN)."""
    isolated: IsolatedError | None = None
    """The int8 side's isolated error of this layer (with --error isolated|both)."""


@dataclass(frozen=True)
class ComparisonReport:
    """Per-layer comparison of two variants, in model order."""

    a: str
    """Reference variant."""
    b: str
    """Compared variant."""
    input: str
    """Input spec text."""
    threshold_db: float
    """First-divergence threshold."""
    layers: tuple[LayerComparison, ...]
    """Layers materialised in both, model order."""
    first_divergence: str | None
    """First layer (model order) whose SQNR is below the threshold; None if none is."""
    n: int = 0
    """Images compared."""
    skipped: tuple[str, ...] = ()
    """Layers not materialised in one of the two (not comparable)."""
    notes: tuple[str, ...] = ()
    """Anything the reader should know (absent indices, skipped layers)."""
    layout: str = LAYOUT
    """Layout the tensors were compared in."""
    cached: bool = False
    """Served from the cache."""
    error: str = "accumulated"
    """Which errors the rows carry (ERROR_MODES)."""
    isolated_variant: str | None = None
    """The int8 side whose isolated error the rows carry."""
    ort_optimization: str | None = None
    """ONNX Runtime graph optimization level the ONNX variants ran with (None: none ran)."""
    ties: dict[str, OutputTies] = field(default_factory=dict)
    """Exact top-2 ties per variant (the int8 side and the float ONNX model; with
    --error isolated|both)."""


def compare_activations(
    ws: Workspace,
    a: str,
    b: str,
    spec: InputSpec,
    opts: V.VariantOptions | None = None,
    threshold_db: float = DIVERGENCE_DB,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    error: str = "accumulated",
) -> ComparisonReport:
    """Per-layer SQNR, cosine, MSE and max |diff| of ``b`` against ``a`` (cached).

    ``error`` isolated or both adds each layer's isolated error of the int8 side (``b``
    if it is int8, else ``a``; engine.isolated), a ``dense:logits`` row and output ties.

    Over a set of images every metric is taken over the whole set at once (all images'
    values together). The first divergence is the first layer in model order whose SQNR
    is below ``threshold_db``.
    """
    opts = opts or V.VariantOptions()
    for v in (a, b):
        check_variant(v)
    check_images(spec)
    side = check_error_mode(a, b, error)
    layers = layer_map(ws, opts.opset)
    key = make_key(COMPARE_STAGE, {"a": V.identity(ws, a, opts), "b": V.identity(ws, b, opts),
                                   "input": spec.identity, "threshold_db": threshold_db,
                                   "layout": LAYOUT}, ("numpy", *V.libraries(a), *V.libraries(b)))

    rep = ws.cache.json_result(
        COMPARE_STAGE, key,
        lambda: _compare(ws, a, b, spec, opts, layers, threshold_db, on_progress, cancel),
        _report_to_dict, _report_from_dict)
    ort = ORT_OPTIMIZATION if any(v.startswith("onnx") for v in (a, b)) else None
    rep = replace(rep, ort_optimization=ort)
    if side is None:
        return rep
    iso = isolated_errors(ws, side, spec, opts, on_progress, cancel)
    by_name = {x.name: x for x in iso.layers}
    rows = [replace(r, isolated=by_name.get(r.name)) for r in rep.layers]
    other = a if side == b else b
    if LOGITS in by_name and iso.logits_accumulated is not None:
        nan = dict.fromkeys(("min", "max", "mean", "std", "zeros_fraction"), float("nan"))
        acc = (iso.logits_accumulated if other in V.FLOAT_VARIANTS
               else TensorDiff(*(float("nan"),) * 4))
        row = LayerComparison(LOGITS, (len(spec), 10), acc, nan, nan,
                              not acc.sqnr_db >= threshold_db, by_name[LOGITS])
        at = next((i for i, r in enumerate(rows) if r.name == by_name[LOGITS].layers[0]),
                  len(rows))
        rows.insert(at, row)
    notes = list(rep.notes)
    if other not in V.FLOAT_VARIANTS:
        notes.append(f"{LOGITS}: accumulated error not compared ({other} is not float)")
    else:
        notes.append(f"{LOGITS}: accumulated error against the float onnx model's logits")
    notes.extend(iso.notes)
    ties = {k: t for k, t in ((side, iso.ties), ("onnx", iso.float_ties)) if t is not None}
    return replace(rep, layers=tuple(rows), error=error, isolated_variant=side, ties=ties,
                   notes=tuple(dict.fromkeys(notes)))


def check_row_name(ws: Workspace, name: str, opset: int) -> None:
    """A UsageError listing the valid names unless ``name`` is a Keras layer or LOGITS."""
    names = [x.name for x in layer_map(ws, opset)]
    if name not in names and name != LOGITS:
        raise UsageError(f"unknown layer {name!r}; use one of {', '.join(names)}, {LOGITS}")


def check_error_mode(a: str, b: str, error: str) -> str | None:
    """The int8 variant whose isolated error is asked for (None for accumulated only)."""
    if error not in ERROR_MODES:
        raise UsageError(f"unknown error kind {error!r}; use one of {', '.join(ERROR_MODES)}")
    if error == "accumulated":
        return None
    for v in (b, a):
        if v in V.names(kind="quantized"):
            return v
    raise UsageError(f"--error {error} needs an int8 side, but {a} and {b} are both float; "
                     f"give one of {', '.join(V.names(kind='quantized'))} as --b")


def _compare(ws: Workspace, a: str, b: str, spec: InputSpec, opts: V.VariantOptions,
             layers: tuple[LayerInfo, ...], threshold_db: float, on_progress: ProgressFn | None,
             cancel: threading.Event | None) -> ComparisonReport:
    if len(spec) <= CACHED_TENSORS_MAX:
        sa = capture_activations(ws, a, spec, opts, on_progress, cancel)
        sb = capture_activations(ws, b, spec, opts, on_progress, cancel)
        common = [n for n in sa.layers if n in sb.tensors]
        acc = {n: _pair_sums(sa.tensors[n], sb.tensors[n]) for n in common}
        shapes = {n: tuple(int(d) for d in sa.tensors[n].shape) for n in common}
        names_a, names_b = sa.layers, sb.layers
    else:
        acc, shapes, names_a, names_b = _stream_compare(ws, a, b, spec, opts, layers,
                                                        on_progress, cancel)
    rows = []
    for name in (x.name for x in layers):
        if name not in acc:
            continue
        ds, ma, mb = acc[name]
        diff = ds.finish()
        below = not diff.sqnr_db >= threshold_db
        rows.append(LayerComparison(name, shapes[name], diff, ma.summary(), mb.summary(), below))
    skipped = tuple(x.name for x in layers if x.name not in acc)
    first = next((r.name for r in rows if r.below_threshold), None)
    notes = list(spec.notes)
    for v, names in ((a, names_a), (b, names_b)):
        absent = [s for s in skipped if s not in names]
        if absent:
            notes.append(f"not materialised in {v}, not compared: {', '.join(absent)}")
    return ComparisonReport(a, b, spec.text, threshold_db, tuple(rows), first, len(spec),
                            skipped, tuple(notes), LAYOUT)


def _pair_sums(x: np.ndarray, y: np.ndarray) -> tuple[DiffSums, Moments, Moments]:
    return diff_sums(x, y), moments(x), moments(y)


def _stream_compare(ws: Workspace, a: str, b: str, spec: InputSpec, opts: V.VariantOptions,
                    layers: tuple[LayerInfo, ...], on_progress: ProgressFn | None,
                    cancel: threading.Event | None) -> tuple[Any, ...]:
    cap_a, names_a = open_capturer(ws, a, opts, layers, cancel)
    cap_b, names_b = open_capturer(ws, b, opts, layers, cancel)
    common = [n for n in names_a if n in names_b]
    acc: dict[str, tuple[DiffSums, Moments, Moments]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    n = len(spec)
    for start in range(0, n, CAPTURE_BATCH):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"compare {a} vs {b}: cancelled after {start} of {n} images")
        batch = spec.images[start:start + CAPTURE_BATCH]
        ta, _, _ = run_capture(cap_a, names_a, batch, a, None, cancel)
        tb, _, _ = run_capture(cap_b, names_b, batch, b, None, cancel)
        for name in common:
            part = _pair_sums(ta[name], tb[name])
            prev = acc.get(name)
            acc[name] = part if prev is None else (prev[0] + part[0], prev[1] + part[1],
                                                   prev[2] + part[2])
            shapes[name] = (n, *ta[name].shape[1:])
        if on_progress:
            on_progress(min(start + CAPTURE_BATCH, n), n, f"compare {a} vs {b}")
    return acc, shapes, names_a, names_b


def _report_to_dict(r: ComparisonReport) -> dict[str, Any]:
    d = asdict(r)
    d.pop("cached")
    return d


def _report_from_dict(d: dict[str, Any]) -> ComparisonReport:
    rows = tuple(LayerComparison(x["name"], tuple(x["shape"]), TensorDiff(**x["diff"]),
                                 x["a"], x["b"], x["below_threshold"]) for x in d["layers"])
    return ComparisonReport(d["a"], d["b"], d["input"], d["threshold_db"], rows,
                            d["first_divergence"], d["n"], tuple(d["skipped"]),
                            tuple(d["notes"]), d["layout"], cached=True)
