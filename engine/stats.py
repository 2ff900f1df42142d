"""Tensor statistics, fixed-bin histograms and tensor comparison (pure numpy).

Conventions, the same everywhere they are shown:

- Statistics are taken over the finite values; ``nonfinite`` counts the NaN/inf elements left
  out, so a NaN never hides (and never poisons the percentiles). An empty tensor gives
  ``count == 0`` and NaN everywhere else.
- A comparison with any NaN or inf on either side gives NaN metrics ("NaN always fails").
- SQNR is ``20 * log10(||ref|| / ||ref - other||)`` in dB: ``inf`` when the tensors are
  identical, ``-inf`` when ``ref`` is all zeros and ``other`` is not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.errors import UsageError

HIST_BINS = 64
"""Default number of equal-width histogram bins."""
PERCENTILES = (1.0, 5.0, 50.0, 95.0, 99.0)
"""The percentiles every TensorStats carries (linear interpolation, numpy's default)."""
_NAN = float("nan")


@dataclass(frozen=True)
class TensorStats:
    """Summary statistics of one tensor's finite values."""

    count: int
    """Number of finite elements the statistics are taken over."""
    min: float
    """Smallest finite value (NaN when count is 0)."""
    max: float
    """Largest finite value."""
    mean: float
    """Mean of the finite values."""
    std: float
    """Population standard deviation (ddof=0)."""
    mean_abs: float
    """Mean of |x|."""
    zeros_fraction: float
    """Share of the finite values that are exactly 0 (0-1)."""
    p1: float
    """1st percentile."""
    p5: float
    """5th percentile."""
    p50: float
    """Median."""
    p95: float
    """95th percentile."""
    p99: float
    """99th percentile."""
    nonfinite: int = 0
    """Elements left out because they are NaN or +-inf."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tensor_stats(x: np.ndarray) -> TensorStats:
    """Count, range, moments, share of zeros and percentiles of ``x`` (any shape)."""
    flat = np.asarray(x).ravel()
    if flat.dtype.kind not in "fiub":
        raise UsageError(f"cannot take statistics of a {flat.dtype} array; pass numbers")
    flat = flat.astype(np.float64, copy=False)
    finite = np.isfinite(flat)
    nonfinite = int(flat.size - np.count_nonzero(finite))
    if nonfinite:
        flat = flat[finite]
    n = int(flat.size)
    if n == 0:
        return TensorStats(0, *([_NAN] * 11), nonfinite=nonfinite)  # type: ignore[arg-type, misc]
    mean = float(flat.mean())
    std = float(np.sqrt(np.mean((flat - mean) ** 2)))
    pcts = np.percentile(flat, PERCENTILES)
    return TensorStats(
        count=n, min=float(flat.min()), max=float(flat.max()), mean=mean, std=std,
        mean_abs=float(np.abs(flat).mean()),
        zeros_fraction=float(n - np.count_nonzero(flat)) / n,
        p1=float(pcts[0]), p5=float(pcts[1]), p50=float(pcts[2]), p95=float(pcts[3]),
        p99=float(pcts[4]), nonfinite=nonfinite,
    )


@dataclass(frozen=True)
class Histogram:
    """Counts of a tensor's finite values in equal-width bins."""

    counts: np.ndarray
    """int64 (bins,); the last bin includes its right edge."""
    edges: np.ndarray
    """float64 (bins + 1,), increasing."""

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.tolist(), "edges": self.edges.tolist()}


def histogram(
    x: np.ndarray, bins: int = HIST_BINS, range: tuple[float, float] | None = None
) -> Histogram:
    """``bins`` equal-width bins over ``range`` (default: the finite min..max).

    A constant tensor gets the range value +-0.5; an empty one gets 0..1 and zero counts.
    Values outside an explicit range are not counted.
    """
    if bins < 1:
        raise UsageError(f"histogram needs at least 1 bin, got {bins}")
    flat = np.asarray(x, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if range is None:
        if flat.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(flat.min()), float(flat.max())
    else:
        lo, hi = float(range[0]), float(range[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            raise UsageError(f"histogram range {range} is not a finite (low, high) pair")
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(flat, bins=bins, range=(lo, hi))
    return Histogram(counts.astype(np.int64), edges.astype(np.float64))


@dataclass(frozen=True)
class TensorDiff:
    """How far ``other`` is from ``ref`` (same shape)."""

    sqnr_db: float
    """20*log10(||ref|| / ||ref - other||); inf when identical, NaN with any NaN/inf input."""
    cosine: float
    """Cosine similarity of the flattened tensors (1 when both are all zeros, 0 when one is)."""
    mse: float
    """Mean squared difference."""
    max_abs_diff: float
    """Largest absolute elementwise difference."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NAN_DIFF = TensorDiff(_NAN, _NAN, _NAN, _NAN)
"""The result for empty tensors or tensors holding NaN/inf."""


@dataclass(frozen=True)
class DiffSums:
    """Running sums from which a TensorDiff is finished; add batches with ``+``."""

    ref_sq: float = 0.0
    """sum(ref^2)."""
    other_sq: float = 0.0
    """sum(other^2)."""
    dot: float = 0.0
    """sum(ref * other)."""
    err_sq: float = 0.0
    """sum((ref - other)^2)."""
    max_abs: float = 0.0
    """max |ref - other| so far."""
    count: int = 0
    """Elements seen."""
    nonfinite: bool = False
    """Whether any NaN/inf was seen on either side."""

    def __add__(self, o: DiffSums) -> DiffSums:
        return DiffSums(self.ref_sq + o.ref_sq, self.other_sq + o.other_sq, self.dot + o.dot,
                        self.err_sq + o.err_sq, max(self.max_abs, o.max_abs),
                        self.count + o.count, self.nonfinite or o.nonfinite)

    def finish(self) -> TensorDiff:
        if self.count == 0 or self.nonfinite:
            return NAN_DIFF
        if self.err_sq == 0.0:
            sqnr = math.inf
        elif self.ref_sq == 0.0:
            sqnr = -math.inf
        else:
            sqnr = 10.0 * math.log10(self.ref_sq / self.err_sq)
        denom = math.sqrt(self.ref_sq) * math.sqrt(self.other_sq)
        if denom == 0.0:
            cosine = 1.0 if self.ref_sq == self.other_sq == 0.0 else 0.0
        else:
            cosine = max(-1.0, min(1.0, self.dot / denom))
        return TensorDiff(sqnr, cosine, self.err_sq / self.count, self.max_abs)


def diff_sums(ref: np.ndarray, other: np.ndarray) -> DiffSums:
    """The running sums of one pair of same-shape tensors (float64 accumulation)."""
    a, b = np.asarray(ref), np.asarray(other)
    if a.shape != b.shape:
        raise UsageError(f"cannot compare tensors of shapes {a.shape} and {b.shape}")
    a = a.astype(np.float64, copy=False).ravel()
    b = b.astype(np.float64, copy=False).ravel()
    if a.size == 0:
        return DiffSums()
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return DiffSums(count=int(a.size), nonfinite=True)
    d = a - b
    return DiffSums(float(a @ a), float(b @ b), float(a @ b), float(d @ d),
                    float(np.abs(d).max()), int(a.size))


def compare_tensors(ref: np.ndarray, other: np.ndarray) -> TensorDiff:
    """SQNR (dB), cosine similarity, MSE and max |diff| of ``other`` against ``ref``."""
    return diff_sums(ref, other).finish()


def sqnr_db(ref: np.ndarray, other: np.ndarray) -> float:
    """Just the SQNR of ``other`` against ``ref`` in dB."""
    return compare_tensors(ref, other).sqnr_db


@dataclass(frozen=True)
class Moments:
    """Running count, range, mean, std and share of zeros; add batches with ``+``.

    Used where percentiles would need every value at once (comparisons over many images).
    """

    count: int = 0
    """Finite elements seen."""
    total: float = 0.0
    """Sum of the finite values."""
    total_sq: float = 0.0
    """Sum of their squares."""
    zeros: int = 0
    """Exact zeros seen."""
    min: float = math.inf
    """Smallest finite value (inf until one is seen)."""
    max: float = -math.inf
    """Largest finite value."""

    def __add__(self, o: Moments) -> Moments:
        return Moments(self.count + o.count, self.total + o.total, self.total_sq + o.total_sq,
                       self.zeros + o.zeros, min(self.min, o.min), max(self.max, o.max))

    def summary(self) -> dict[str, float]:
        """min, max, mean, std (population) and zeros_fraction; NaN when nothing was seen."""
        if self.count == 0:
            return dict.fromkeys(("min", "max", "mean", "std", "zeros_fraction"), _NAN)
        mean = self.total / self.count
        var = max(self.total_sq / self.count - mean * mean, 0.0)
        return {"min": self.min, "max": self.max, "mean": mean, "std": math.sqrt(var),
                "zeros_fraction": self.zeros / self.count}


def moments(x: np.ndarray) -> Moments:
    """The running sums of one tensor's finite values."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return Moments()
    return Moments(int(flat.size), float(flat.sum()), float(flat @ flat),
                   int(flat.size - np.count_nonzero(flat)), float(flat.min()), float(flat.max()))
