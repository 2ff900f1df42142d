"""Quantization parameters of every activation of an int8 variant, against what the float
model puts there.

Per materialised layer of the int8 variant: scale and zero point; the representable range
in float units, (qmin - zp) * scale .. (qmax - zp) * scale, against the range the FLOAT
model's tensor (onnx) takes on the same images; how many of the integer levels the int8
tensor uses; the exact count (and share) of float values that round beyond the integer
range (clipped: they saturate); and whether the tensor reuses its input's scale and zero
point (ORT's average pooling and flatten do, torch-int8's pooling too).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine import variants as V
from engine.activations import (
    CAPTURE_BATCH,
    CAPTURE_LIBRARIES,
    LAYOUT,
    open_capturer,
    run_capture,
)
from engine.cache import make_key
from engine.errors import CancelledError
from engine.inputs import InputSpec, check_images
from engine.layers import LayerInfo, QuantParams, layer_map
from engine.types import ProgressFn
from engine.workspace import Workspace

QPARAMS_STAGE = "qparams"
FLOAT_REFERENCE = "onnx"
"""The float variant whose tensors give the observed float range and the clipped count."""


@dataclass(frozen=True)
class ActivationQuant:
    """One activation tensor of an int8 variant."""

    name: str
    """Keras layer whose output the tensor carries."""
    scale: float
    """Quantization step in float units."""
    zero_point: int
    """Integer that stands for 0.0."""
    qmin: int
    """Lowest integer level (0 for uint8, -128 for int8)."""
    qmax: int
    """Highest integer level (255, or 127 with reduce_range / int8)."""
    range_min: float
    """(qmin - zero_point) * scale: the lowest representable value."""
    range_max: float
    """(qmax - zero_point) * scale: the highest representable value."""
    float_min: float
    """Lowest value of the float model's tensor on the same images."""
    float_max: float
    """Highest value of the float model's tensor."""
    levels_used: int
    """Distinct integer levels the int8 tensor takes."""
    levels: int
    """qmax - qmin + 1."""
    clipped: int
    """Float values that round beyond [qmin, qmax] (they saturate in int8)."""
    count: int
    """Values seen."""
    reuses_input_scale: bool
    """Same scale and zero point as the tensor it is computed from."""
    input: str | None
    """The quantized tensor (Keras layer) it is computed from, if any."""

    @property
    def clipped_share(self) -> float:
        return self.clipped / self.count if self.count else float("nan")


@dataclass(frozen=True)
class QuantParamsReport:
    """Quantization parameters of every materialised activation of one int8 variant."""

    variant: str
    """The int8 variant."""
    input: str
    """Input spec text."""
    n: int
    """Images."""
    layers: tuple[ActivationQuant, ...]
    """Model order."""
    reference: str = FLOAT_REFERENCE
    """Float variant giving the observed ranges."""
    notes: tuple[str, ...] = ()
    """Anything the reader should know."""
    cached: bool = False
    """Served from the cache."""


def check_quant_variant(variant: str) -> None:
    V.check_quantized(variant, "--quant")


def activation_qparams(
    ws: Workspace,
    variant: str,
    spec: InputSpec,
    opts: V.VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> QuantParamsReport:
    """Scale, zero point, ranges, levels used and clipped count of every activation (cached)."""
    opts = opts or V.VariantOptions()
    check_quant_variant(variant)
    check_images(spec)
    layers = layer_map(ws, opts.opset)
    key = make_key(QPARAMS_STAGE, {"variant": V.identity(ws, variant, opts),
                                   "float": V.identity(ws, FLOAT_REFERENCE, opts),
                                   "input": spec.identity, "layout": LAYOUT}, CAPTURE_LIBRARIES)
    return ws.cache.json_result(
        QPARAMS_STAGE, key, lambda: _compute(ws, variant, spec, opts, layers, on_progress, cancel),
        _to_dict, _from_dict, {"variant": variant, "input": spec.text})


def quantized_input(layers: tuple[LayerInfo, ...], name: str,
                    quant: dict[str, QuantParams]) -> str | None:
    """The nearest quantized tensor upstream of ``name`` along first inputs (through
    layers with no tensor of their own, e.g. a folded BatchNorm's conv)."""
    by_name = {x.name: x for x in layers}
    cur = by_name[name]
    while cur.inputs:
        up = cur.inputs[0]
        if up in quant:
            return up
        cur = by_name[up]
    return None


def _compute(ws: Workspace, variant: str, spec: InputSpec, opts: V.VariantOptions,
             layers: tuple[LayerInfo, ...], on_progress: ProgressFn | None,
             cancel: threading.Event | None) -> QuantParamsReport:
    cap_q, names_q = open_capturer(ws, variant, opts, layers)
    cap_f, names_f = open_capturer(ws, FLOAT_REFERENCE, opts, layers)
    quant: dict[str, QuantParams] = {}
    seen: dict[str, np.ndarray] = {}  # layer -> bool per integer level
    acc: dict[str, list[Any]] = {}  # layer -> [float_min, float_max, clipped, count]
    n = len(spec)
    for start in range(0, n, CAPTURE_BATCH):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"quantization parameters of {variant}: cancelled after "
                                 f"{start} of {n} images")
        batch = spec.images[start:start + CAPTURE_BATCH]
        tq, _, q = run_capture(cap_q, names_q, batch, variant, None, cancel)
        tf, _, _ = run_capture(cap_f, names_f, batch, FLOAT_REFERENCE, None, cancel)
        for name, params in q.items():
            quant.setdefault(name, params)
            scale, zero, qmin, qmax = params
            lv = np.rint(tq[name].astype(np.float64) / scale).astype(np.int64) + zero
            hits = np.bincount(np.clip(lv, qmin, qmax).ravel() - qmin,
                               minlength=qmax - qmin + 1) > 0
            prev_hits = seen.get(name)
            if prev_hits is not None and prev_hits.size < hits.size:
                prev_hits = np.pad(prev_hits, (0, hits.size - prev_hits.size))
            seen[name] = hits if prev_hits is None else prev_hits | hits
            ref = tf.get(name)
            if ref is None:
                continue
            fl = np.rint(ref.astype(np.float64) / scale) + zero
            clipped = int(np.count_nonzero((fl < qmin) | (fl > qmax)))
            prev = acc.get(name, [np.inf, -np.inf, 0, 0])
            acc[name] = [min(prev[0], float(ref.min())), max(prev[1], float(ref.max())),
                         prev[2] + clipped, prev[3] + int(ref.size)]
        if on_progress:
            on_progress(min(start + CAPTURE_BATCH, n), n, f"quantization parameters {variant}")
    rows = []
    for x in layers:
        if x.name not in quant:
            continue
        scale, zero, qmin, qmax = quant[x.name]
        up = quantized_input(layers, x.name, quant)
        fmin, fmax, clipped, count = acc.get(x.name, [np.nan, np.nan, 0, 0])
        rows.append(ActivationQuant(
            x.name, scale, zero, qmin, qmax, (qmin - zero) * scale, (qmax - zero) * scale,
            float(fmin), float(fmax), int(seen[x.name].sum()), qmax - qmin + 1, int(clipped),
            int(count), up is not None and quant[up][:2] == (scale, zero), up))
    missing = [x.name for x in layers if x.name in quant and x.name not in acc]
    notes = list(spec.notes)
    if missing:
        notes.append(f"no float tensor in {FLOAT_REFERENCE} for: {', '.join(missing)}")
    return QuantParamsReport(variant, spec.text, n, tuple(rows), FLOAT_REFERENCE, tuple(notes))


def _to_dict(r: QuantParamsReport) -> dict[str, Any]:
    d = asdict(r)
    d.pop("cached")
    return d


def _from_dict(d: dict[str, Any]) -> QuantParamsReport:
    return QuantParamsReport(d["variant"], d["input"], int(d["n"]),
                             tuple(ActivationQuant(**x) for x in d["layers"]), d["reference"],
                             tuple(d["notes"]), cached=True)
