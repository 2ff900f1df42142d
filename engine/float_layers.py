"""Quantizable units of the model, by Keras name, and how to keep some of them in float.

A *unit* is what an int8 backend quantizes as one piece: a Conv2D with its folded
BatchNormalization and the ReLU that follows it (ORT drops that ReLU into the conv's output
range, FX fuses it into ConvReLU2d), an Add with its ReLU, the average pooling, and the
dense head (MatMul/Gemm, bias add, softmax). Units are named after their first Keras layer
(``conv2d_3``, ``add_1``, ``average_pooling2d``, ``dense``), the names every r8 command
speaks; :func:`quant_units` derives them from engine.layers' map.

Keeping a unit float means its computation runs in float; a tensor it hands to an int8
unit is still quantized at that unit's input (in ORT the next node's QuantizeLinear, in FX
the next module's ``quantize_per_tensor``), as in any mixed-precision deployment.

- ONNX Runtime: :func:`onnx_nodes_to_exclude` lists the nodes of the pre-processed graph
  that implement those units (``nodes_to_exclude`` of ``quantize_static``). Pre-processing
  fuses the dense MatMul + Add into one Gemm named ``model/dense/MatMul/MatMulAddFusion``,
  so nodes are matched by the Keras layer in their name, not by the float graph's names.
- PyTorch FX: :func:`torch_module_names` lists the onnx2torch modules of those units;
  engine.quantize gives each ``set_module_name(name, None)``. A module-name entry outranks
  the default mapping's per-op-type entries (Softmax has a fixed-qparams qconfig there, so
  a global None would still quantize it), and FX applies it to functional ops traced inside
  the module (the dense's ``matmul`` and bias ``add``), so the head really stays float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.convert import DEFAULT_OPSET
from engine.errors import UsageError
from engine.layers import LayerInfo, keras_layer_of_tensor
from engine.workspace import Workspace

UNIT_KINDS = ("Conv2D", "Add", "AveragePooling2D", "Dense")
"""Keras classes that start a quantizable unit."""
FOLLOWERS = ("BatchNormalization", "Activation")
"""Keras classes that join the unit of the layer they follow (folded BN, fused ReLU)."""


@dataclass(frozen=True)
class QuantUnit:
    """One quantizable piece of the model and the Keras layers it covers."""

    name: str
    """Keras name of its first layer (conv2d_3, add_1, average_pooling2d, dense)."""
    kind: str
    """Keras class of that layer (Conv2D, Add, AveragePooling2D, Dense)."""
    index: int
    """Keras model-order index of that layer."""
    layers: tuple[str, ...]
    """Keras layers it covers (the conv, its BatchNormalization, its ReLU)."""
    torch_modules: tuple[str, ...]
    """onnx2torch modules implementing it."""

    def describe(self) -> str:
        """e.g. ``conv2d_3 (+batch_normalization_3, activation_3)``."""
        rest = self.layers[1:]
        return f"{self.name} (+{', '.join(rest)})" if rest else self.name


def quant_units(layers: Sequence[LayerInfo]) -> tuple[QuantUnit, ...]:
    """The quantizable units in model order, from engine.layers' map."""
    consumers: dict[str, list[LayerInfo]] = {x.name: [] for x in layers}
    for x in layers:
        for i in x.inputs:
            if i in consumers:
                consumers[i].append(x)
    units: list[QuantUnit] = []
    for x in layers:
        if x.kind not in UNIT_KINDS:
            continue
        covered = [x]
        while True:
            nxt = [c for c in consumers[covered[-1].name] if c.kind in FOLLOWERS]
            if len(nxt) != 1 or len(consumers[covered[-1].name]) != 1:
                break
            if nxt[0].kind == "BatchNormalization" and covered[-1].kind != "Conv2D":
                break
            covered.append(nxt[0])
            if nxt[0].kind == "Activation":
                break
        mods = tuple(dict.fromkeys(m for c in covered for m in c.torch_modules))
        units.append(QuantUnit(x.name, x.kind, x.index, tuple(c.name for c in covered), mods))
    return tuple(units)


def unit_names(layers: Sequence[LayerInfo]) -> tuple[str, ...]:
    """Names of the quantizable units in model order."""
    return tuple(u.name for u in quant_units(layers))


def parse_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """A comma list or sequence of layer names, canonical: unique and sorted (order has no
    meaning; the canonical form keeps one cache key per set)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items]
    return tuple(sorted({n for n in names if n}))


def check_names(layers: Sequence[LayerInfo], names: Iterable[str],
                flag: str = "--float-layers") -> tuple[QuantUnit, ...]:
    """The units called ``names``; a UsageError lists the valid names for any unknown one."""
    units = {u.name: u for u in quant_units(layers)}
    out: list[QuantUnit] = []
    for n in names:
        if n not in units:
            inside = next((u.name for u in units.values() if n in u.layers), None)
            hint = f" ({n} belongs to {inside}; name that)" if inside else ""
            raise UsageError(f"unknown layer {n!r} for {flag}{hint}; use one or more "
                             f"of {', '.join(units)}")
        out.append(units[n])
    return tuple(sorted(out, key=lambda u: u.index))


def onnx_nodes_to_exclude(layers: Sequence[LayerInfo], names: Iterable[str],
                          node_names: Iterable[str]) -> list[str]:
    """Nodes of an ONNX graph (``node_names``, e.g. of the pre-processed model) that
    implement the units ``names``: every node whose name places it in a covered layer."""
    covered = {layer for u in check_names(layers, names) for layer in u.layers}
    known = {x.name for x in layers}
    return [n for n in node_names if keras_layer_of_tensor(n, known) in covered]


def torch_module_names(layers: Sequence[LayerInfo], names: Iterable[str]) -> list[str]:
    """onnx2torch module names (top level, no Sequential children) of the units ``names``."""
    mods = [m for u in check_names(layers, names) for m in u.torch_modules]
    return [m for m in dict.fromkeys(mods) if not any(m.startswith(p + ".") for p in mods)]


def label(float_layers: Sequence[str], bias_correction: bool) -> str:
    """What a variant name is followed by in every output: `` [float: dense; bias-corr]``,
    or the empty string for default settings."""
    parts = []
    if float_layers:
        parts.append(f"float: {', '.join(float_layers)}")
    if bias_correction:
        parts.append("bias-corr")
    return f" [{'; '.join(parts)}]" if parts else ""


def check_settings(ws: Workspace, variants: Iterable[str], quant: Mapping[str, Any],
                   opset: int = DEFAULT_OPSET) -> None:
    """Refuse layer settings (float layers, bias correction) that cannot apply: none of
    ``variants`` is an int8 variant, or a layer name is unknown (the valid ones listed)."""
    from engine.quantize import VARIANT_BACKEND

    names = parse_names(quant.get("float_layers"))
    flags = [f for f, on in (("--float-layers", bool(names)),
                             ("--bias-correction", bool(quant.get("bias_correction")))) if on]
    if not flags:
        return
    variants = list(variants)
    if not any(v in VARIANT_BACKEND for v in variants):
        verb = "apply" if len(flags) > 1 else "applies"
        raise UsageError(f"{' and '.join(flags)} {verb} to int8 variants only, not "
                         f"{', '.join(variants)}; use --variant {', '.join(VARIANT_BACKEND)} "
                         f"or drop {' and '.join(flags)}")
    if names:
        from engine.layers import layer_map

        check_names(layer_map(ws, opset), names)
