"""Keras .h5 -> ONNX (tf2onnx) -> torch.nn.Module (onnx2torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import frameworks
from engine.errors import ConversionError, ModelError, UsageError

DEFAULT_OPSET = 13
OPSET_RANGE = (13, 18)
INPUT_NAME = "input_1"
EXPECTED_LAYERS = 30
EXPECTED_PARAMS = 78_666
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CONVERT_LIBRARIES = ("tensorflow", "tf_keras", "tf2onnx", "onnx", "numpy")


def check_h5_file(path: Path) -> None:
    """Cheap checks before TensorFlow loads the file."""
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


def check_opset(opset: int) -> None:
    lo, hi = OPSET_RANGE
    if not lo <= opset <= hi:
        raise UsageError(f"opset {opset} is out of range; use --opset between {lo} and {hi}")


def load_keras(path: Path) -> Any:
    """Load the .h5 with legacy Keras and check it is the MLPerf Tiny ResNet8."""
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


def keras_to_onnx(model_path: Path, out_path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Convert the Keras model to ONNX with tf2onnx and write it to ``out_path``."""
    check_opset(opset)
    model = load_keras(model_path)
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
