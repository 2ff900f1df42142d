"""What int8 does to one tensor, ready to draw: the float and the int8 values counted on the
same bins, the integer grid, the zero point, the clip limits, the clipped values in each
tail and how many integer levels are used; for per-channel weights, each output channel's
float range against the per-tensor range.

For a per-tensor scale the bins follow the integer grid: each bin holds ``levels_per_bin``
whole levels, so the int8 bars show the level density and a bar between two levels is
impossible. Per-channel weights have one grid per channel; their bins are plain.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.qparams import ActivationQuant
from engine.stats import HIST_BINS

if TYPE_CHECKING:
    from engine import variants as V
    from engine.activations import ActivationSet
    from engine.workspace import Workspace

FLOAT_REFERENCE = "onnx"
"""Float variant whose tensors stand beside an int8 variant's activations."""
WEIGHT_LAYOUT = "OIHW"
"""Layout of int8 conv weights in the ONNX and PyTorch variants (Keras stores HWIO)."""


@dataclass(frozen=True)
class QuantView:
    """One tensor of an int8 variant beside its float counterpart: its quantization
    parameters (an engine.qparams.ActivationQuant, for weights too) and the histograms."""

    quant: ActivationQuant
    """Scale, zero point, integer range, representable range, float range, levels used and
    clipped count of the tensor. Per-channel weights: the largest channel's scale, the first
    channel's zero point, the range over every channel, the most levels used in one channel.
    The view does not know what the tensor is computed from (``reuses_input_scale`` False,
    ``input`` None)."""
    edges: np.ndarray
    """Bin edges shared by both histograms (float units)."""
    float_counts: np.ndarray
    """Float values per bin (values beyond the edges are not counted: see clipped_*)."""
    int8_counts: np.ndarray
    """Dequantized int8 values per bin."""
    clipped_low: int
    """Float values that round below qmin (they saturate at the low limit); the rest of
    ``quant.clipped`` round above qmax."""
    levels_per_bin: int
    """Whole levels per bin for a per-tensor grid; 0 when the bins are plain."""
    channel_ranges: np.ndarray | None = None
    """Per-channel weights: (C, 4) float min, float max, representable min and max."""
    channel_axis: int = 0
    """Axis of the channels in the variant's own weight layout (ONNX/PyTorch conv: OIHW)."""

    @property
    def name(self) -> str:
        """Keras layer (activations) or ``layer.param`` (weights)."""
        return self.quant.name

    @property
    def clipped_high(self) -> int:
        """Float values that round above qmax."""
        return self.quant.clipped - self.clipped_low

    @property
    def per_channel(self) -> bool:
        return self.channel_ranges is not None


def _levels(x: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, np.float64) / scale) + zero


def _channel_shape(x: np.ndarray, axis: int, n: int) -> list[int]:
    shape = [1] * x.ndim
    shape[axis] = n
    return shape


def quant_view(name: str, float_values: np.ndarray, int8_values: np.ndarray,
               scale: float | np.ndarray, zero_point: int | np.ndarray, qmin: int, qmax: int,
               axis: int = 0, bins: int = HIST_BINS) -> QuantView:
    """The float tensor and its dequantized int8 counterpart (same shape) on one grid.

    ``scale`` and ``zero_point`` are scalars (per tensor) or one per channel along ``axis``.
    """
    f = np.asarray(float_values, np.float64)
    q = np.asarray(int8_values, np.float64)
    if f.shape != q.shape:
        raise ValueError(f"float {f.shape} and int8 {q.shape} tensors differ in shape")
    s = np.atleast_1d(np.asarray(scale, np.float64))
    z = np.atleast_1d(np.asarray(zero_point, np.int64))
    per_channel = s.size > 1
    if per_channel:
        shape = _channel_shape(f, axis, s.size)
        s_b, z_b = s.reshape(shape), z.reshape(shape)
    else:
        s_b, z_b = s[0], z[0]
    flv = _levels(f, s_b, z_b)
    clipped_low = int(np.count_nonzero(flv < qmin))
    clipped_high = int(np.count_nonzero(flv > qmax))
    qlv = np.clip(_levels(q, s_b, z_b), qmin, qmax).astype(np.int64)
    lo_r = (qmin - z) * s
    hi_r = (qmax - z) * s
    range_min, range_max = float(lo_r.min()), float(hi_r.max())
    channel_ranges = None
    if per_channel:
        moved = np.moveaxis(f, axis, 0).reshape(s.size, -1)
        channel_ranges = np.stack([moved.min(axis=1), moved.max(axis=1), lo_r, hi_r], axis=1)
        used = max(int(np.unique(np.moveaxis(qlv, axis, 0)[c]).size) for c in range(s.size))
    else:
        used = int(np.unique(qlv).size)
    fin = f[np.isfinite(f)]
    lo = min(float(fin.min()) if fin.size else 0.0, range_min)
    hi = max(float(fin.max()) if fin.size else 0.0, range_max)
    edges: np.ndarray
    if per_channel or not math.isfinite(s[0]) or s[0] <= 0:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        per_bin = 0
    else:
        step, zero = float(s[0]), int(z[0])
        first = max(qmin, math.floor(lo / step) + zero)
        last = min(qmax, math.ceil(hi / step) + zero)
        per_bin = max(1, math.ceil((last - first + 1) / bins))
        n_bins = math.ceil((last - first + 1) / per_bin)
        edges = ((first - 0.5 + per_bin * np.arange(n_bins + 1) - zero) * step).astype(np.float64)
        edges[0] = min(edges[0], lo)  # float values below the grid's first level, clipped
        edges[-1] = max(edges[-1], hi)
    quant = ActivationQuant(
        name=name, scale=float(s.max()), zero_point=int(z[0]), qmin=int(qmin), qmax=int(qmax),
        range_min=range_min, range_max=range_max,
        float_min=float(fin.min()) if fin.size else math.nan,
        float_max=float(fin.max()) if fin.size else math.nan, levels_used=used,
        levels=int(qmax) - int(qmin) + 1, clipped=clipped_low + clipped_high, count=int(f.size),
        reuses_input_scale=False, input=None)
    return QuantView(
        quant=quant, edges=edges,
        float_counts=np.histogram(fin, bins=edges)[0].astype(np.int64),
        int8_counts=np.histogram(q[np.isfinite(q)], bins=edges)[0].astype(np.int64),
        clipped_low=clipped_low, levels_per_bin=per_bin, channel_ranges=channel_ranges,
        channel_axis=axis)


def activation_views(float_set: ActivationSet, int8_set: ActivationSet,
                     ) -> dict[str, QuantView]:
    """Layer -> QuantView of every int8 activation that has a float tensor on the same images."""
    out = {}
    for name, (scale, zero, qmin, qmax) in int8_set.quant.items():
        ref = float_set.tensors.get(name)
        got = int8_set.tensors.get(name)
        if ref is None or got is None or ref.shape != got.shape:
            continue
        out[name] = quant_view(name, ref, got, scale, zero, qmin, qmax)
    return out


def weight_views(ws: Workspace, variant: str, opts: V.VariantOptions | None = None, *,
                 cancel: threading.Event | None = None) -> dict[tuple[str, str], QuantView]:
    """(layer, param) -> QuantView of every int8 weight tensor with a float counterpart."""
    from engine.weights import weight_arrays

    out = {}
    for layer, param, values, detail in weight_arrays(ws, variant, opts, cancel=cancel):
        if not detail:
            continue
        view = _weight_view(f"{layer}.{param}", values, detail)
        if view is not None:
            out[(layer, param)] = view
    return out


def _weight_view(name: str, values: np.ndarray, detail: Mapping[str, Any]) -> QuantView | None:
    q, ref = np.asarray(detail["q"]), detail.get("float")
    if ref is None or np.shape(ref) != values.shape or q.dtype not in (np.int8, np.uint8):
        return None
    info = np.iinfo(q.dtype)
    return quant_view(name, np.asarray(ref), values, detail["scale"], detail["zero"],
                      int(info.min), int(info.max), int(detail.get("axis", 0)))
