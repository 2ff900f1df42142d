"""Weights and biases per layer and variant, with statistics and int8 quantization error.

- keras: kernels (HWIO), biases and BatchNorm gamma/beta/moving_mean/moving_variance.
- onnx: the initializers of each layer's nodes (BatchNorm folded into the conv: a BN layer
  has none of its own; kernels OIHW, the dense kernel (in, out)).
- torch: the onnx2torch modules' parameters (``weight`` reported as ``kernel``); the dense
  layer's MatMul/Add constants are graph initializers, not parameters.
- onnx-int8 / onnx-uint8: the int8 weights of the QDQ model (DequantizeLinear inputs), their
  scales and zero points and dequantized values; error against the float ONNX initializer.
- torch-int8: the FX int8 modules' packed weights, dequantized; error against the float
  module's weight.
- layers an int8 variant keeps float (``--float-layers``, ``@float=``): their float weights,
  from the float ONNX model (no int8 detail).

Quantization error: SQNR (dB) and max |float - dequantized|; how many float weights are
really clipped (they round beyond the integer type's range: with a max-abs scale none is);
and, apart from that, how many integers sit at the range limits (each channel's largest
weight lands on +-127 by construction, so that count is not clipping).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import frameworks
from engine import variants as V
from engine.cache import make_key
from engine.errors import CancelledError, UsageError
from engine.layers import LayerInfo, find_layer, keras_layer_of_tensor, layer_map
from engine.stats import Histogram, TensorStats, compare_tensors, histogram, tensor_stats
from engine.workspace import Workspace

WEIGHT_VARIANTS = V.names(weights=True)
"""Built-in variants whose weights can be read (check_weight_variant knows later ones too)."""
WEIGHTS_STAGE = "weights"
WEIGHTS_REPORT_VERSION = 3
"""Bumped when the report's fields change (2: real clipping count, torch-int8 dense; 3: the
float weights of layers an int8 variant keeps float)."""
INT8_CLIP = 127
"""|q| at or beyond which an int8 weight counts as clipped (symmetric range -127..127)."""


@dataclass(frozen=True)
class WeightReport:
    """One parameter tensor of one layer in one variant."""

    layer: str
    """Keras layer name."""
    variant: str
    """Variant it was read from."""
    param: str
    """kernel, bias, gamma, beta, moving_mean, moving_variance."""
    shape: tuple[int, ...]
    """Shape in the variant's own layout (Keras HWIO, ONNX/PyTorch OIHW)."""
    stats: TensorStats
    """Statistics of the (dequantized) values."""
    histogram: Histogram
    """Fixed-bin histogram of the (dequantized) values."""
    quant: dict[str, Any] | None
    """int8 only: dtype, per_channel, scale_min/max, zero_point_min/max, sqnr_db,
    max_abs_err, clipped (count of float weights beyond the representable range),
    clip_fraction (clipped / size), at_limit (count of integers at +-127, or 0/255, which
    includes every channel's maximum); None where there is no float counterpart."""


def check_weight_variant(variant: str) -> None:
    if not V.get(variant).has_weights:
        raise UsageError(f"cannot read weights of variant {variant!r}; use one of "
                         f"{', '.join(V.names(weights=True))}")


def weight_reports(ws: Workspace, variant: str = "keras", layer: str | None = None,
                   opts: V.VariantOptions | None = None, *,
                   cancel: threading.Event | None = None) -> tuple[WeightReport, ...]:
    """Every parameter of every layer (or of ``layer``) of ``variant``, model order (cached).
    ``cancel`` reaches the conversion, the quantization and the TensorFlow worker's job (set,
    it stops the worker and raises CancelledError; nothing is cached)."""
    opts = opts or V.VariantOptions()
    check_weight_variant(variant)
    layers = layer_map(ws, opts.opset, cancel=cancel)
    if layer is not None:
        find_layer(layers, layer)
    key = make_key(WEIGHTS_STAGE, {"variant": V.identity(ws, variant, opts),
                                   "report": WEIGHTS_REPORT_VERSION},
                   ("numpy", *V.libraries(variant)))
    reports = ws.cache.json_result(
        WEIGHTS_STAGE, key, lambda: _build(ws, variant, opts, layers, cancel),
        lambda reps: [_to_dict(r) for r in reps],
        lambda items: tuple(_from_dict(d) for d in items), {"variant": variant})
    return tuple(r for r in reports if layer is None or r.layer == layer)


def weight_arrays(ws: Workspace, variant: str, opts: V.VariantOptions | None = None, *,
                  cancel: threading.Event | None = None,
                  ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    """(layer, param, values, int8 detail) of every parameter, uncached (imports frameworks).

    For int8 variants ``values`` are dequantized and the detail holds the raw integers
    (``q``), scales, zero points and the float counterpart (``float``).
    """
    opts = opts or V.VariantOptions()
    check_weight_variant(variant)
    layers = layer_map(ws, opts.opset, cancel=cancel)
    known = {x.name for x in layers}
    src = V.get(variant).weight_source(ws, opts, cancel=cancel)
    if src.format == "keras":
        return _keras_weights(ws, cancel)
    if src.format == "onnx":
        return [(ly, p, a, None) for ly, p, a in _onnx_float(src.model, known)]
    if src.format == "qdq":
        found = _qdq_weights(src.model, src.reference, known)
    else:
        found = _torch_weights(src.model, known, src.reference)
    return found + _kept_float(ws, variant, opts, layers, found, cancel)


def _kept_float(ws: Workspace, variant: str, opts: V.VariantOptions,
                layers: tuple[LayerInfo, ...],
                found: list[tuple[str, str, np.ndarray, dict[str, Any] | None]],
                cancel: threading.Event | None = None,
                ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    """The float weights of the layers an int8 variant keeps float (``--float-layers``,
    ``@float=``) that its int8 model does not show as parameters (a QDQ model's float
    initializers, the dense layer's constants in an FX model): read from the float ONNX model
    the variant keeps them from, with no int8 detail (they are not quantized)."""
    from engine.float_layers import check_names

    v = V.get(variant)
    if not isinstance(v, V.QuantizedVariant):
        return []
    units = check_names(layers, v.settings(opts).float_layers)
    kept = {name for u in units for name in u.layers}
    have = {(lay, param) for lay, param, _, _ in found}
    floats = _onnx_float(ws.onnx_path(opts.opset, cancel=cancel), {x.name for x in layers})
    return [(lay, param, values, None) for lay, param, values in floats
            if lay in kept and (lay, param) not in have]


def _build(ws: Workspace, variant: str, opts: V.VariantOptions,
           layers: tuple[LayerInfo, ...],
           cancel: threading.Event | None = None) -> tuple[WeightReport, ...]:
    order = {x.name: x.index for x in layers}
    rows = []
    for lay, param, values, detail in weight_arrays(ws, variant, opts, cancel=cancel):
        if cancel is not None and cancel.is_set():
            raise CancelledError("reading the weights was cancelled")
        rows.append(WeightReport(lay, variant, param, tuple(int(d) for d in values.shape),
                                 tensor_stats(values), histogram(values), _quant(detail)))
    params_order = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
    rows.sort(key=lambda r: (order.get(r.layer, 1 << 20),
                             params_order.index(r.param) if r.param in params_order else 99))
    return tuple(rows)


def _quant(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    q, scale, zero = detail["q"], np.atleast_1d(detail["scale"]), np.atleast_1d(detail["zero"])
    out: dict[str, Any] = {
        "dtype": str(q.dtype), "per_channel": bool(scale.size > 1),
        "scale_min": float(scale.min()), "scale_max": float(scale.max()),
        "zero_point_min": int(zero.min()), "zero_point_max": int(zero.max()),
        "sqnr_db": None, "max_abs_err": None, "clipped": None, "clip_fraction": None,
        "at_limit": None,
    }
    if q.dtype in (np.int8, np.uint8) and q.size:
        lo, hi = (0, 255) if q.dtype == np.uint8 else (-INT8_CLIP, INT8_CLIP)
        out["at_limit"] = int(np.count_nonzero((q <= lo) | (q >= hi)))
    ref = detail.get("float")
    if ref is not None and ref.shape == q.shape and q.dtype in (np.int8, np.uint8) and q.size:
        clipped = clipped_count(ref, scale, zero, detail.get("axis", 0), np.iinfo(q.dtype))
        out["clipped"], out["clip_fraction"] = clipped, clipped / q.size
    if ref is not None and ref.shape == detail["values"].shape:
        diff = compare_tensors(ref, detail["values"])
        out["sqnr_db"], out["max_abs_err"] = diff.sqnr_db, diff.max_abs_diff
    return out


def clipped_count(ref: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int,
                  info: np.iinfo) -> int:
    """How many float values round outside the integer range [info.min, info.max] with
    these (per-tensor or per-channel along ``axis``) scales and zero points."""
    shape = [1] * ref.ndim
    if scale.size > 1:
        shape[axis] = scale.size
    levels = np.rint(ref.astype(np.float64) / scale.reshape(shape)) + zero.reshape(shape)
    return int(np.count_nonzero((levels < info.min) | (levels > info.max)))


# -- readers --------------------------------------------------------------------------------
def _keras_weights(ws: Workspace, cancel: threading.Event | None = None,
                   ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    from engine import tf_jobs

    _ = ws.model_sha  # checks the file with h5py in this process first
    return [(lay, param, values, None)
            for lay, param, values in tf_jobs.keras_weights(ws.tf_worker, ws.model_path,
                                                            cancel)]


def _param_of(node: Any, position: int) -> str:
    if node.op_type in ("Conv", "MatMul", "Gemm"):
        return "kernel" if position == 1 else "bias"
    return "bias"


def _onnx_float(path: Any, known: set[str]) -> list[tuple[str, str, np.ndarray]]:
    onnx = frameworks.onnx()
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        owner = keras_layer_of_tensor(node.name, known)
        if owner is None:
            continue
        for pos, name in enumerate(node.input):
            if name in inits and pos > 0 and node.op_type in ("Conv", "MatMul", "Gemm", "Add"):
                out.append((owner, _param_of(node, pos),
                            numpy_helper.to_array(inits[name]).astype(np.float32)))
    return out


def _qdq_weights(path: Any, float_path: Any, known: set[str],
                 ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    onnx = frameworks.onnx()
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    fmodel = onnx.load(str(float_path))
    finits = {i.name: numpy_helper.to_array(i) for i in fmodel.graph.initializer}
    consumers: dict[str, tuple[Any, int]] = {}
    for node in model.graph.node:
        for pos, name in enumerate(node.input):
            consumers.setdefault(name, (node, pos))
    out: list[tuple[str, str, np.ndarray, dict[str, Any] | None]] = []
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        owner = keras_layer_of_tensor(node.name, known)
        user = consumers.get(node.output[0])
        if owner is None or user is None:
            continue
        q = inits[node.input[0]]
        scale = inits[node.input[1]].astype(np.float64)
        zero = inits[node.input[2]] if len(node.input) > 2 else np.zeros_like(scale, np.int64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        if scale.size > 1:
            shape[axis] = scale.size
        values = ((q.astype(np.float64) - zero.reshape(shape)) * scale.reshape(shape))
        values = values.astype(np.float32)
        base = node.input[0].removesuffix("_quantized")
        ref = finits.get(base, finits.get(node.output[0]))
        out.append((owner, _param_of(*user), values,
                    {"q": q, "scale": scale, "zero": zero, "values": values, "axis": axis,
                     "float": None if ref is None else ref.astype(np.float32)}))
    return out


def _torch_weights(module: Any, known: set[str], ref: Any | None,
                   ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    torch = frameworks.torch()
    ref_mods = dict(ref.named_modules()) if ref is not None else {}
    out: list[tuple[str, str, np.ndarray, dict[str, Any] | None]] = []
    for name, m in module.named_modules():
        owner = keras_layer_of_tensor(name.split(".")[0], known)
        if owner is None or list(m.children()):
            continue
        w = getattr(m, "weight", None)
        if callable(w) and not isinstance(w, torch.nn.Parameter):  # quantized module
            qw = w()
            values = qw.dequantize().float().numpy().copy()
            axis = 0
            if qw.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                scale = qw.q_per_channel_scales().numpy()
                zero = qw.q_per_channel_zero_points().numpy()
                axis = int(qw.q_per_channel_axis())
            else:
                scale, zero = np.array([qw.q_scale()]), np.array([qw.q_zero_point()])
            rm = ref_mods.get(name)
            fw = getattr(rm, "weight", None)
            out.append((owner, "kernel", values, {
                "q": qw.int_repr().numpy().copy(), "scale": scale, "zero": zero,
                "values": values, "axis": axis,
                "float": None if fw is None else fw.detach().float().numpy().copy()}))
            b = m.bias() if callable(getattr(m, "bias", None)) else None
            if b is not None:
                out.append((owner, "bias", b.detach().float().numpy().copy(), None))
            continue
        for pname, p in m.named_parameters(recurse=False):
            out.append((owner, "kernel" if pname == "weight" else pname,
                        p.detach().float().numpy().copy(), None))
    return out + functional_quantized_constants(module, known)


def functional_quantized_constants(module: Any, known: set[str],
                                   ) -> list[tuple[str, str, np.ndarray, dict[str, Any] | None]]:
    """Constants an FX int8 model quantizes at run time with ``quantize_per_tensor`` (the
    dense layer's MatMul kernel and BiasAdd bias: functional ops, no module holds them).

    The owner and parameter come from the scale attribute's name
    (``model/dense/MatMul_scale_0`` -> dense, kernel); values are the constant quantized
    with that scale and zero point and dequantized, exactly as the model computes them.
    """
    torch = frameworks.torch()
    graph = getattr(module, "graph", None)
    if graph is None:
        return []
    out: list[tuple[str, str, np.ndarray, dict[str, Any] | None]] = []
    for node in graph.nodes:
        if node.op != "call_function" or node.target is not torch.quantize_per_tensor:
            continue
        src, scale_n, zero_n, dtype = node.args[:4]
        if not all(getattr(a, "op", None) == "get_attr" for a in (src, scale_n, zero_n)):
            continue
        if not str(src.target).startswith("initializers."):
            continue  # an activation, not a constant
        owner_name = str(scale_n.target)
        owner = keras_layer_of_tensor(owner_name, known)
        if owner is None:
            continue
        value = module.get_submodule("initializers").get_buffer(
            str(src.target).removeprefix("initializers."))
        scale = float(getattr(module, owner_name))
        zero = int(getattr(module, str(zero_n.target)))
        qt = torch.quantize_per_tensor(value.detach().float(), scale, zero, dtype)
        values = qt.dequantize().numpy().copy()
        param = "kernel" if "MatMul" in owner_name else "bias"
        out.append((owner, param, values,
                    {"q": qt.int_repr().numpy().copy(), "scale": np.array([scale]),
                     "zero": np.array([zero]), "values": values,
                     "float": value.detach().float().numpy().copy()}))
    return out


# -- cache (de)serialisation ----------------------------------------------------------------
def _to_dict(r: WeightReport) -> dict[str, Any]:
    return {"layer": r.layer, "variant": r.variant, "param": r.param, "shape": list(r.shape),
            "stats": r.stats.to_dict(), "histogram": r.histogram.to_dict(), "quant": r.quant}


def _from_dict(d: dict[str, Any]) -> WeightReport:
    h = d["histogram"]
    return WeightReport(d["layer"], d["variant"], d["param"], tuple(d["shape"]),
                        TensorStats(**d["stats"]),
                        Histogram(np.asarray(h["counts"], np.int64),
                                  np.asarray(h["edges"], np.float64)), d["quant"])
