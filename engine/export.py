"""CSV export of tables (rows of plain values), written atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import UsageError
from engine.format import csv_cell


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a table to ``path`` (temp file, then rename); returns the path."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name ending in .csv")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tmp-", suffix=".csv")
        with os.fdopen(fd, "w", newline="") as f:
            f.write(buf.getvalue())
        os.replace(tmp, target)
    except OSError as exc:
        raise UsageError(f"cannot write {target} ({exc.strerror}); choose a writable path") from None
    return target
