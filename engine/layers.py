"""One map from every Keras layer to the ONNX nodes, PyTorch modules and quantized tensors
that implement it.

What the conversions do, and how the map records it:

- The Keras input is NHWC; tf2onnx adds a Transpose (NHWC -> NCHW) right after it. The
  ``input_1`` layer's tensor is the graph input itself (NHWC); the Transpose is listed as
  its node.
- BatchNormalization is folded into the preceding Conv: the Conv node's output tensor is
  named after the BN layer (``model/batch_normalization/FusedBatchNormV3:0``) and equals
  the BN layer's output. So the BN layer owns that tensor, and the Conv layer is *not
  materialised* (``onnx_output`` None); both list the Conv node and module.
- The two stride-2 'same' convs become a Pad + Conv; onnx2torch makes them a Sequential
  (``.0`` OnnxPadStatic, ``.1`` Conv2d) named after the ONNX node.
- Quantized variants (extra field ``quantized``): for the QDQ ONNX models the
  QuantizeLinear/DequantizeLinear pair carrying each layer's tensor; for the int8 PyTorch
  model the module whose output is the layer's tensor (a fused Conv+ReLU module reports the
  ReLU layer, the Conv+BN before it is then not materialised).

The map is cached as JSON through engine.cache, so a warm call imports neither TensorFlow
nor PyTorch.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine import convert
from engine.cache import make_key
from engine.errors import UsageError
from engine.types import ProgressFn
from engine.workspace import Workspace

LAYER_MAP_STAGE = "layers"
LAYER_MAP_LIBRARIES = ("tensorflow", "tf_keras", "tf2onnx", "onnx", "onnx2torch", "torch")
BLOCKS = ("stem", "stack1", "stack2", "stack3", "head")
"""Tree groups in model order: the stem, the three residual stacks, the classifier head."""
NOT_MATERIALISED = "not materialised"
"""Said in notes (and shown in tables) for a layer whose output no tensor holds."""


@dataclass(frozen=True)
class LayerInfo:
    """One Keras layer and what implements it in every variant."""

    name: str
    """Keras layer name, e.g. ``conv2d_3``."""
    kind: str
    """Keras class: InputLayer, Conv2D, BatchNormalization, Activation, Add, ..."""
    block: str
    """Tree group: stem, stack1, stack2, stack3, head."""
    index: int
    """Position in Keras model order (0 = input_1)."""
    output_shape: tuple[int, ...]
    """Without batch, NHWC as Keras, e.g. (16, 16, 32)."""
    params: int
    """Parameters the Keras layer owns."""
    inputs: tuple[str, ...]
    """Inbound Keras layer names."""
    onnx_nodes: tuple[str, ...]
    """Float ONNX node names implementing it (a folded BN lists the Conv node)."""
    onnx_output: str | None
    """Float ONNX tensor equal to this layer's output (None when not materialised)."""
    torch_modules: tuple[str, ...]
    """onnx2torch module names implementing it (Sequential children included)."""
    notes: str
    """What the conversion did to it, e.g. ``BatchNorm folded into conv2d_3``."""
    torch_output: str | None = None
    """The onnx2torch module whose forward output is this layer's output (None: none is)."""
    quantized: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Quantized variant -> tensor or module names carrying this layer's output."""

    @property
    def materialised(self) -> bool:
        """Whether the float ONNX/PyTorch models hold this layer's output."""
        return self.onnx_output is not None


def layer_map(ws: Workspace, opset: int = convert.DEFAULT_OPSET, *,
              on_progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> tuple[LayerInfo, ...]:
    """Every Keras layer in model order with its ONNX and PyTorch counterparts (cached).

    The ``quantized`` field is filled by :func:`quantized_layer_map` (it needs the quantized
    models, which this function never builds).
    """
    convert.check_opset(opset)
    key = make_key(LAYER_MAP_STAGE, {"model": ws.model_sha, "opset": opset},
                   LAYER_MAP_LIBRARIES)
    return ws.cache.json_result(
        LAYER_MAP_STAGE, key, lambda: build_layer_map(ws, opset, on_progress=on_progress, cancel=cancel),
        lambda layers: [asdict(x) for x in layers],
        lambda items: tuple(_from_dict(d) for d in items),
        {"model_sha256": ws.model_sha, "opset": opset})


def find_layer(layers: tuple[LayerInfo, ...] | list[LayerInfo], name: str) -> LayerInfo:
    """The layer called ``name`` (its Keras name), or a UsageError listing the valid names."""
    for layer in layers:
        if layer.name == name:
            return layer
    raise UsageError(f"unknown layer {name!r}; use one of {', '.join(x.name for x in layers)}")


def layer_names(layers: tuple[LayerInfo, ...]) -> tuple[str, ...]:
    """Keras names in model order."""
    return tuple(x.name for x in layers)


# -- building -------------------------------------------------------------------------------
def keras_layer_of_tensor(tensor: str, keras_names: set[str]) -> str | None:
    """The Keras layer a tf2onnx tensor or node name belongs to (``model/<layer>/...``)."""
    if tensor in keras_names:
        return tensor
    parts = tensor.split("/")
    if len(parts) >= 2 and parts[0] == "model" and parts[1] in keras_names:
        return parts[1]
    return None


def assign_blocks(kinds: list[str]) -> list[str]:
    """Tree group of each layer, from the Keras classes in model order.

    The stem runs up to its first Activation; each residual stack ends at the Activation
    that follows its Add; what comes after the last stack is the head.
    """
    out: list[str] = []
    block, seen_add = 0, False
    for kind in kinds:
        out.append(BLOCKS[min(block, len(BLOCKS) - 1)])
        if kind == "Add":
            seen_add = True
        elif kind == "Activation" and (block == 0 or seen_add):
            block, seen_add = block + 1, False
    return out


def build_layer_map(ws: Workspace, opset: int = convert.DEFAULT_OPSET, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> tuple[LayerInfo, ...]:
    """Build the map from the Keras model, the float ONNX graph and the onnx2torch module.

    Imports TensorFlow and PyTorch; :func:`layer_map` caches the result.
    """
    from engine import frameworks

    onnx = frameworks.onnx()
    onnx_path = ws.onnx_path(opset, on_progress=on_progress, cancel=cancel)
    graph = onnx.load(str(onnx_path)).graph
    module = convert.onnx_to_torch(onnx_path)
    torch_names = [n for n, _ in module.named_modules() if n]
    keras = _keras_listing(ws)
    names = [k["name"] for k in keras]
    known = set(names)
    blocks = assign_blocks([k["kind"] for k in keras])

    graph_input = graph.input[0].name
    nodes_of: dict[str, list[str]] = {n: [] for n in names}
    producer: dict[str, str] = {}  # tensor -> node
    tensor_of: dict[str, str] = {}  # layer -> tensor equal to its output
    for node in graph.node:
        for out in node.output:
            producer[out] = node.name
        if node.op_type == "Transpose" and graph_input in node.input:
            if graph_input in known:  # the input layout change belongs to the input layer
                nodes_of[graph_input].append(node.name)
            continue
        owner = keras_layer_of_tensor(node.name, known)
        if owner is not None:
            nodes_of[owner].append(node.name)
        for out in node.output:
            carrier = keras_layer_of_tensor(out, known)
            if carrier is not None and carrier != owner and owner is not None:
                nodes_of[carrier].append(node.name)  # folded: the Conv implements the BN
            if carrier is not None:
                tensor_of[carrier] = out  # the last tensor named after a layer wins
    if graph_input in known:
        tensor_of[graph_input] = graph_input

    layers: list[LayerInfo] = []
    for i, k in enumerate(keras):
        name = k["name"]
        out = tensor_of.get(name)
        onnx_nodes = tuple(dict.fromkeys(nodes_of[name]))
        mods = tuple(m for m in torch_names if m.split(".")[0] in onnx_nodes)
        torch_out = producer.get(out) if out is not None and out != graph_input else None
        notes = _notes(k, out, onnx_nodes, mods, producer, known)
        layers.append(LayerInfo(
            name=name, kind=k["kind"], block=blocks[i], index=i,
            output_shape=tuple(k["shape"]), params=k["params"], inputs=tuple(k["inputs"]),
            onnx_nodes=onnx_nodes, onnx_output=out, torch_modules=mods, notes=notes,
            torch_output=torch_out if torch_out in torch_names else None,
        ))
    return tuple(layers)


def _notes(k: dict[str, Any], out: str | None, onnx_nodes: tuple[str, ...],
           mods: tuple[str, ...], producer: dict[str, str], known: set[str]) -> str:
    notes: list[str] = []
    if k["kind"] == "InputLayer":
        notes.append("graph input (NHWC); Transpose NHWC->NCHW follows")
    if out is None:
        for n in onnx_nodes:
            target = keras_layer_of_tensor(n, known)
            if target == k["name"]:
                notes.append(f"{NOT_MATERIALISED}: BatchNorm folded in; its output is the "
                             "following BatchNormalization layer's")
                break
    elif k["kind"] == "BatchNormalization":
        conv = keras_layer_of_tensor(producer.get(out, ""), known)
        notes.append(f"BatchNorm folded into {conv}")
    if any(m.endswith(".0") for m in mods):
        notes.append("Pad + Conv (stride-2 'same')")
    return "; ".join(dict.fromkeys(notes))


def _keras_listing(ws: Workspace) -> list[dict[str, Any]]:
    from engine import tf_jobs

    _ = ws.model_sha  # checks the file with h5py in this process first
    rows = tf_jobs.keras_layers(ws.tf_worker, ws.model_path)
    return [{**r, "shape": [int(d) for d in r["shape"][1:]]} for r in rows]


def _from_dict(d: dict[str, Any]) -> LayerInfo:
    return LayerInfo(
        name=d["name"], kind=d["kind"], block=d["block"], index=int(d["index"]),
        output_shape=tuple(d["output_shape"]), params=int(d["params"]),
        inputs=tuple(d["inputs"]), onnx_nodes=tuple(d["onnx_nodes"]),
        onnx_output=d["onnx_output"], torch_modules=tuple(d["torch_modules"]),
        notes=d["notes"], torch_output=d.get("torch_output"),
        quantized={k: tuple(v) for k, v in d.get("quantized", {}).items()},
    )


# -- quantized variants ---------------------------------------------------------------------
QuantParams = tuple[float, int, int, int]
"""(scale, zero_point, qmin, qmax) of a per-tensor quantized tensor."""
INPUT_OF = "@in"
"""Suffix of a torch-int8 target read from a module's first input rather than its output
(a functional add+ReLU has no module; the next module's input is its output)."""
QUANT_MAP_STAGE = "layers-quantized"


def qdq_targets(onnx_path: Any, layers: tuple[LayerInfo, ...],
                ) -> tuple[dict[str, str], dict[str, QuantParams]]:
    """Keras layer -> QuantizeLinear output tensor (integer) carrying it in a QDQ model, and
    its (scale, zero_point, qmin, qmax).

    A layer is carried by the QuantizeLinear of its float tensor (or of the graph output it
    is); ``input_1`` by the QuantizeLinear of the transposed input. Reading the integer
    tensor keeps ONNX Runtime's QLinear fusions intact (exposing a DequantizeLinear output
    would block them). ORT drops a Relu after a Conv/Add (the activation range does its
    work), so the BatchNorm/Add before it has no tensor: not materialised.
    """
    from engine import frameworks

    onnx = frameworks.onnx()
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    graph_input = graph.input[0].name
    q_of_input: dict[str, Any] = {}
    producer: dict[str, Any] = {}
    for node in graph.node:
        for out in node.output:
            producer[out] = node
        if node.op_type == "QuantizeLinear":
            q_of_input[node.input[0]] = node
    transposed_input = next((n.output[0] for n in graph.node
                             if n.op_type == "Transpose" and graph_input in n.input), None)
    targets: dict[str, str] = {}
    qparams: dict[str, QuantParams] = {}
    for layer in layers:
        tensor = layer.onnx_output
        if tensor == graph_input:
            tensor = transposed_input
        if tensor is None:
            continue
        q = q_of_input.get(tensor)
        node = producer.get(tensor)
        if q is None and node is not None and node.op_type == "DequantizeLinear":
            q = producer.get(node.input[0])  # a graph output produced by Q -> DQ
        if q is None or q.op_type != "QuantizeLinear":
            continue
        scale = float(numpy_helper.to_array(inits[q.input[1]]).ravel()[0])
        zp_arr = numpy_helper.to_array(inits[q.input[2]]) if len(q.input) > 2 else None
        zero = int(zp_arr.ravel()[0]) if zp_arr is not None else 0
        info = np.iinfo(zp_arr.dtype if zp_arr is not None else np.uint8)
        targets[layer.name] = q.output[0]
        qparams[layer.name] = (scale, zero, int(info.min), int(info.max))
    return targets, qparams


def torch_int8_targets(module: Any, layers: tuple[LayerInfo, ...]) -> dict[str, str]:
    """Keras layer -> module of the FX int8 model whose output (or, with INPUT_OF, whose
    first input) is that layer's output.

    A fused ConvReLU module reports the ReLU (Activation) layer after its Conv+BN; the
    BN layer is then not materialised. A stride-2 conv's Pad stays float outside the module
    tree, so its Conv is the ``.1`` child. Layers computed by functional ops (add+ReLU,
    reshape, matmul) are read from the input of the module that consumes them when there
    is one, else not materialised; ``input_1`` is the quantized input the first conv gets.
    """
    mods = dict(module.named_modules())
    called = {n for n, m in mods.items() if n and not list(m.children())}
    consumers: dict[str, list[LayerInfo]] = {x.name: [] for x in layers}
    for x in layers:
        for i in x.inputs:
            consumers[i].append(x)

    def leaf(name: str | None) -> str | None:
        if name is None or name not in mods:
            return None
        if name in called:
            return name
        kids = [n for n in called if n.startswith(name + ".")]
        return sorted(kids)[-1] if kids else None

    targets: dict[str, str] = {}
    for x in layers:
        m = leaf(x.torch_output)
        if m is None:
            continue
        if "ReLU" in type(mods[m]).__name__:
            after = [c for c in consumers[x.name] if c.kind == "Activation"]
            if after:
                targets[after[0].name] = m
                continue
        targets.setdefault(x.name, m)
    for x in layers:
        if x.name in targets:
            continue
        for c in consumers[x.name]:
            top = c.torch_modules[0] if c.torch_modules else None
            if (top is not None and top in called and len(c.inputs) == 1
                    and top not in x.torch_modules):  # a folded BN's module is its conv's
                targets[x.name] = top + INPUT_OF
                break
    return {x.name: targets[x.name] for x in layers if x.name in targets}


def quantized_layer_map(ws: Workspace, opts: Any = None,
                        variants: tuple[str, ...] | None = None) -> tuple[LayerInfo, ...]:
    """layer_map with ``quantized`` filled for the quantized variants (cached per variant
    identity; building a quantized model the first time it is asked for)."""
    from dataclasses import replace
    from functools import partial

    from engine import variants as V  # the variants build on this module

    opts = opts or V.VariantOptions()
    layers = layer_map(ws, opts.opset)
    names: dict[str, dict[str, tuple[str, ...]]] = {x.name: {} for x in layers}
    for variant in variants if variants is not None else V.names("quantized"):
        v = V.get(variant)
        if not isinstance(v, V.QuantizedVariant):
            raise UsageError(f"{variant!r} is not a quantized variant; use one of "
                             f"{', '.join(V.names('quantized'))}")
        key = make_key(QUANT_MAP_STAGE, {"variant": V.identity(ws, variant, opts)},
                       LAYER_MAP_LIBRARIES)
        targets: dict[str, str] = ws.cache.json_result(
            QUANT_MAP_STAGE, key, partial(v.quantized_targets, ws, opts, layers),
            dict, dict, {"variant": variant})
        for layer, target in targets.items():
            names[layer][variant] = (target,)
    return tuple(replace(x, quantized=names[x.name]) for x in layers)
