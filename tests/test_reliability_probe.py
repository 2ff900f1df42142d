"""The reliability probe (scripts/reliability.py --quick): one case of each kind, in fresh
`r8` processes on the real model and data; every count that must be zero is zero."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZERO = ("tracebacks", "hangs", "silently wrong results", "code executed from a model or data file",
        "leftover temp files after kill -9 and rerun", "cases with another outcome")


@pytest.mark.slow
def test_quick_reliability_probe_prints_zeros():
    proc = subprocess.run([sys.executable, "scripts/reliability.py", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    figures = {m.group(1).strip(): int(m.group(2))
               for m in re.finditer(r"^  (\S[^\n]*?)\s+(\d+)(?:\s+target 0)?$", proc.stdout, re.M)}
    assert figures.get("cases tried", 0) >= 25, proc.stdout + proc.stderr[-2000:]
    for name in ZERO:
        assert figures.get(name) == 0, (name, proc.stdout)
    assert figures["clear one-line errors (r8: error:, exit 2)"] >= 10
    assert figures["recovered with the clean run's numbers"] >= 8
    assert proc.returncode == 0, proc.stdout
