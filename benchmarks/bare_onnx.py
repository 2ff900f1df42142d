"""Bare baseline for a cold `r8 eval --variant onnx`: the same work with the same libraries.

Load the .h5 with tf_keras, convert it with tf2onnx, run ONNX Runtime over the CIFAR-10 test
set (batches of 500, like r8) and print the accuracy. One process, no r8 code, no cache.
Usage: python benchmarks/bare_onnx.py [MODEL.h5] [CIFAR_DIR]
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "assets" / "pretrainedResnet.h5"
DATA = Path(sys.argv[2]) if len(sys.argv) > 2 else SHARED / "data" / "cifar-10-batches-py"


def test_set() -> tuple[np.ndarray, np.ndarray]:
    with open(DATA / "test_batch", "rb") as f:
        d = pickle.load(f, encoding="bytes")  # a trusted local copy (r8 itself never does this)
    images = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(d[b"labels"], np.int64)


def keras_to_onnx_bytes(model: Path) -> bytes:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    m = tf_keras.models.load_model(str(model), compile=False)
    spec = (tf.TensorSpec((None, 32, 32, 3), tf.float32, name="input_1"),)
    proto, _ = tf2onnx.convert.from_keras(m, input_signature=spec, opset=13)
    return proto.SerializeToString()


def main() -> None:
    onnx_bytes = keras_to_onnx_bytes(MODEL)
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    images, labels = test_set()
    probs = np.concatenate([sess.run(None, {name: images[i:i + 500].astype(np.float32)})[0]
                            for i in range(0, len(images), 500)])
    print(f"onnx accuracy {(probs.argmax(1) == labels).mean():.4f} on {len(labels)} images")


if __name__ == "__main__":
    main()
