"""The work that needs TensorFlow, as jobs the TensorFlow worker runs (see engine.tf_worker).

Only the worker process imports this module's frameworks. Each job takes JSON arguments and
input arrays and returns a JSON-able result and output arrays; the parent-side functions
below (``keras_to_onnx``, ``keras_predict``, ...) are what the rest of the engine calls.
A loaded model is kept in the worker (keyed by path, size and mtime) for the next request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UsageError
from engine.tf_worker import Arrays, TFWorker
from engine.types import ProgressFn

Job = Callable[[dict[str, Any], Arrays, dict[str, Any], ProgressFn], tuple[Any, Arrays]]


# -- parent side: what the engine calls -----------------------------------------------------
def keras_to_onnx(worker: TFWorker, model_path: Path, out_path: Path, opset: int,
                  on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> None:
    """Convert the .h5 to ONNX (tf2onnx) in the worker, writing ``out_path``."""
    worker.call("keras.to_onnx", {"model": str(model_path), "out": str(out_path),
                                  "opset": opset},
                what=f"converting {model_path} to ONNX", on_progress=on_progress,
                cancel=cancel)


def keras_check(worker: TFWorker, model_path: Path,
                cancel: threading.Event | None = None) -> None:
    """Load the .h5 in the worker and check it is the MLPerf Tiny ResNet8 (ModelError if not)."""
    worker.call("keras.load", {"model": str(model_path)}, what=f"loading {model_path}",
                cancel=cancel)


def keras_predict(worker: TFWorker, model_path: Path, batch: np.ndarray,
                  cancel: threading.Event | None = None) -> np.ndarray:
    """Keras class probabilities (N, 10) for a checked NHWC float32 batch."""
    _, out = worker.call("keras.predict", {"model": str(model_path)}, {"x": batch},
                         what=f"running {model_path} in Keras", cancel=cancel)
    return out["probs"]


def keras_layers(worker: TFWorker, model_path: Path) -> list[dict[str, Any]]:
    """Every Keras layer: name, kind, output shape (batch dim None), params, inbound names."""
    rows, _ = worker.call("keras.layers", {"model": str(model_path)},
                          what=f"listing the layers of {model_path}")
    return list(rows)


def keras_capture(worker: TFWorker, model_path: Path, names: list[str], batch: np.ndarray,
                  cancel: threading.Event | None = None) -> list[np.ndarray]:
    """The outputs of the Keras layers ``names`` (model order) for a checked batch."""
    _, out = worker.call("keras.capture", {"model": str(model_path), "names": names},
                         {"x": batch}, what=f"capturing Keras activations of {model_path}",
                         cancel=cancel)
    return [out[f"t{i}"] for i in range(len(names))]


def keras_weights(worker: TFWorker, model_path: Path,
                  cancel: threading.Event | None = None) -> list[tuple[str, str, np.ndarray]]:
    """(layer, param, float32 values) of every Keras weight, model order."""
    rows, out = worker.call("keras.weights", {"model": str(model_path)},
                            what=f"reading the Keras weights of {model_path}", cancel=cancel)
    return [(layer, param, out[f"w{i}"]) for i, (layer, param) in enumerate(rows)]


def tflite_check(worker: TFWorker, path: Path, cancel: threading.Event | None = None) -> None:
    """Load a .tflite in the worker's TFLite interpreter (ModelError if it cannot)."""
    worker.call("tflite.load", {"path": str(path)}, what=f"loading {path} in TFLite",
                cancel=cancel)


def tflite_predict(worker: TFWorker, path: Path, batch: np.ndarray,
                   cancel: threading.Event | None = None) -> np.ndarray:
    """TFLite class probabilities (N, 10), dequantized for the int8 model."""
    _, out = worker.call("tflite.predict", {"path": str(path)}, {"x": batch},
                         what=f"running {path} in TFLite", cancel=cancel)
    return out["probs"]


# -- worker side ----------------------------------------------------------------------------
def run(op: str, args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
        progress: ProgressFn) -> tuple[Any, Arrays]:
    """Run one job in the worker process."""
    job = JOBS.get(op)
    if job is None:
        raise UsageError(f"the TensorFlow worker has no job {op!r}; reinstall r8-tui")
    return job(args, arrays, state, progress)


def _file_id(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return path, st.st_size, st.st_mtime_ns


def _model(state: dict[str, Any], path: str) -> Any:
    from engine.convert import load_keras

    models = state.setdefault("keras", {})
    key = _file_id(path) if os.path.exists(path) else (path, 0, 0)
    if key not in models:
        models.clear()  # one model at a time is all r8 uses
        state.pop("capture", None)
        models[key] = load_keras(Path(path))
    return models[key]


def _load(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
          progress: ProgressFn) -> tuple[Any, Arrays]:
    _model(state, args["model"])
    return {}, {}


def _to_onnx(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
             progress: ProgressFn) -> tuple[Any, Arrays]:
    from engine import convert

    what = "convert Keras -> ONNX"
    progress(0, 3, f"{what}: loading the .h5")
    convert.check_opset(int(args["opset"]))
    model = _model(state, args["model"])
    progress(1, 3, f"{what}: tf2onnx")
    convert.keras_model_to_onnx(model, Path(args["out"]), int(args["opset"]))
    progress(3, 3, what)
    return {}, {}


def _predict(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
             progress: ProgressFn) -> tuple[Any, Arrays]:
    model = _model(state, args["model"])
    x = np.asarray(arrays["x"], np.float32)
    return {}, {"probs": np.asarray(model(x, training=False), dtype=np.float32)}


def _layers(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
            progress: ProgressFn) -> tuple[Any, Arrays]:
    model = _model(state, args["model"])
    rows = []
    for layer in model.layers:
        shape = layer.output_shape
        if isinstance(shape, list):
            shape = shape[0]
        inbound: list[str] = []
        for node in getattr(layer, "_inbound_nodes", [])[:1]:
            inl = node.inbound_layers
            inbound = [x.name for x in (inl if isinstance(inl, list) else [inl])]
        rows.append({"name": layer.name, "kind": type(layer).__name__,
                     "shape": [None if d is None else int(d) for d in tuple(shape)],
                     "params": int(layer.count_params()), "inputs": inbound})
    return rows, {}


def _capture(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
             progress: ProgressFn) -> tuple[Any, Arrays]:
    from engine import frameworks

    model = _model(state, args["model"])
    names = tuple(args["names"])
    cached = state.get("capture")
    if cached is None or cached[0] is not model or cached[1] != names:
        outputs = [model.get_layer(n).output for n in names]
        cached = (model, names, frameworks.tf_keras().Model(model.inputs, outputs))
        state["capture"] = cached
    outs = cached[2](np.asarray(arrays["x"], np.float32), training=False)
    if len(names) == 1:
        outs = [outs]
    return {}, {f"t{i}": np.asarray(o, dtype=np.float32) for i, o in enumerate(outs)}


def _weights(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
             progress: ProgressFn) -> tuple[Any, Arrays]:
    model = _model(state, args["model"])
    rows: list[list[str]] = []
    out: Arrays = {}
    for lay in model.layers:
        for w in lay.weights:
            out[f"w{len(rows)}"] = np.array(w.numpy(), dtype=np.float32)
            rows.append([lay.name, w.name.split("/")[-1].split(":")[0]])
    return rows, out


class _TFLite:
    """TFLite interpreter over MLPerf's reference .tflite (float or full int8).

    For the int8 model the input is pixel - 128 as int8 (as MLPerf's test script does) and
    the int8 output is dequantized with its scale and zero point.
    """

    def __init__(self, path: str) -> None:
        from engine import frameworks
        from engine.errors import ModelError

        tf = frameworks.tensorflow()
        try:
            self.interp = tf.lite.Interpreter(model_path=path)
        except Exception as exc:
            raise ModelError(f"cannot load {path} ({str(exc)[:120]}); use MLPerf's file") from None
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.batch = 0

    def infer(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] != self.batch:
            self.interp.resize_tensor_input(self.inp["index"], [x.shape[0], 32, 32, 3])
            self.interp.allocate_tensors()
            self.batch = x.shape[0]
        if self.inp["dtype"] == np.int8:
            x = np.clip(np.round(x) - 128, -128, 127).astype(np.int8)
        self.interp.set_tensor(self.inp["index"], x)
        self.interp.invoke()
        y = self.interp.get_tensor(self.out["index"])
        if self.out["dtype"] == np.int8:
            scale, zero = self.out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)


def _interpreter(state: dict[str, Any], path: str) -> _TFLite:
    interps = state.setdefault("tflite", {})
    key = _file_id(path) if os.path.exists(path) else (path, 0, 0)
    if key not in interps:
        interps[key] = _TFLite(path)
    return interps[key]  # type: ignore[no-any-return]


def _tflite_load(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
                 progress: ProgressFn) -> tuple[Any, Arrays]:
    _interpreter(state, args["path"])
    return {}, {}


def _tflite_predict(args: dict[str, Any], arrays: Arrays, state: dict[str, Any],
                    progress: ProgressFn) -> tuple[Any, Arrays]:
    interp = _interpreter(state, args["path"])
    return {}, {"probs": interp.infer(np.asarray(arrays["x"], np.float32))}


JOBS: dict[str, Job] = {
    "keras.load": _load,
    "keras.to_onnx": _to_onnx,
    "keras.predict": _predict,
    "keras.layers": _layers,
    "keras.capture": _capture,
    "keras.weights": _weights,
    "tflite.load": _tflite_load,
    "tflite.predict": _tflite_predict,
}
"""Every job the worker can run, by name."""
