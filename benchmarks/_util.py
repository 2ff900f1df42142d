"""Small helpers shared by the benchmark scripts (timing subprocesses, printing figures)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_r8(args: list[str], cache_dir: Path) -> tuple[float, float]:
    """Run `r8 ARGS` in a fresh process; returns (wall seconds, peak RSS MiB of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "--cache-dir", str(cache_dir), *args],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(after, before) / 1024


def line(label: str, value: str, target: str = "") -> None:
    print(f"{label:<58} {value:>14}   {target}")
