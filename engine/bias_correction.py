"""Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight
Equalization and Bias Correction", 2019, section 4.2, the empirical variant).

Quantizing weights (and the activations before a layer) shifts the mean of the layer's
output: E[y_int8] != E[y_float]. On the calibration images, r8 measures per output channel
the mean of (int8 pre-activation output - float pre-activation output) of each conv/dense
that has int8 weights and subtracts it from that layer's bias, layer by layer in model
order, so each layer's measurement already sees the corrected layers before it.

- ONNX Runtime (QDQ): the conv/Gemm output tensor (pre-ReLU: ORT drops the ReLU into the
  output's quantization range) is exposed as a graph output of a session per layer; the
  float means come from the pre-processed float graph (same node names). The bias is a
  float initializer in ORT's QDQ graphs; it is edited in place.
- PyTorch FX: the quantized module's pre-activation output is its float convolution on the
  dequantized int8 input and weights plus the bias (what the int8 kernel computes before
  requantization and the fused ReLU); the bias is replaced with ``set_weight_bias``. The
  dense head, when FX quantizes it, is functional ops (its bias is quantized as an
  activation tensor, no module bias), so it is not corrected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine import calibration, convert, frameworks
from engine.errors import CancelledError
from engine.types import ProgressFn

CORRECTED_OPS = ("Conv", "Gemm")
"""ONNX ops whose bias is corrected."""
MEAN_ERROR_TOLERANCE = 1e-3
"""After correction, |mean(int8 - float)| per channel on the calibration images, relative
to the channel's float output std, stays under this (tests)."""


def channel_means(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """Mean over every axis but ``axis`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=tuple(i for i in range(x.ndim) if i != axis))


class _Means:
    """Running per-channel means over batches."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, x: np.ndarray, axis: int = 1) -> None:
        n = x.size // x.shape[axis]
        part = channel_means(x, axis) * n
        self.total = part if self.total is None else self.total + part
        self.count += n

    @property
    def mean(self) -> np.ndarray:
        assert self.total is not None
        return self.total / self.count


def _batches(images: np.ndarray, what: str, on_progress: ProgressFn | None,
             cancel: threading.Event | None) -> Iterator[np.ndarray]:
    return calibration.batches(images, what, on_progress, cancel)


# -- ONNX Runtime ---------------------------------------------------------------------------
def onnx_corrected_nodes(model: Any) -> list[Any]:
    """Conv/Gemm nodes of a QDQ model with int8 weights (a DequantizeLinear feeds input 1)
    and a bias (an int32 initializer through a DequantizeLinear, or a float initializer),
    in graph (model) order."""
    inits = {i.name for i in model.graph.initializer}
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return [n for n in model.graph.node if n.op_type in CORRECTED_OPS and len(n.input) > 2
            and n.input[1] in dq_out and (n.input[2] in inits or n.input[2] in dq_out)]


def _shift_onnx_bias(model: Any, node: Any, shift: np.ndarray) -> None:
    """Subtract ``shift`` from ``node``'s bias: the float initializer, or the int32 one
    behind a DequantizeLinear (shift / scale, rounded: at most half a bias step off)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    name = node.input[2]
    if name in inits:
        init = inits[name]
        bias = numpy_helper.to_array(init).astype(np.float64)
        init.CopyFrom(numpy_helper.from_array((bias - shift).astype(np.float32), init.name))
        return
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear"
              and n.output[0] == name)
    init = inits[dq.input[0]]
    q = numpy_helper.to_array(init).astype(np.int64)
    scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64)
    new = q - np.round(shift / scale).astype(np.int64)
    info = np.iinfo(np.int32)
    init.CopyFrom(numpy_helper.from_array(np.clip(new, info.min, info.max).astype(np.int32),
                                          init.name))


def _onnx_outputs(model: Any, names: list[str], images: np.ndarray, what: str,
                  on_progress: ProgressFn | None, cancel: threading.Event | None,
                  ) -> dict[str, np.ndarray]:
    """Per-channel means of the tensors ``names`` over ``images`` (exposed as outputs)."""
    onnx = frameworks.onnx()
    ort = frameworks.onnxruntime()
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    for n in names:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(n))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    means = {n: _Means() for n in names}
    for batch in _batches(images, what, on_progress, cancel):
        for n, v in zip(names, sess.run(names, {convert.INPUT_NAME: batch}), strict=True):
            means[n].add(v)
    return {n: means[n].mean for n in names}


def correct_onnx(qdq_path: Path, float_path: Path, images: np.ndarray,
                 on_progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> dict[str, np.ndarray]:
    """Correct the biases of the QDQ model at ``qdq_path`` in place against the float model
    at ``float_path`` (same node names); returns node name -> subtracted per-channel shift."""
    onnx = frameworks.onnx()
    qdq = onnx.load(str(qdq_path))
    flt = onnx.load(str(float_path))
    nodes = onnx_corrected_nodes(qdq)
    float_out = {n.name: n.output[0] for n in flt.graph.node}
    targets = [n for n in nodes if n.name in float_out]
    ref = _onnx_outputs(flt, [float_out[n.name] for n in targets], images,
                        "bias correction: float means", on_progress, cancel)
    shifts: dict[str, np.ndarray] = {}
    for k, node in enumerate(targets):
        if cancel is not None and cancel.is_set():
            raise CancelledError("bias correction cancelled")
        q = _onnx_outputs(qdq, [node.output[0]], images,
                          f"bias correction {k + 1}/{len(targets)}", on_progress, cancel)
        shift = q[node.output[0]] - ref[float_out[node.name]]
        _shift_onnx_bias(qdq, node, shift)
        shifts[node.name] = shift
    onnx.save(qdq, str(qdq_path))
    return shifts


# -- PyTorch FX -----------------------------------------------------------------------------
def torch_corrected_modules(quantized: Any) -> list[str]:
    """Quantized conv modules (Conv2d, ConvReLU2d) of an FX int8 model, in call order."""
    out = []
    for node in quantized.graph.nodes:
        if node.op != "call_module":
            continue
        mod = quantized.get_submodule(str(node.target))
        if hasattr(mod, "set_weight_bias") and "Conv" in type(mod).__name__:
            out.append(str(node.target))
    return out


def torch_preactivation(module: Any, x: Any) -> Any:
    """The float pre-activation a quantized conv computes before requantizing: its float
    convolution of the dequantized input and weights, plus its bias."""
    torch = frameworks.torch()
    w = module.weight().dequantize()
    xf = x.dequantize() if x.is_quantized else x
    return torch.nn.functional.conv2d(xf, w, module.bias(), module.stride, module.padding,
                                      module.dilation, module.groups)


def _hooked_means(model: Any, names: list[str], images: np.ndarray,
                  transform: Callable[[Any, Any, Any], Any], what: str,
                  on_progress: ProgressFn | None, cancel: threading.Event | None,
                  ) -> dict[str, np.ndarray]:
    """Per-channel means of transform(module, input, output) of the modules ``names``."""
    torch = frameworks.torch()
    means = {n: _Means() for n in names}
    handles = []

    def hook(name: str) -> Callable[..., None]:
        def f(mod: Any, args: tuple[Any, ...], out: Any) -> None:
            means[name].add(transform(mod, args[0], out).detach().float().numpy())
        return f

    try:
        for n in names:
            handles.append(model.get_submodule(n).register_forward_hook(hook(n)))
        with torch.inference_mode():
            for batch in _batches(images, what, on_progress, cancel):
                model(torch.from_numpy(batch))
    finally:
        for h in handles:
            h.remove()
    return {n: means[n].mean for n in names}


def correct_torch(quantized: Any, float_module: Any, images: np.ndarray,
                  on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> dict[str, np.ndarray]:
    """Correct the biases of the FX int8 model in place against the float onnx2torch
    module (same module names); returns module name -> subtracted per-channel shift."""
    names = torch_corrected_modules(quantized)

    ref = _hooked_means(float_module, names, images, lambda mod, x, out: out,
                        "bias correction: float means", on_progress, cancel)
    shifts: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        q = _hooked_means(quantized, [name], images,
                          lambda mod, x, out: torch_preactivation(mod, x),
                          f"bias correction {k + 1}/{len(names)}", on_progress, cancel)
        shift = q[name] - ref[name]
        apply_torch_shift(quantized.get_submodule(name), shift)
        shifts[name] = shift
    return shifts


def apply_torch_shift(module: Any, shift: np.ndarray) -> None:
    """Subtract ``shift`` from a quantized conv's bias."""
    torch = frameworks.torch()
    bias = module.bias()
    new = bias - torch.from_numpy(np.asarray(shift, dtype=np.float32))
    module.set_weight_bias(module.weight(), new)
