"""Time `r8 sensitivity` on the full shared test set, cold and warm, and print the table.

Run: python benchmarks/bench_sensitivity.py [--variant torch-int8] [--mode float-one]
Uses a fresh temporary cache seeded with the float ONNX conversion and the layer map (as
after `r8 convert` and `r8 layers`), then runs the sensitivity of one int8 variant: one
calibration, 14 layer points and the noise floor (calibration seeds 0-3), each point
evaluated on every test image. Then the same call again (warm: everything from the cache).
Target (issue 10): minutes on 2 cores, not hours. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", default="torch-int8")
    ap.add_argument("--mode", default="float-one")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from engine import sensitivity as S
    from engine.layers import layer_map
    from engine.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="r8-bench-sens-"))
    try:
        ws = Workspace.open(cache_dir=str(tmp), download=False)
        t = time.perf_counter()
        layer_map(ws)
        print(f"float ONNX + layer map (setup, not timed): {time.perf_counter() - t:.1f} s")
        test = ws.test_set
        for run in ("cold", "warm"):
            t = time.perf_counter()
            rep = S.sensitivity(ws, args.variant, test, args.mode)
            wall = time.perf_counter() - t
            print(f"sensitivity {args.variant} {args.mode} on {len(test)} images, {run}: "
                  f"{wall:.1f} s ({len(rep.layers)} layers + {len(rep.noise_accuracies)} "
                  "noise-floor seeds)")
        print(f"baseline {rep.baseline} {100 * rep.baseline_accuracy:.2f} %, float "
              f"{100 * rep.float_accuracy:.2f} %, noise floor {rep.noise_floor_points:.2f} "
              f"points ({rep.noise_accuracies})")
        for r in rep.layers:
            print(f"  {r.layer:18s} {100 * r.accuracy:6.2f} %  {r.delta_points:+.2f}  "
                  f"+{r.gained:<3d} -{r.lost:<3d}  p={r.p_value:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
