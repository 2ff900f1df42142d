"""Which operations run in int8: read from what actually runs, not from what was asked for.

- QDQ ONNX: the graph ONNX Runtime runs after its optimizations (ORT_ENABLE_ALL, the
  session a user deploys, saved through ``optimized_model_filepath``): QLinear* and QGemm
  nodes compute in int8; QuantizeLinear/DequantizeLinear convert; a data-movement node
  (Reshape, Transpose, Pad ...) runs in int8 when its input is an integer tensor; the rest
  run in float.
- torch-int8: the FX graph: quantized modules and ``torch.ops.quantized`` functions (the
  functional add_relu, matmul, add) compute in int8; ``quantize_per_tensor``/``dequantize``
  convert; other functions and methods run on whatever they get (int8 after an int8 op).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import frameworks
from engine.layers import keras_layer_of_tensor

ORT_OPTIMIZATION = "ORT_ENABLE_ALL"
CONVERT_OPS = ("QuantizeLinear", "DequantizeLinear", "quantize_per_tensor", "dequantize")


@dataclass(frozen=True)
class OpPrecision:
    """One operation of a quantized model and the precision it runs in."""

    op: str
    """Op type (ONNX) or module class / function name (PyTorch)."""
    name: str
    """Node name."""
    layer: str | None
    """Keras layer it belongs to, when its name says."""
    precision: str
    """int8, float, or convert (quantize / dequantize)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layer(name: str, known: set[str] | None) -> str | None:
    if known is None:
        return None
    parts = name.replace("_", "/").split("/") if "/" not in name else name.split("/")
    return keras_layer_of_tensor(name, known) or next((p for p in parts if p in known), None)


def onnx_int8_ops(path: Path, known: set[str] | None = None) -> tuple[OpPrecision, ...]:
    """Every node of the graph ORT runs (ORT_ENABLE_ALL) with its precision."""
    onnx, ort = frameworks.onnx(), frameworks.onnxruntime()
    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ORT_OPTIMIZATION)
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        graph = onnx.load(so.optimized_model_filepath).graph
    tp = onnx.TensorProto
    integer = {i.name for i in graph.initializer if i.data_type in (tp.INT8, tp.UINT8)}
    out = []
    for node in graph.node:
        if node.op_type in CONVERT_OPS:
            prec = "convert"
        elif node.op_type.startswith("QLinear") or node.op_type in ("QGemm", "MatMulInteger",
                                                                    "ConvInteger"):
            prec = "int8"
        else:
            prec = "int8" if node.input and node.input[0] in integer else "float"
        if prec in ("int8", "convert") and node.op_type != "DequantizeLinear":
            integer.update(node.output)
        out.append(OpPrecision(node.op_type, node.name, _layer(node.name, known), prec))
    return tuple(out)


def torch_int8_ops(module: Any, known: set[str] | None = None) -> tuple[OpPrecision, ...]:
    """Every call in the FX int8 graph with its precision."""
    torch = frameworks.torch()
    mods = dict(module.named_modules())
    integer: set[str] = set()
    out = []
    for node in module.graph.nodes:
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        first = node.args[0] if node.args else None
        arg_int = getattr(first, "name", None) in integer
        if node.op == "call_module":
            m = mods[node.target]
            kind = type(m).__module__
            op = type(m).__name__
            prec = ("int8" if kind.startswith("torch.ao.nn") and ".quantized" in kind
                    else "int8" if arg_int else "float")
            name = str(node.target)
        else:
            target = node.target
            op = target if isinstance(target, str) else getattr(target, "__name__", str(target))
            op = str(op).split(".")[-1]
            if target is torch.quantize_per_tensor or op == "dequantize":
                prec = "convert"
            elif "quantized" in str(getattr(target, "__module__", "")) or str(
                    target).startswith("quantized."):
                prec = "int8"
            else:
                prec = "int8" if arg_int else "float"
            name = node.name
            attrs = [str(a.target) for a in node.args if getattr(a, "op", None) == "get_attr"]
            owner = next((x for x in (_layer(a, known) for a in attrs) if x), None)
            if owner is not None:  # a functional op's scale says its layer
                out.append(OpPrecision(op, name, owner, prec))
                if prec == "int8" or (prec == "convert" and op != "dequantize"):
                    integer.add(node.name)
                continue
        if prec == "int8" or (prec == "convert" and op != "dequantize"):
            integer.add(node.name)
        out.append(OpPrecision(op, name, _layer(name, known), prec))
    return tuple(out)
