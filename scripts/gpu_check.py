"""PyTorch on CUDA vs CPU on every test image: argmax agreement, max abs diff, images/s.

Self-contained for a GPU box that has torch and onnxruntime but not TensorFlow: it needs
only the converted ONNX model (`r8 convert` writes it to the cache; `r8 cache ls` shows
where), onnx2torch, and the test images (a cifar-10-batches-py folder, or an .npz with
`images` (N,32,32,3) uint8, `labels`, `indices` as written by --export-npz).

    python scripts/gpu_check.py --onnx cache/onnx/<key>.onnx [--data-dir DIR | --npz FILE]
    python scripts/gpu_check.py --export-npz test_set.npz     # on a machine with the data

Prints one JSON object (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import convert  # noqa: E402
from engine.errors import R8Error  # noqa: E402
from engine.evaluate import predict  # noqa: E402
from engine.runners import TorchRunner  # noqa: E402

BATCH = 500
REPEATS = 5


def load_images(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    if args.npz:
        with np.load(args.npz, allow_pickle=False) as d:
            return d["images"], d["labels"]
    from engine.workspace import Workspace

    ds = Workspace.open(data_dir=args.data_dir, download=False).test_set
    return ds.images, ds.labels


def timed(runner: TorchRunner, images: np.ndarray, batch: int) -> tuple[np.ndarray, float]:
    import torch

    predict(runner, images[:batch], batch)  # warm-up (cuDNN autotune, allocations)
    best, probs = float("inf"), None
    for _ in range(REPEATS):
        if runner.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        probs, _ = predict(runner, images, batch)  # host->device copy and back included
        if runner.device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return probs, best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", help="the converted float ONNX model")
    ap.add_argument("--data-dir", help="cifar-10-batches-py folder")
    ap.add_argument("--npz", help="test images as .npz (images, labels)")
    ap.add_argument("--export-npz", help="write the test set to this .npz and exit")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    try:
        if args.export_npz:
            from engine.workspace import Workspace

            ds = Workspace.open(data_dir=args.data_dir, download=False).test_set
            np.savez_compressed(args.export_npz, images=ds.images, labels=ds.labels,
                                indices=ds.indices)
            return 0
        import torch

        images, labels = load_images(args)
        module = convert.onnx_to_torch(Path(args.onnx))
        result: dict[str, object] = {
            "torch": torch.__version__, "images": int(len(images)),
            "cuda_available": bool(torch.cuda.is_available()),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        }
        cpu = TorchRunner(module, "torch", "cpu")
        cpu.load()
        p_cpu, t_cpu = timed(cpu, images, BATCH)
        result["cpu"] = {"images_per_second": len(images) / t_cpu,
                         "accuracy": float((p_cpu.argmax(1) == labels).mean())}
        if torch.cuda.is_available():
            import copy

            for tf32 in (False, True):
                gpu = TorchRunner(copy.deepcopy(cpu.module), "torch", "cuda", tf32=tf32)
                gpu.load()
                entry: dict[str, object] = {}
                for batch in (BATCH, len(images)):
                    p_gpu, t_gpu = timed(gpu, images, batch)
                    same = p_gpu.argmax(1) == p_cpu.argmax(1)
                    entry[f"batch_{batch}"] = {
                        "seconds_whole_test_set": t_gpu,
                        "images_per_second": len(images) / t_gpu,
                        "argmax_agreement_with_cpu": float(same.mean()),
                        "argmax_differences": int((~same).sum()),
                        "max_abs_diff_vs_cpu": float(np.abs(p_gpu - p_cpu).max()),
                        "accuracy": float((p_gpu.argmax(1) == labels).mean()),
                    }
                result["cuda_tf32" if tf32 else "cuda"] = entry
        try:
            import onnxruntime as ort

            result["onnxruntime_providers"] = ort.get_available_providers()
        except ImportError:
            result["onnxruntime_providers"] = None
    except R8Error as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
