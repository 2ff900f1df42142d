"""Bare baseline for a cold `r8 eval --variant torch`: the same work in two processes.

Process 1 (a child): tf_keras loads the .h5 and tf2onnx converts it to a temporary .onnx.
Process 2 (this one): onnx2torch builds the module and PyTorch runs it over the CIFAR-10 test
set (batches of 500, inference_mode, like r8). TensorFlow and PyTorch never share a process.
Usage: python benchmarks/bare_torch.py [MODEL.h5] [CIFAR_DIR]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHILD = ("import sys; sys.path.insert(0, {here!r}); import bare_onnx; "
         "open({out!r}, 'wb').write(bare_onnx.keras_to_onnx_bytes(bare_onnx.MODEL))")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "model.onnx")
        subprocess.run([sys.executable, "-c", CHILD.format(here=str(HERE), out=out),
                        *sys.argv[1:]], check=True)
        import onnx
        import onnx2torch
        import torch

        module = onnx2torch.convert(onnx.load(out)).eval()
    sys.path.insert(0, str(HERE))
    import bare_onnx

    images, labels = bare_onnx.test_set()
    with torch.inference_mode():
        probs = np.concatenate([
            module(torch.from_numpy(images[i:i + 500].astype(np.float32))).numpy()
            for i in range(0, len(images), 500)])
    print(f"torch accuracy {(probs.argmax(1) == labels).mean():.4f} on {len(labels)} images")


if __name__ == "__main__":
    main()
