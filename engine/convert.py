"""Keras .h5 -> ONNX (tf2onnx) -> torch.nn.Module (onnx2torch)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import frameworks
from engine.errors import ConversionError, ModelError, UsageError
from engine.types import ProgressFn

if TYPE_CHECKING:
    from engine.tf_worker import TFWorker

DEFAULT_OPSET = 13
OPSET_RANGE = (13, 18)
INPUT_NAME = "input_1"
EXPECTED_LAYERS = 30
EXPECTED_PARAMS = 78_666
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
RESNET8_LAYER_TYPES = frozenset({
    "InputLayer", "Conv2D", "BatchNormalization", "Activation", "Add", "AveragePooling2D",
    "Flatten", "Dense",
})
"""Every Keras layer type the MLPerf Tiny ResNet8 uses; any other (Lambda above all) is refused."""
MODEL_CLASSES = frozenset({"Functional", "Model"})
CONFIG_OBJECTS = frozenset({
    "Zeros", "Ones", "Constant", "HeNormal", "HeUniform", "GlorotNormal", "GlorotUniform",
    "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "L1", "L2", "L1L2",
})
"""Initializers and regularizers a plain Keras layer config may name (no code in them)."""
ACTIVATIONS = frozenset({"linear", "relu", "softmax"})
CONVERT_LIBRARIES = ("tensorflow", "tf_keras", "tf2onnx", "onnx", "numpy")


H5_CHECKS_VERSION = 1
"""Bumped when check_h5_contents changes: their verdicts kept in the cache
(Workspace.model_sha) are then made again."""


def check_h5_file(path: Path) -> None:
    """Checks before TensorFlow loads the file: it exists, is HDF5, and its config is ResNet8's."""
    check_h5_header(path)
    check_h5_contents(path)


def check_h5_contents(path: Path) -> None:
    """Its config names only what ResNet8 uses, and its weights are finite."""
    check_h5_config(path)
    check_h5_weights(path)


def check_h5_header(path: Path) -> None:
    """The file exists, can be read and starts with the HDF5 signature."""
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; pass --model or set R8_MODEL")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path} ({exc.strerror}); check permissions") from None
    if head != HDF5_SIGNATURE:
        raise ModelError(
            f"{path} is not an HDF5 Keras model (bad signature); pass the MLPerf Tiny "
            "pretrainedResnet.h5 with --model"
        )


def check_h5_weights(path: Path) -> None:
    """Refuse a model whose stored weights hold NaN or Inf, naming the layer (such a model
    evaluates to chance accuracy without any other sign)."""
    import h5py
    import numpy as np

    bad: list[str] = []

    def visit(name: str, obj: object) -> None:
        if bad or not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fc":
            return
        if not np.isfinite(obj[()]).all():
            bad.append(name)

    try:
        with h5py.File(path, "r") as f:
            group = f.get("model_weights", f)
            group.visititems(visit)
    except OSError as exc:
        raise ModelError(f"cannot read the weights of {path} ({exc}); pass the MLPerf Tiny "
                         "pretrainedResnet.h5 with --model") from None
    if bad:
        layer = bad[0].split("/")[0]
        raise ModelError(f"{path}: layer {layer!r} has NaN or Inf weights ({bad[0]}); the "
                         "file is damaged, pass an intact pretrainedResnet.h5 with --model")


def check_h5_config(path: Path) -> None:
    """Refuse a model file whose config names anything ResNet8 does not use.

    Reads ``model_config`` with h5py alone, before Keras deserializes anything: a Lambda layer
    (or a custom object) runs its Python code while legacy ``.h5`` files load, and Keras's
    ``safe_mode`` does not cover that format.
    """
    import json

    import h5py

    fix = "pass the MLPerf Tiny pretrainedResnet.h5 with --model"
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelError(f"{path} is not a loadable Keras model (HDF5: {exc}); {fix}") from None
    if raw is None:
        raise ModelError(f"{path} is not a loadable Keras model (no model_config: weights only?); {fix}")
    try:
        config = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path} has an unreadable model_config ({exc}); {fix}") from None
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        raise ModelError(f"{path} does not hold a functional Keras model; {fix}")
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list) or not layers:
        raise ModelError(f"{path} lists no layers in its model_config; {fix}")
    for layer in layers:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        if kind not in RESNET8_LAYER_TYPES:
            name = layer.get("name", "?") if isinstance(layer, dict) else "?"
            raise ModelError(
                f"{path} has a {kind} layer ({name!r}), which the MLPerf Tiny ResNet8 does not "
                f"use; refused before loading (it could run code); {fix}")
        _check_layer_config(path, str(layer.get("name", "?")), layer.get("config"), fix)


def _check_layer_config(path: Path, layer: str, node: object, fix: str) -> None:
    """Every nested object of a layer config is a plain built-in; activations are by name."""
    if isinstance(node, dict):
        kind = node.get("class_name")
        if kind is not None and kind not in CONFIG_OBJECTS:
            raise ModelError(f"{path}: layer {layer!r} names a {kind} object, which ResNet8 does "
                             f"not use; refused before loading; {fix}")
        module = node.get("module")
        if module is not None and not (isinstance(module, str) and module.split(".")[0] in (
                "keras", "tf_keras")) or node.get("registered_name") not in (None, kind):
            named = module or node.get("registered_name")
            raise ModelError(f"{path}: layer {layer!r} refers to {named!r}, not a built-in Keras "
                             f"object; refused before loading; {fix}")
        for key, value in node.items():
            if key == "activation" and value not in ACTIVATIONS:
                raise ModelError(f"{path}: layer {layer!r} uses activation {value!r}; ResNet8 "
                                 f"uses {', '.join(sorted(ACTIVATIONS))}; {fix}")
            if key == "function":
                raise ModelError(f"{path}: layer {layer!r} carries a function; refused before "
                                 f"loading; {fix}")
            _check_layer_config(path, layer, value, fix)
    elif isinstance(node, list):
        for item in node:
            _check_layer_config(path, layer, item, fix)


def check_opset(opset: int) -> None:
    lo, hi = OPSET_RANGE
    if not lo <= opset <= hi:
        raise UsageError(f"opset {opset} is out of range; use --opset between {lo} and {hi}")


def load_keras(path: Path) -> Any:
    """Load the .h5 with legacy Keras and check it is the MLPerf Tiny ResNet8.

    Imports TensorFlow: only the TensorFlow worker (engine.tf_jobs) calls this.
    """
    path = Path(path)
    check_h5_file(path)
    tf_keras = frameworks.tf_keras()
    try:
        model = tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # h5py/keras raise many kinds for truncated or foreign files
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{path} is not a loadable Keras model ({first}); pass the MLPerf Tiny "
            "pretrainedResnet.h5 with --model"
        ) from None
    check_architecture(model, path)
    return model


def check_architecture(model: Any, path: Path) -> None:
    """Refuse a model that is not ResNet8 for 32x32x3 CIFAR-10."""
    in_shape = tuple(model.input_shape)[1:] if hasattr(model, "input_shape") else None
    out_shape = tuple(model.output_shape)[1:] if hasattr(model, "output_shape") else None
    n_layers, n_params = len(model.layers), model.count_params()
    if (in_shape, out_shape, n_layers, n_params) != (
        (32, 32, 3), (10,), EXPECTED_LAYERS, EXPECTED_PARAMS
    ):
        raise ModelError(
            f"{path} is not the MLPerf Tiny ResNet8 (input {in_shape}, output {out_shape}, "
            f"{n_layers} layers, {n_params} parameters; expected (32, 32, 3), (10,), "
            f"{EXPECTED_LAYERS}, {EXPECTED_PARAMS}); pass pretrainedResnet.h5 with --model"
        )


def keras_to_onnx(model_path: Path, out_path: Path, opset: int = DEFAULT_OPSET, *,
                  worker: TFWorker | None = None, on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> None:
    """Convert the Keras model to ONNX with tf2onnx and write it to ``out_path``.

    The file is checked here (h5py, in this process); the conversion runs in the TensorFlow
    worker (``worker``, or a temporary one), so this process never imports TensorFlow.
    """
    from engine import tf_jobs
    from engine.tf_worker import TFWorker

    check_opset(opset)
    check_h5_file(Path(model_path))
    own = worker is None
    worker = worker or TFWorker()
    try:
        tf_jobs.keras_to_onnx(worker, Path(model_path), Path(out_path), opset, on_progress,
                              cancel)
    finally:
        if own:
            worker.close()


def keras_model_to_onnx(model: Any, out_path: Path, opset: int = DEFAULT_OPSET) -> None:
    """tf2onnx on a loaded Keras model (runs in the TensorFlow worker)."""
    tf = frameworks.tensorflow()
    tf2onnx = frameworks.tf2onnx()
    spec = (tf.TensorSpec((None, 32, 32, 3), tf.float32, name=INPUT_NAME),)
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    except Exception as exc:
        raise ConversionError(f"tf2onnx failed at opset {opset} ({exc}); try --opset 13") from None
    Path(out_path).write_bytes(proto.SerializeToString())


def onnx_to_torch(onnx_path: Path) -> Any:
    """The ONNX model as a torch.nn.Module (an fx.GraphModule), in eval mode."""
    onnx2torch = frameworks.onnx2torch()
    onnx = frameworks.onnx()
    try:
        module = onnx2torch.convert(onnx.load(str(onnx_path)))
    except Exception as exc:
        raise ConversionError(f"onnx2torch failed on {onnx_path} ({exc}); re-run r8 convert") from None
    return module.eval()
