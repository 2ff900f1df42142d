"""Time quantizing both backends from a warm float model, and warm reloads.

Run: python benchmarks/bench_quantize.py [--threads N]
Uses a fresh temporary cache seeded with the float ONNX conversion (the "warm float
model"), then times (CIFAR-10 loading included in the first): ORT onnx-int8 and
onnx-uint8 (pre-process + calibrate + write), torch-int8 (onnx2torch + FX prepare +
calibrate + convert), then warm open_runner of each (from the cache), and int8 vs float
throughput on the test set. Target: both backends within 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

TARGET_SECONDS = 30.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from engine import evaluate, quantize
    from engine.variants import VariantOptions, open_runner
    from engine.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="r8-bench-quant-"))
    try:
        ws = Workspace.open(cache_dir=str(tmp), download=False)
        t = time.perf_counter()
        ws.onnx_path()
        print(f"float ONNX conversion (setup, not timed): {time.perf_counter() - t:.1f} s")
        opts = VariantOptions(threads=args.threads)
        timings: dict[str, float] = {}
        t_all = time.perf_counter()
        for v in ("onnx-int8", "onnx-uint8", "torch-int8"):
            t = time.perf_counter()
            quantize.quantize(ws, [v], opts)
            timings[v] = time.perf_counter() - t
            print(f"quantize {v:11s} cold: {timings[v]:6.2f} s")
        total = time.perf_counter() - t_all
        verdict = "meets" if total <= TARGET_SECONDS else "MISSES"
        print(f"both backends: {total:.2f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")
        for v in ("onnx-int8", "onnx-uint8", "torch-int8"):
            t = time.perf_counter()
            r = open_runner(ws, v, opts)
            print(f"open_runner {v:11s} warm: {time.perf_counter() - t:6.2f} s")
            r.close()
        test = ws.test_set
        for v in ("onnx", "onnx-int8", "onnx-uint8", "torch", "torch-int8"):
            r = open_runner(ws, v, opts)
            _, secs = evaluate.predict(r, test.images)
            r.close()
            print(f"throughput {v:11s}: {len(test) / secs:8.0f} images/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
