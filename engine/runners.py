"""Runners with one lifecycle (load, infer, close), one per framework.

``infer(batch)`` takes raw 0-255 pixels, NHWC, (N, 32, 32, 3), uint8 or float, and returns
float32 class probabilities (N, 10). Each framework's layout, dtype and device quirks stay
inside its runner.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine import frameworks, tf_jobs
from engine.errors import DataError, ModelError, UsageError
from engine.tf_worker import TFWorker

DEVICES = ("cpu", "cuda", "auto")


class Runner(Protocol):
    name: str
    device: str

    def load(self) -> None: ...
    def infer(self, batch: np.ndarray) -> np.ndarray: ...
    def close(self) -> None: ...


def check_batch(batch: np.ndarray) -> np.ndarray:
    """Validate an input batch and return it as float32."""
    arr = np.asarray(batch)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (32, 32, 3):
        raise DataError(
            f"input of shape {arr.shape} is not NHWC (N, 32, 32, 3); pass raw 32x32 RGB pixels"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


@dataclass(frozen=True)
class DeviceChoice:
    """The device a runner will use, and why."""

    device: str
    """``cpu`` or ``cuda``."""
    notice: str
    """Empty, or a one-line notice (e.g. a fallback to CPU)."""


def choose_torch_device(requested: str) -> DeviceChoice:
    if requested not in DEVICES:
        raise UsageError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}")
    if requested == "cpu":
        return DeviceChoice("cpu", "")
    torch = frameworks.torch()
    if torch.cuda.is_available():
        return DeviceChoice("cuda", "")
    if requested == "cuda":
        return DeviceChoice("cpu", "CUDA requested but not usable by PyTorch; falling back to CPU")
    return DeviceChoice("cpu", "")


def choose_ort_providers(requested: str) -> tuple[list[str], DeviceChoice]:
    if requested not in DEVICES:
        raise UsageError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}")
    ort = frameworks.onnxruntime()
    if requested != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], DeviceChoice("cuda", "")
    notice = ("CUDA requested but ONNX Runtime has no CUDA provider; falling back to CPU"
              if requested == "cuda" else "")
    return ["CPUExecutionProvider"], DeviceChoice("cpu", notice)


class KerasRunner:
    """tf_keras model from the .h5 file, run in the TensorFlow worker (always CPU here)."""

    def __init__(self, model_path: Path, name: str = "keras", worker: TFWorker | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.name, self.device, self.model_path = name, "cpu", Path(model_path)
        self.worker, self._own, self.cancel = worker, worker is None, cancel

    def load(self) -> None:
        from engine.convert import check_h5_file

        check_h5_file(self.model_path)  # h5py, in this process, before the worker loads it
        if self.worker is None:
            self.worker = TFWorker()
        tf_jobs.keras_check(self.worker, self.model_path, self.cancel)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        assert self.worker is not None, "load() first"
        return tf_jobs.keras_predict(self.worker, self.model_path, check_batch(batch),
                                     self.cancel)

    def layers(self) -> list[dict[str, Any]]:
        """Every Keras layer: name, kind, output shape, params, inbound layer names."""
        assert self.worker is not None, "load() first"
        return tf_jobs.keras_layers(self.worker, self.model_path)

    def close(self) -> None:
        if self._own and self.worker is not None:
            self.worker.close()
            self.worker = None


class OnnxRunner:
    """ONNX Runtime session over an .onnx file (float or QDQ)."""

    def __init__(self, onnx_path: Path, name: str = "onnx", device: str = "cpu",
                 threads: int | None = None) -> None:
        self.name, self.onnx_path, self.requested, self.threads = name, Path(onnx_path), device, threads
        self.device, self.notice = "cpu", ""
        self.session: Any = None

    def load(self) -> None:
        ort = frameworks.onnxruntime()
        providers, choice = choose_ort_providers(self.requested)
        self.device, self.notice = choice.device, choice.notice
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        try:
            self.session = ort.InferenceSession(str(self.onnx_path), opts, providers=providers)
        except Exception as exc:
            raise ModelError(
                f"ONNX Runtime cannot load {self.onnx_path} ({str(exc)[:160]}); delete it or run "
                "`r8 cache clear` and convert again"
            ) from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        x = check_batch(batch)
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        self.session = None


class TorchRunner:
    """A torch.nn.Module taking NHWC float input (the onnx2torch module keeps the transpose)."""

    def __init__(self, module: Any, name: str = "torch", device: str = "cpu",
                 tf32: bool = False, threads: int | None = None) -> None:
        self.name, self.module, self.requested, self.tf32, self.threads = (
            name, module, device, tf32, threads)
        self.device, self.notice = "cpu", ""

    def load(self) -> None:
        torch = frameworks.torch()
        choice = choose_torch_device(self.requested)
        self.device, self.notice = choice.device, choice.notice
        if self.threads:
            torch.set_num_threads(self.threads)
        if self.device == "cuda":
            torch.backends.cudnn.allow_tf32 = self.tf32
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
        self.module = self.module.to(self.device).eval()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        torch = frameworks.torch()
        x = torch.from_numpy(check_batch(batch)).to(self.device)
        with torch.inference_mode():
            out = self.module(x)
        return out.float().cpu().numpy()

    def close(self) -> None:
        self.module = None


class TFLiteRunner:
    """TensorFlow's TFLite interpreter over MLPerf's reference .tflite (float or full int8),
    run in the TensorFlow worker (see engine.tf_jobs for the int8 input and output)."""

    def __init__(self, path: Path, name: str, worker: TFWorker | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.name, self.path, self.device = name, Path(path), "cpu"
        self.worker, self._own, self.cancel = worker, worker is None, cancel

    def load(self) -> None:
        if self.worker is None:
            self.worker = TFWorker()
        tf_jobs.tflite_check(self.worker, self.path, self.cancel)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        assert self.worker is not None, "load() first"
        return tf_jobs.tflite_predict(self.worker, self.path, check_batch(batch), self.cancel)

    def close(self) -> None:
        if self._own and self.worker is not None:
            self.worker.close()
            self.worker = None
