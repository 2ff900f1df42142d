"""How a per-layer metric becomes a colour on the layer tree, and the legend that says so.

Each metric gets the scale that fits it:

- SQNR (accumulated or isolated, dB): fixed bands, >= 30 dB good, 20-30 dB fair, < 20 dB
  poor; a higher SQNR is better, so the best layers are green whatever the others are.
- sensitivity (points of accuracy gained when the layer is left float): bands against the
  noise floor: within noise green, up to twice the floor yellow, beyond red.
- everything else (activation std, zeros share...): rank-based over the layers that have a
  value (quartiles of the rank, not of the range), so one outlier such as the raw input's
  std cannot paint every other layer the same colour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

GOOD, FAIR, POOR, WORST = "green", "yellow", "dark_orange", "red"
RANK_COLOURS = (GOOD, FAIR, POOR, WORST)
"""Rank scale, lowest quarter first."""
SQNR_BANDS = ((30.0, GOOD), (20.0, FAIR), (-math.inf, WORST))
"""(lowest SQNR of the band, colour), best band first."""


@dataclass(frozen=True)
class Metric:
    """One way to colour the tree."""

    name: str
    """What the cycle key shows (``SQNR dB``)."""
    column: str
    """Column heading (at most 6 characters)."""
    scale: str
    """``sqnr``, ``sensitivity`` or ``rank``."""


NONE = Metric("none", "", "none")
ACT_STD = Metric("act std", "std", "rank")
ACT_ZEROS = Metric("act zeros", "zeros", "rank")
SQNR = Metric("SQNR dB", "acc dB", "sqnr")
ISOLATED = Metric("isolated SQNR dB", "iso dB", "sqnr")
SENSITIVITY = Metric("sensitivity", "sens", "sensitivity")
METRICS = (NONE, ACT_STD, ACT_ZEROS, SQNR, ISOLATED, SENSITIVITY)
"""The colour modes, in the order ``c`` cycles them."""


def finite(values: Mapping[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def sqnr_colour(db: float) -> str:
    return next(c for lo, c in SQNR_BANDS if db >= lo)


def sensitivity_colour(points: float, noise: float) -> str:
    if points <= noise:
        return GOOD
    return FAIR if points <= 2 * noise else WORST


def rank_colours(values: Mapping[str, float | None]) -> dict[str, str]:
    """Layer -> colour by the quartile of its rank among the layers with a finite value
    (equal values share a rank: the lowest position they take)."""
    vals = finite(values)
    ordered = sorted(vals.values())
    n = len(ordered)
    out = {}
    for name, v in vals.items():
        rank = ordered.index(v)  # first position: ties share the colour
        out[name] = RANK_COLOURS[min(len(RANK_COLOURS) - 1, rank * len(RANK_COLOURS) // max(n, 1))]
    return out


def colours(metric: Metric, values: Mapping[str, float | None],
            noise: float = 0.0) -> dict[str, str]:
    """Layer -> colour for every layer with a finite value."""
    if metric.scale == "sqnr":
        return {k: sqnr_colour(v) for k, v in finite(values).items()}
    if metric.scale == "sensitivity":
        return {k: sensitivity_colour(v, noise) for k, v in finite(values).items()}
    return rank_colours(values)


def legend(metric: Metric, values: Mapping[str, float | None], noise: float = 0.0,
           resolution: float | None = None) -> list[tuple[str, str]]:
    """(text, colour) pieces of the legend line of ``metric``."""
    if metric.scale == "sqnr":
        return [("≥30 dB", GOOD), ("20-30", FAIR), ("<20 dB", WORST)]
    if metric.scale == "sensitivity":
        pieces = [(f"within noise ≤{noise:.2f}", GOOD), (f"≤{2 * noise:.2f}", FAIR),
                  (f">{2 * noise:.2f} pts", WORST)]
        if resolution is not None:
            pieces.append((f"1 img = {resolution:.2g} pts", "dim"))
        return pieces
    vals = sorted(finite(values).values())
    if not vals:
        return [("no values yet", "dim")]
    n = len(vals)
    cuts = [vals[min(n - 1, i * n // 4)] for i in range(4)]
    return [(f"≥{c:.3g}", col) for c, col in zip(cuts, RANK_COLOURS, strict=True)] + [
        ("rank quartiles", "dim")]
