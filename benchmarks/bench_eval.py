"""Eval throughput: the engine path vs a bare framework loop on the same batches.

Targets (issue 3): engine ONNX within 1.2x of a bare ONNX Runtime loop; engine PyTorch within
1.2x of a bare torch.inference_mode() loop; peak memory of `r8 eval` (all three float
variants, cold) under 3 GB. Prints images/s for every variant, float and int8.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _util import line, run_r8

from engine import convert, evaluate
from engine import variants as V
from engine.workspace import Workspace

BATCH = evaluate.DEFAULT_BATCH_SIZE
REPEATS = 3


def bare_onnx(onnx_path: Path, images: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    t0 = time.perf_counter()
    for s in range(0, len(images), BATCH):
        sess.run(None, {name: images[s:s + BATCH].astype(np.float32)})
    return time.perf_counter() - t0


def bare_torch(onnx_path: Path, images: np.ndarray) -> float:
    import torch

    module = convert.onnx_to_torch(onnx_path)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(images), BATCH):
            module(torch.from_numpy(images[s:s + BATCH].astype(np.float32)))
    return time.perf_counter() - t0


def engine_path(ws: Workspace, variant: str, images: np.ndarray) -> float:
    runner = V.open_runner(ws, variant)
    try:
        return evaluate.predict(runner, images, BATCH)[1]
    finally:
        runner.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--int8", default="onnx-int8,onnx-uint8,torch-int8",
                    help="quantized variants to time as well ('' for none)")
    args = ap.parse_args()
    ws = Workspace.open(download=False)
    images = ws.test_set.images
    n = len(images)
    onnx_path = ws.onnx_path()
    print(f"{n} images, batch {BATCH}, best of {REPEATS}")
    for variant, bare in (("onnx", bare_onnx), ("torch", bare_torch)):
        b = min(bare(onnx_path, images) for _ in range(REPEATS))
        e = min(engine_path(ws, variant, images) for _ in range(REPEATS))
        line(f"{variant}: bare loop", f"{n / b:,.0f} img/s")
        line(f"{variant}: engine (runner.infer)", f"{n / e:,.0f} img/s",
             f"ratio {e / b:.2f}x (target <= 1.2x)")
    for variant in ["keras", *[v for v in args.int8.split(",") if v]]:
        e = min(engine_path(ws, variant, images) for _ in range(REPEATS if variant != "keras" else 1))
        line(f"{variant}: engine", f"{n / e:,.0f} img/s")
    with tempfile.TemporaryDirectory() as tmp:
        wall, rss = run_r8(["eval"], Path(tmp))
        line("r8 eval (keras,onnx,torch), cold cache: wall", f"{wall:.1f} s")
        line("r8 eval (keras,onnx,torch), cold cache: peak RSS", f"{rss:,.0f} MiB",
             "target < 3072 MiB")
        warm, _ = run_r8(["eval"], Path(tmp))
        line("r8 eval, warm (served from cache)", f"{warm:.2f} s", "target well under 1 s")


if __name__ == "__main__":
    main()
