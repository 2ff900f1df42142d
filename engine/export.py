"""CSV export of tables (rows of plain values), written atomically.

Numbers are written as computed, at ``CSV_DIGITS`` significant digits (``-0.1``, never
``-0.10000000000000009``); missing values (None, NaN) are empty cells. A first comment line
can say what the table was computed on (variant, input, subset, model hash, r8 version).
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from engine.cache import umask
from engine.errors import UsageError
from engine.format import csv_cell

CSV_DIGITS = 6
"""Significant digits of a float in CSV: the float32 values r8 computes carry ~7."""


def export_cell(x: Any) -> Any:
    """A CSV cell: missing values empty, floats at CSV_DIGITS significant digits (``inf``
    and ``-inf`` as such), integers and text as they are."""
    x = csv_cell(x)
    if isinstance(x, bool) or isinstance(x, Integral):
        return int(x)
    if isinstance(x, Real):
        f = float(x)
        if not math.isfinite(f):
            return "inf" if f > 0 else "-inf"
        return format(f, f".{CSV_DIGITS}g")
    return x


def meta_line(meta: Mapping[str, str]) -> str:
    """``# r8 variant=torch-int8 input=test:0 …``: what a table was computed on."""
    return "# r8 " + " ".join(f"{k}={v}" for k, v in meta.items())


class ExistsError(UsageError):
    """The CSV file (or a symlink) is already there and overwriting was not asked for."""


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]],
              force: bool = False, meta: Mapping[str, str] | None = None) -> Path:
    """Write a table to ``path`` (temp file, then rename); returns the path. An existing file
    or symlink is refused (ExistsError) unless ``force``; a symlink is then replaced itself,
    never written through. ``meta`` becomes a first comment line (``# r8 key=value …``)."""
    target = Path(path).expanduser()
    if target.is_dir() and not target.is_symlink():
        raise UsageError(f"{target} is a folder; give a file name ending in .csv")
    if os.path.lexists(target) and not force:
        what = "a symlink" if target.is_symlink() else "a file"
        raise ExistsError(f"{target} already exists ({what}); pass --force to overwrite it or "
                          "choose another name")
    buf = io.StringIO()
    writer = csv.writer(buf)
    if meta:
        buf.write(meta_line(meta) + "\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([export_cell(v) for v in row])
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".tmp-{os.getpid()}-", suffix=".csv")
        try:
            os.fchmod(fd, 0o666 & ~umask())
            with os.fdopen(fd, "w", newline="") as f:
                f.write(buf.getvalue())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {target} ({exc.strerror}); choose a writable path") from None
    return target
