"""How numbers, percentages and sizes are written, in one place: rich tables (cli), CSV
(engine.export) and the TUI's tables and panes all call these.

Missing values (None, and NaN such as the accuracy of a class with no images) are ``-`` on
screen and an empty cell in CSV.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"
"""Text of a missing value on screen."""
KIB = 1024
MIB = 1024 * 1024


def missing(x: Any) -> bool:
    """None, or a float NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: float | None, digits: int = 2) -> str:
    """0.8719 -> ``87.19 %``; ``-`` when missing or infinite."""
    if missing(x) or not math.isfinite(float(x)):  # type: ignore[arg-type]
        return MISSING
    return f"{100 * float(x):.{digits}f} %"  # type: ignore[arg-type]


def points(x: float | None, digits: int = 2) -> str:
    """A difference in percentage points with its sign: ``+0.25``; ``-`` when missing."""
    return MISSING if missing(x) else f"{float(x):+.{digits}f}"  # type: ignore[arg-type]


def size(n: int | None) -> str:
    """Bytes as ``309 KiB`` below a MiB, ``1.1 MiB`` from there; ``-`` when unknown."""
    if n is None:
        return MISSING
    return f"{n / KIB:.0f} KiB" if n < MIB else f"{n / MIB:.1f} MiB"


def number(x: Any) -> str:
    """A table cell: 4 significant digits for floats, ``inf``/``-inf``, ``-`` when missing."""
    if missing(x):
        return MISSING
    if isinstance(x, float):
        if not math.isfinite(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.4g}"
    return str(x)


def db(x: Any) -> str:
    """A decibel figure (SQNR) with two decimals, so a column of them lines up (``35.00``
    beside ``32.39``); ``inf`` for identical tensors, ``-`` when missing."""
    if missing(x):
        return MISSING
    x = float(x)
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.2f}"


def csv_cell(x: Any) -> Any:
    """A CSV cell: missing values empty, everything else as is (full precision)."""
    return "" if missing(x) else x
