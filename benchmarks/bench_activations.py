"""Activation capture and comparison speed (prints figures; targets from issue 5).

- warm capture + statistics for one image, all layers, one variant: target < 200 ms
- float vs int8 per-layer comparison over 500 images: target < 10 s on 2 cores

Run: python benchmarks/bench_activations.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import math
import time

from engine import activations as A
from engine import compare as C
from engine import inputs as I
from engine.workspace import Workspace

WARM_TARGET_S = 0.2
SET_TARGET_S = 10.0
SET_SPEC = "batch:test:0-599"
"""Official indices 0-599; the first 500 present in the copy are compared."""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--variant", default="torch")
    p.add_argument("--int8", default="torch-int8")
    args = p.parse_args()
    ws = Workspace.open(cache_dir=args.cache_dir, download=False)
    one = I.parse_input(ws, "test:3")
    A.capture_activations(ws, args.variant, one)  # fill the cache (cold)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        spec = I.parse_input(ws, "test:3")
        acts = A.capture_activations(ws, args.variant, spec)
        stats = A.activation_stats(acts)
        runs.append(time.perf_counter() - t0)
    print(f"warm capture + stats, 1 image, {len(stats)} layers of {args.variant}: "
          f"best {1000 * min(runs):.1f} ms, median {1000 * sorted(runs)[2]:.1f} ms "
          f"(target {1000 * WARM_TARGET_S:.0f} ms)")

    spec = I.parse_input(ws, SET_SPEC)
    spec = I.InputSpec(spec.text + "[:500]", spec.images[:500], spec.labels[:500],
                       spec.indices[:500])
    for v in ("torch", args.int8):  # models converted / quantized beforehand
        A.capture_activations(ws, v, one)
    t0 = time.perf_counter()
    rep = C.compare_activations(ws, "torch", args.int8, spec)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    C.compare_activations(ws, "torch", args.int8, spec)
    cached = time.perf_counter() - t0
    print(f"torch vs {args.int8} over {rep.n} images, {len(rep.layers)} layers: "
          f"{cold:.2f} s computed, {1000 * cached:.1f} ms from cache (target {SET_TARGET_S:g} s)")
    sq = [r.diff.sqnr_db for r in rep.layers if math.isfinite(r.diff.sqnr_db)]
    print(f"  per-layer SQNR {min(sq):.1f}-{max(sq):.1f} dB, first divergence "
          f"(< {rep.threshold_db:g} dB): {rep.first_divergence}")


if __name__ == "__main__":
    main()
