"""Lazy imports of the heavy frameworks, each with an error that names the install command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from engine.errors import require


def tensorflow() -> ModuleType:
    """TensorFlow with legacy Keras (tf_keras) selected and its logging quietened.

    Only the TensorFlow worker (engine.tf_worker) calls this: the CLI and the TUI never import
    TensorFlow, and TensorFlow never shares a process with PyTorch.
    """
    import sys

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _quiet_stderr():  # absl prints start-up lines straight to fd 2
        tf = require("tensorflow", "tensorflow==2.21.0")
    tf.get_logger().setLevel("ERROR")
    return tf


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence OS file descriptor 2 (where C++ logging writes) for the duration.

    Uses fd 2 itself, not ``sys.stderr.fileno()``: a UI may replace sys.stderr with an object
    without a real descriptor (Textual's returns -1). Python errors still raise normally.
    """
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        yield  # no usable fd 2 (e.g. closed): nothing to silence
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tf_keras() -> ModuleType:
    """Legacy Keras 2 (keeps layer names through tf2onnx and folds BatchNorm)."""
    tensorflow()
    return require("tf_keras", "tf_keras==2.21.0")


def torch() -> ModuleType:
    return require("torch", "torch==2.14.1 torchvision==0.29.1")


def onnxruntime() -> ModuleType:
    ort = require("onnxruntime", "onnxruntime==1.32.0")
    ort.set_default_logger_severity(3)
    return ort


def onnx() -> ModuleType:
    return require("onnx", "onnx==1.23.2")


def onnx2torch() -> ModuleType:
    return require("onnx2torch", "onnx2torch==1.5.15")


def tf2onnx() -> ModuleType:
    tensorflow()
    return require("tf2onnx", "tf2onnx==1.17.0")
