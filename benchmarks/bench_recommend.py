"""Time `r8 quantize --recommend` for all three int8 variants, cold and warm, and print
each choice with its test-set figures.

Run: python benchmarks/bench_recommend.py
Uses a fresh temporary cache seeded with the float ONNX conversion and the layer map (as
after `r8 convert` and `r8 layers`); "cold" then covers everything the search does:
calibrations, bias corrections, the validation sensitivity ranking, every candidate's
validation predictions and the test-set evaluation of the choice. "warm" is the same
call again. Targets (issue 11): all three under 10 minutes cold on 2 cores, seconds warm;
every recommendation >= 87.15 % on the shared 9,979 test images with <= 2 float layers.
Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

VARIANTS = ("onnx-int8", "onnx-uint8", "torch-int8")


def main() -> None:
    warnings.filterwarnings("ignore")
    from engine import recommend as RC
    from engine.layers import layer_map
    from engine.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="r8-bench-rec-"))
    try:
        ws = Workspace.open(cache_dir=str(tmp), download=False)
        t = time.perf_counter()
        layer_map(ws)
        print(f"float ONNX + layer map (setup, not timed): {time.perf_counter() - t:.1f} s")
        print(f"load average before: {os.getloadavg()[0]:.1f} (2-core machine shared)")
        for run in ("cold", "warm"):
            t_all, c_all = time.perf_counter(), time.process_time()
            for v in VARIANTS:
                t, c = time.perf_counter(), time.process_time()
                rec = RC.recommend(ws, v)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                tf = rec.test
                print(f"{run} {v:11s} {wall:7.1f} s wall ({cpu:6.1f} s CPU): "
                      f"{rec.chosen.label}; validation {rec.chosen.val_delta_points:+.2f} "
                      f"({'met' if rec.met_target else 'missed'}); test "
                      f"{100 * tf['chosen']['accuracy']:.2f} % (plain "
                      f"{100 * tf['plain']['accuracy']:.2f} %, float "
                      f"{100 * tf['float']['accuracy']:.2f} %)")
            print(f"{run} all three: {time.perf_counter() - t_all:.1f} s wall "
                  f"({time.process_time() - c_all:.1f} s CPU); load average now "
                  f"{os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
