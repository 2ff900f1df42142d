"""Isolated error per layer of an int8 variant: the error a layer adds by itself.

Definition (the same for onnx-int8, onnx-uint8 and torch-int8): for a computing unit L,

- ``int8``: the int8 model's (dequantized) output of L;
- ``float``: the FLOAT layer L applied to the int8 model's own dequantized input of L;
- ``float_qw``: the float layer with the variant's dequantized weights (no output requant).

isolated error = int8 vs float; weights part = float_qw vs float; requant part = int8 vs
float_qw (everything the int8 kernel does after the weights: integer accumulation, bias
quantization, output requantization). The float layers run in float64 (PyTorch, NCHW
inside; NHWC in and out) with the BatchNorm-folded float weights of the float ONNX model.

Units (Keras layers that compute, named by the Keras layer whose output they produce):
a Conv2D with its BatchNormalization and ReLU when they follow it (ONNX Runtime's QDQ
graphs drop the ReLU into the conv's output quantization, so the comparison is always after
the ReLU), an Add with its ReLU, the AveragePooling2D, the Dense layer's logits (row
``dense:logits``, pre-softmax) and its softmax (row ``dense``). Flatten computes nothing.

The int8 input of a unit is the tensor its int8 kernel really gets: torch-int8's stride-2
convs get a float Pad then a requantization to their own scale (cropped back here; that
requantization counts in the conv's error), and its dense layer gets the pooled tensor
reshaped and requantized to the flatten scale (rebuilt here exactly as the model does).

Against the peers (tests/test_isolated.py):

- ONNX Runtime's ``qdq_loss_debug`` ``xmodel_err`` uses the same SQNR as r8 (20 log10
  ||x|| / ||x - y|| over every value of the set at once) and agrees with r8's accumulated
  error exactly at the same optimization level (ORT_DISABLE_ALL, its default). r8 runs
  ORT_ENABLE_ALL, the level a user deploys, exposing only the integer tensors; there the
  fused kernels change the softmax output (100 images: 20.78 dB against 21.01 dB
  unfused; a plain session gives 20.81 dB) and the pooling by 0.003 dB; convs and adds are
  identical. Its ``qdq_err`` (one tensor before vs after its Q/DQ pair) is only the
  rounding of that tensor; r8's requant part is everything after the weights.
- PyTorch's FX Numeric Suite: ``add_loggers`` equals r8's accumulated error (torch vs
  torch-int8) and ``add_shadow_loggers`` (the float layer fed the int8 layer's dequantized
  input) equals r8's isolated error on every conv, both within 0.001 dB. The suite gives one
  SQNR per logged batch (r8: one over the whole set) and cannot shadow the functional
  add_relu, the pooling, the matmul/add of the dense layer or the quantized softmax.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine import frameworks
from engine import variants as V
from engine.activations import CAPTURE_BATCH, CAPTURE_LIBRARIES, LAYOUT, run_capture
from engine.cache import make_key
from engine.errors import CancelledError
from engine.inputs import InputSpec, check_images
from engine.layers import INPUT_OF, LayerInfo, QuantParams, layer_map, qdq_targets
from engine.stats import DiffSums, TensorDiff, diff_sums
from engine.ties import OutputTies, output_ties
from engine.types import ProgressFn
from engine.workspace import Workspace

ISOLATED_STAGE = "isolated"
LOGITS = "dense:logits"
"""Row name of the dense layer's pre-softmax output (not a Keras layer output of its own)."""
ORT_OPTIMIZATION = "ORT_ENABLE_ALL"
"""Graph optimization level of the ONNX Runtime sessions r8 captures with (ORT's default,
the session a user deploys); ORT's qdq_loss_debug uses ORT_DISABLE_ALL."""


@dataclass(frozen=True)
class Unit:
    """One computing unit of the Keras model."""

    name: str
    """Row name: the Keras layer whose output the unit produces (or LOGITS)."""
    kind: str
    """conv, add, pool, logits, softmax."""
    layers: tuple[str, ...]
    """Keras layers it covers, model order."""
    inputs: tuple[str, ...]
    """Row or Keras names of its inputs."""
    relu: bool = False
    """Whether a ReLU ends it."""
    weights: str | None = None
    """Keras layer whose kernel and bias it uses (conv, dense)."""


@dataclass(frozen=True)
class IsolatedError:
    """The error one unit adds by itself in an int8 variant, over the whole input set."""

    name: str
    """Row name (Keras layer whose output it is, or ``dense:logits``)."""
    kind: str
    """conv, add, pool, logits, softmax."""
    layers: tuple[str, ...]
    """Keras layers the unit covers."""
    diff: TensorDiff
    """int8 output against the float layer on the int8 input (the isolated error)."""
    weight_sqnr_db: float
    """Float layer with dequantized weights against the float layer (inf: exact weights)."""
    requant_sqnr_db: float
    """int8 output against the float layer with dequantized weights."""
    requantized: bool
    """Whether the int8 output is a quantized tensor (False: a float output)."""


@dataclass(frozen=True)
class IsolatedReport:
    """Isolated error of every unit of one int8 variant, model order."""

    variant: str
    """The int8 variant."""
    input: str
    """Input spec text."""
    n: int
    """Images."""
    layers: tuple[IsolatedError, ...]
    """One row per unit, model order."""
    ort_optimization: str | None
    """ONNX Runtime graph optimization level of the capture (None for torch-int8)."""
    logits_accumulated: TensorDiff | None = None
    """The int8 logits against the float ONNX model's logits (the accumulated error of the
    pre-softmax row; float variants agree above 80 dB, so any float reference gives it)."""
    ties: OutputTies | None = None
    """Exact top-2 ties of the int8 probabilities, accuracy with ties broken by logits."""
    float_ties: OutputTies | None = None
    """The same for the float ONNX model on the same images."""
    notes: tuple[str, ...] = ()
    """Anything the reader should know."""
    layout: str = LAYOUT
    """Layout of the compared tensors."""
    cached: bool = False
    """Served from the cache."""


# -- units ----------------------------------------------------------------------------------
def model_units(layers: tuple[LayerInfo, ...]) -> tuple[Unit, ...]:
    """The computing units of the Keras model in the order of their output layers."""
    by_name = {x.name: x for x in layers}
    consumers: dict[str, list[LayerInfo]] = {x.name: [] for x in layers}
    for x in layers:
        for i in x.inputs:
            consumers[i].append(x)

    def follow(name: str, kind: str) -> str | None:
        nxt = consumers[name]
        return nxt[0].name if len(nxt) == 1 and nxt[0].kind == kind else None

    units: list[tuple[int, Unit]] = []
    for x in layers:
        chain = [x.name]
        if x.kind == "Conv2D":
            bn = follow(x.name, "BatchNormalization")
            if bn:
                chain.append(bn)
        if x.kind in ("Conv2D", "Add"):
            act = follow(chain[-1], "Activation")
            if act:
                chain.append(act)
            unit = Unit(chain[-1], "conv" if x.kind == "Conv2D" else "add", tuple(chain),
                        x.inputs, act is not None, x.name if x.kind == "Conv2D" else None)
            units.append((by_name[chain[-1]].index, unit))
        elif x.kind == "AveragePooling2D":
            units.append((x.index, Unit(x.name, "pool", (x.name,), x.inputs)))
        elif x.kind == "Dense":
            units.append((x.index, Unit(LOGITS, "logits", (x.name,), x.inputs, False, x.name)))
            units.append((x.index, Unit(x.name, "softmax", (x.name,), (LOGITS,))))
    order = {id(u): i for i, (_, u) in enumerate(units)}
    return tuple(u for _, u in sorted(units, key=lambda t: (t[0], order[id(t[1])])))


# -- float layers (float64) -----------------------------------------------------------------
def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def float_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int,
               relu: bool) -> np.ndarray:
    """'same' conv of NHWC ``x`` with an OIHW kernel, in float64; NHWC out."""
    torch = frameworks.torch()
    f = torch.nn.functional
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float64))
    kh, kw = kernel.shape[2:]
    ph, pw = same_pads(x.shape[1], kh, stride), same_pads(x.shape[2], kw, stride)
    t = f.pad(t, (pw[0], pw[1], ph[0], ph[1]))
    y = f.conv2d(t, torch.from_numpy(kernel.astype(np.float64)),
                 torch.from_numpy(bias.astype(np.float64)), stride=stride)
    if relu:
        y = torch.relu(y)
    return y.numpy().transpose(0, 2, 3, 1)


def float_dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x (N, in) @ kernel (in, out) + bias, float64."""
    return x.reshape(len(x), -1).astype(np.float64) @ kernel.astype(np.float64) + bias


def float_softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def float_pool(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Average pooling of NHWC ``x`` down to ``out_hw`` (non-overlapping windows)."""
    n, h, w, c = x.shape
    kh, kw = h // out_hw[0], w // out_hw[1]
    y = x[:, :out_hw[0] * kh, :out_hw[1] * kw].astype(np.float64)
    return y.reshape(n, out_hw[0], kh, out_hw[1], kw, c).mean(axis=(2, 4))


@dataclass(frozen=True)
class SplitSums:
    """Running sums of the three comparisons of one unit."""

    total: DiffSums = DiffSums()
    weight: DiffSums = DiffSums()
    requant: DiffSums = DiffSums()

    def __add__(self, o: SplitSums) -> SplitSums:
        return SplitSums(self.total + o.total, self.weight + o.weight, self.requant + o.requant)


def split_sums(int8_out: np.ndarray, ref: np.ndarray, ref_qw: np.ndarray) -> SplitSums:
    """Isolated error sums: int8 vs float, float_qw vs float (weights), int8 vs float_qw
    (requant)."""
    return SplitSums(diff_sums(ref, int8_out), diff_sums(ref, ref_qw), diff_sums(ref_qw, int8_out))


# -- the computation ------------------------------------------------------------------------
def check_isolated_variant(variant: str) -> None:
    V.check_quantized(variant, "isolated error", " (e.g. --b onnx-int8)")


def isolated_errors(
    ws: Workspace,
    variant: str,
    spec: InputSpec,
    opts: V.VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> IsolatedReport:
    """Isolated error (with its weights/requant split) of every unit of ``variant`` (cached)."""
    opts = opts or V.VariantOptions()
    check_isolated_variant(variant)
    check_images(spec)
    layers = layer_map(ws, opts.opset)
    key = make_key(ISOLATED_STAGE, {"variant": V.identity(ws, variant, opts),
                                    "float": V.identity(ws, "onnx", opts),
                                    "input": spec.identity, "layout": LAYOUT},
                   CAPTURE_LIBRARIES)
    return ws.cache.json_result(
        ISOLATED_STAGE, key,
        lambda: _compute(ws, variant, spec, opts, layers, on_progress, cancel),
        _to_dict, _from_dict, {"variant": variant, "input": spec.text})


def _weights(ws: Workspace, variant: str, opts: V.VariantOptions,
             ) -> dict[tuple[str, str], np.ndarray]:
    from engine.weights import weight_arrays

    return {(ly, p): v for ly, p, v, _ in weight_arrays(ws, variant, opts)}


def _compute(ws: Workspace, variant: str, spec: InputSpec, opts: V.VariantOptions,
             layers: tuple[LayerInfo, ...], on_progress: ProgressFn | None,
             cancel: threading.Event | None) -> IsolatedReport:
    units = model_units(layers)
    by_name = {x.name: x for x in layers}
    wf, wq = _weights(ws, "onnx", opts), _weights(ws, variant, opts)
    cap, names, requantized, prepare = open_int8_capturer(ws, variant, opts, layers, units)
    fcap = _float_logits_capturer(ws, opts)
    sums: dict[str, SplitSums] = {}
    acc_logits = DiffSums()
    ties = ftie = OutputTies(0, 0, 0, 0, 0)
    n = len(spec)
    for start in range(0, n, CAPTURE_BATCH):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"isolated error of {variant}: cancelled after {start} of "
                                 f"{n} images")
        batch = spec.images[start:start + CAPTURE_BATCH]
        t, probs, _ = run_capture(cap, names, batch, variant, None, cancel)
        t = prepare(t)
        ft, fprobs, _ = run_capture(fcap, (LOGITS,), batch, "onnx", None, cancel)
        labels = spec.labels[start:start + CAPTURE_BATCH]
        acc_logits = acc_logits + diff_sums(ft[LOGITS], t[LOGITS])
        ties = ties + output_ties(probs, t[LOGITS], labels)
        ftie = ftie + output_ties(fprobs, ft[LOGITS], labels)
        for u in units:
            if u.name not in t or any(i not in t for i in _unit_inputs(u)):
                continue
            part = _unit_sums(u, t, wf, wq, by_name)
            sums[u.name] = part if u.name not in sums else sums[u.name] + part
        if on_progress:
            on_progress(min(start + CAPTURE_BATCH, n), n, f"isolated error of {variant}")
    rows = []
    for u in units:
        if u.name not in sums:
            continue
        s = sums[u.name]
        rows.append(IsolatedError(u.name, u.kind, u.layers, s.total.finish(),
                                  s.weight.finish().sqnr_db, s.requant.finish().sqnr_db,
                                  requantized.get(u.name, False)))
    missing = [u.name for u in units if u.name not in sums]
    notes = list(spec.notes)
    if missing:
        notes.append(f"no int8 tensor for input or output of: {', '.join(missing)}")
    return IsolatedReport(variant, spec.text, n, tuple(rows),
                          None if V.get(variant).family == "torch_fx" else ORT_OPTIMIZATION,
                          acc_logits.finish(), ties, ftie, tuple(notes))


def _float_logits_capturer(ws: Workspace, opts: V.VariantOptions) -> Any:
    from engine import activations as A

    path = ws.onnx_path(opts.opset)
    graph = frameworks.onnx().load(str(path)).graph
    soft = next(n for n in graph.node if n.op_type == "Softmax")
    return A._OnnxCapturer(path, {LOGITS: soft.input[0]}, opts.device, opts.threads)


def _unit_inputs(u: Unit) -> tuple[str, ...]:
    return tuple(f"{u.name}{INPUT_OF}" if u.kind == "conv" else i for i in u.inputs)


def _unit_sums(u: Unit, t: dict[str, np.ndarray], wf: dict[tuple[str, str], np.ndarray],
               wq: dict[tuple[str, str], np.ndarray], by_name: dict[str, LayerInfo],
               ) -> SplitSums:
    xs = [t[i] for i in _unit_inputs(u)]
    out = t[u.name]
    fn: Callable[[dict[tuple[str, str], np.ndarray]], np.ndarray]
    if u.kind == "conv":
        assert u.weights is not None
        conv = u.weights
        stride = xs[0].shape[1] // by_name[u.name].output_shape[0]

        def fn(w: dict[tuple[str, str], np.ndarray]) -> np.ndarray:
            return float_conv(xs[0], w[(conv, "kernel")], w[(conv, "bias")], stride, u.relu)
    elif u.kind == "logits":
        assert u.weights is not None
        dense = u.weights

        def fn(w: dict[tuple[str, str], np.ndarray]) -> np.ndarray:
            return float_dense(xs[0], w[(dense, "kernel")], w[(dense, "bias")])
    else:
        if u.kind == "add":
            y = xs[0].astype(np.float64) + xs[1]
            y = np.maximum(y, 0.0) if u.relu else y
        elif u.kind == "pool":
            oh, ow = by_name[u.name].output_shape[:2]
            y = float_pool(xs[0], (oh, ow))
        else:
            y = float_softmax(xs[0])
        return split_sums(out, y, y)
    return split_sums(out, fn(wf), fn(wq))


# -- capture of the int8 tensors each unit needs -------------------------------------------
def open_int8_capturer(
    ws: Workspace, variant: str, opts: V.VariantOptions, layers: tuple[LayerInfo, ...],
    units: tuple[Unit, ...],
) -> tuple[Any, tuple[str, ...], dict[str, bool],
           Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]]:
    """A capturer of every unit's int8 output and input, the names it yields, whether each
    output is requantized, and a function finishing a batch's tensors (cropping padded
    conv inputs, rebuilding the dense layer's requantized input in torch-int8)."""
    from engine import activations as A
    from engine.layers import torch_int8_targets

    convs = [u for u in units if u.kind == "conv"]
    family = V.get(variant)
    if family.family == "torch_fx":
        module = family.module(ws, opts)  # type: ignore[attr-defined]
        targets = torch_int8_targets(module, layers)
        called = {n for n, m in module.named_modules() if n and not list(m.children())}
        by_name = {x.name: x for x in layers}
        for u in convs:  # the conv's own (requantized, maybe padded) input
            assert u.weights is not None
            leaf = [m for m in by_name[u.weights].torch_modules if m in called]
            if leaf:
                targets[f"{u.name}{INPUT_OF}"] = leaf[-1] + INPUT_OF
        targets[LOGITS] = "model/dense/Softmax" + INPUT_OF
        cap: Any = A._TorchCapturer(module, targets, "cpu", opts.threads)
        flat_q = _torch_requant(module, "model/flatten/Reshape")
        requantized = {u.name: True for u in units}
    else:
        path = family.path(ws, opts)  # type: ignore[attr-defined]
        targets, qparams = qdq_targets(path, layers)
        for u in convs:  # the conv's input is its Keras input's quantized tensor
            if u.inputs[0] in targets:
                targets[f"{u.name}{INPUT_OF}"] = targets[u.inputs[0]]
                qparams[f"{u.name}{INPUT_OF}"] = qparams[u.inputs[0]]
        lt, lq = _qdq_logits(path)
        targets[LOGITS], qparams[LOGITS] = lt, lq
        cap = A._OnnxCapturer(path, targets, opts.device, opts.threads, qparams)
        flat_q = None
        requantized = {u.name: u.name in qparams for u in units}
    names = (layers[0].name, *(k for k in targets if k != layers[0].name))
    dense_in = next((u.inputs[0] for u in units if u.kind == "logits"), None)
    pool = next((u.name for u in units if u.kind == "pool"), None)

    def prepare(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t = dict(t)
        for u in convs:
            k = f"{u.name}{INPUT_OF}"
            src = t.get(u.inputs[0])
            if k in t and src is not None and t[k].shape != src.shape:
                # torch-int8's stride-2 convs get a float Pad (0 before, 1 after) then a
                # requantization: crop back to the Keras input, keep that requantization
                t[k] = np.ascontiguousarray(t[k][:, :src.shape[1], :src.shape[2]])
        if dense_in is not None and dense_in not in t and pool in t and flat_q is not None:
            flat = t[pool].reshape(len(t[pool]), -1)  # torch-int8: reshape, then requantize
            t[dense_in] = _fake_quant(flat, *flat_q)
        return t

    return cap, names, requantized, prepare


def _torch_requant(module: Any, prefix: str) -> tuple[float, int, int, int] | None:
    scale = getattr(module, f"{prefix}_scale_0", None)
    zero = getattr(module, f"{prefix}_zero_point_0", None)
    if scale is None or zero is None:
        return None
    return float(scale), int(zero), 0, 255


def _fake_quant(x: np.ndarray, scale: float, zero: int, qmin: int, qmax: int) -> np.ndarray:
    torch = frameworks.torch()
    q = torch.quantize_per_tensor(torch.from_numpy(np.ascontiguousarray(x, np.float32)),
                                  scale, zero, torch.quint8 if qmin == 0 else torch.qint8)
    return q.dequantize().numpy()


def _qdq_logits(path: Any) -> tuple[str, QuantParams]:
    """The QuantizeLinear output carrying the Softmax's input in a QDQ model, and its
    (scale, zero_point, qmin, qmax)."""
    onnx = frameworks.onnx()
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    soft = next(n for n in graph.node if n.op_type == "Softmax")
    dq = producer[soft.input[0]]
    zp = inits[dq.input[2]]
    info = np.iinfo(zp.dtype)
    return dq.input[0], (float(inits[dq.input[1]].ravel()[0]), int(zp.ravel()[0]),
                         int(info.min), int(info.max))


# -- cache (de)serialisation ----------------------------------------------------------------
def _to_dict(r: IsolatedReport) -> dict[str, Any]:
    d = asdict(r)
    d.pop("cached")
    for k in ("ties", "float_ties"):
        t = getattr(r, k)
        d[k] = None if t is None else t.to_dict()
    return d


def _from_dict(d: dict[str, Any]) -> IsolatedReport:
    rows = tuple(IsolatedError(x["name"], x["kind"], tuple(x["layers"]), TensorDiff(**x["diff"]),
                               float(x["weight_sqnr_db"]), float(x["requant_sqnr_db"]),
                               bool(x["requantized"])) for x in d["layers"])
    la = d.get("logits_accumulated")
    ties = {k: None if d.get(k) is None else OutputTies.from_dict(d[k])
            for k in ("ties", "float_ties")}
    return IsolatedReport(d["variant"], d["input"], int(d["n"]), rows, d["ort_optimization"],
                          None if la is None else TensorDiff(**la), ties["ties"],
                          ties["float_ties"], tuple(d["notes"]), d["layout"], cached=True)
