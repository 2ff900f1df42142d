"""CSV export of tables (rows of plain values), written atomically."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.cache import umask
from engine.errors import UsageError
from engine.format import csv_cell


class ExistsError(UsageError):
    """The CSV file (or a symlink) is already there and overwriting was not asked for."""


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]],
              force: bool = False) -> Path:
    """Write a table to ``path`` (temp file, then rename); returns the path. An existing file
    or symlink is refused (ExistsError) unless ``force``; a symlink is then replaced itself,
    never written through."""
    target = Path(path).expanduser()
    if target.is_dir() and not target.is_symlink():
        raise UsageError(f"{target} is a folder; give a file name ending in .csv")
    if os.path.lexists(target) and not force:
        what = "a symlink" if target.is_symlink() else "a file"
        raise ExistsError(f"{target} already exists ({what}); pass --force to overwrite it or "
                          "choose another name")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
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
