"""Every layer's output for chosen inputs, in every variant, and per-layer comparisons.

Layout: all captured tensors are **NHWC like Keras** (``LAYOUT``), batch first. ONNX Runtime
and PyTorch compute in NCHW; their 4-D tensors are transposed on capture, so a layer has the
same shape and element order in every variant and is compared by its Keras name.

How each framework is read:

- PyTorch (float and int8): forward hooks registered in :func:`forward_hooks`, a context
  manager that removes every handle in ``finally``; captured tensors are detached numpy
  copies (int8 ones dequantized, their scale and zero point kept for the saturation share).
- ONNX Runtime (float and QDQ): the intermediate tensors are added as graph outputs on an
  in-memory copy of the model (for QDQ, the integer QuantizeLinear outputs, dequantized
  here). Graph outputs stop some of ORT's fusions (Conv+Relu), so the final probabilities
  can differ from a plain session's by float rounding (~1e-7; one output LSB for int8).
- Keras: a sub-model whose outputs are all layer outputs.

Layers not materialised: BatchNorm is folded into the Conv before it in ONNX and PyTorch,
so only the BN output exists there. That tensor is reported under the BatchNormalization
layer's name; the Conv layer is marked not materialised (absent from ``tensors``) rather
than reporting the post-BN tensor under its name, which would compare pre-BN (Keras) with
post-BN values. In the int8 PyTorch model Conv+BN+ReLU is one fused module: its output is
reported under the ReLU (Activation) layer and the BN layer is then not materialised.
``input_1`` is the input itself in the float variants and the quantized input (as the first
layer receives it) in the int8 ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import data, frameworks
from engine import variants as V
from engine.cache import make_key
from engine.errors import CancelledError, ModelError, UsageError
from engine.layers import INPUT_OF, LayerInfo, QuantParams, layer_map
from engine.runners import check_batch, choose_ort_providers, choose_torch_device
from engine.stats import (
    DiffSums,
    Histogram,
    Moments,
    TensorDiff,
    TensorStats,
    diff_sums,
    histogram,
    moments,
    tensor_stats,
)
from engine.subsets import load_index_array
from engine.types import CLASS_NAMES, ProgressFn
from engine.workspace import Workspace

INPUT_HELP = "test:INDEX | class:NAME:N | random:SEED | batch:test:A-B | indices:FILE.npy"
LAYOUT = "NHWC"
"""Layout of every captured 4-D tensor (Keras's), batch first."""
DIVERGENCE_DB = 40.0
"""Default first-divergence threshold: a layer below this SQNR has visibly drifted (int8
layers of this model sit around 20-35 dB, float variants far above 80 dB)."""
FLOAT_AGREEMENT_DB = 80.0
"""Float variants must agree per layer above this SQNR (or exactly)."""
CAPTURE_VARIANTS = V.FLOAT_VARIANTS + V.QUANT_VARIANTS
"""Variants whose intermediate tensors can be read (the TFLite references cannot)."""
CAPTURE_BATCH = 100
"""Images per forward pass while capturing."""
CACHED_TENSORS_MAX = 64
"""Comparisons over at most this many images reuse (and fill) the activation cache; larger
sets are streamed batch by batch and only the report is cached."""
QUINT8_REDUCED_MAX = 127
"""Top of the uint8 activation range when PyTorch observers use reduce_range."""
OFFICIAL_TEST_RANGE = (0, data.OFFICIAL_TEST_SIZE - 1)
ACTIVATION_STAGE = "activations"
COMPARE_STAGE = "compare"
CAPTURE_LIBRARIES = ("numpy", "tensorflow", "tf_keras", "tf2onnx", "onnx", "onnxruntime",
                     "onnx2torch", "torch", "torchao")


# -- inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputSpec:
    """The images an activation capture runs on."""

    text: str
    """The spec as given, e.g. ``test:123``."""
    images: np.ndarray
    """(N, 32, 32, 3) NHWC raw 0-255 pixels (uint8, float32 for random inputs)."""
    labels: np.ndarray
    """int64 (N,), class ids; -1 for random inputs."""
    indices: np.ndarray
    """int64 (N,), official test indices; -1 for random inputs."""
    notes: tuple[str, ...] = ()
    """E.g. indices of a range that are absent from this copy of the data."""

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def identity(self) -> str:
        """Content hash of the pixels, labels and indices (keys cached results)."""
        return data.identity_of(self.images, self.labels, self.indices) + str(self.images.dtype)


def parse_input(ws: Workspace, text: str) -> InputSpec:
    """Resolve an input spec (see INPUT_HELP) against the test set; UsageError when bad."""
    spec = text.strip()
    kind, _, arg = spec.partition(":")
    if kind == "random" and arg:
        seed = _int(arg, spec, "seed")
        minus = np.full(1, -1, np.int64)
        return InputSpec(spec, data.random_inputs(1, seed), minus, minus.copy())
    if kind == "test" and arg:
        index = _int(arg, spec, "index")
        _check_official(index, spec)
        rows = _rows_of(ws, [index], spec)
        return _from_rows(ws, spec, rows)
    if kind == "class" and arg:
        name, _, nth = arg.rpartition(":")
        if not name:
            raise UsageError(f"malformed input {spec!r}; use class:NAME:N, e.g. class:cat:3 "
                             f"(classes: {', '.join(CLASS_NAMES)})")
        cid = data.class_id(name)
        n = _int(nth, spec, "N")
        members = np.flatnonzero(ws.test_set.labels == cid)
        if not 0 <= n < len(members):
            raise UsageError(f"{spec!r}: this copy has {len(members)} {CLASS_NAMES[cid]} images; "
                             f"use N from 0 to {len(members) - 1}")
        return _from_rows(ws, spec, np.asarray([members[n]]))
    if kind == "batch" and arg:
        split, _, rng = arg.partition(":")
        lo_text, dash, hi_text = rng.partition("-")
        if split != "test" or not dash:
            raise UsageError(f"malformed input {spec!r}; use batch:test:A-B, e.g. batch:test:0-31")
        lo, hi = _int(lo_text, spec, "A"), _int(hi_text, spec, "B")
        _check_official(lo, spec)
        _check_official(hi, spec)
        if hi < lo:
            raise UsageError(f"{spec!r}: range end {hi} is before its start {lo}; use A <= B")
        pos = {int(v): i for i, v in enumerate(ws.test_set.indices)}
        wanted = range(lo, hi + 1)
        present = [pos[i] for i in wanted if i in pos]
        absent = [i for i in wanted if i not in pos]
        if not present:
            raise UsageError(f"{spec!r}: none of test images {lo}-{hi} are in this copy of the "
                             "data; choose another range")
        notes = (f"{len(absent)} of {len(wanted)} indices absent from this copy "
                 f"({', '.join(map(str, absent[:10]))}); skipped",) if absent else ()
        return _from_rows(ws, spec, np.asarray(present), notes)
    if kind == "indices" and arg:
        wanted_arr = load_index_array(Path(arg))
        lo, hi = OFFICIAL_TEST_RANGE
        bad = wanted_arr[(wanted_arr < lo) | (wanted_arr > hi)]
        if bad.size:
            raise UsageError(f"{arg} holds test index {int(bad[0])}, out of range; use "
                             f"{lo}-{hi}")
        ds = data.by_official_indices(ws.test_set, wanted_arr, Path(arg).stem)
        return InputSpec(spec, ds.images, ds.labels, ds.indices, ds.notes[len(ws.test_set.notes):])
    raise UsageError(f"malformed input {spec!r}; use {INPUT_HELP}")


def _int(text: str, spec: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} in input {spec!r} is not a whole number; "
                         f"use {INPUT_HELP}") from None


def _check_official(index: int, spec: str) -> None:
    lo, hi = OFFICIAL_TEST_RANGE
    if not lo <= index <= hi:
        raise UsageError(f"test index {index} in {spec!r} is out of range; use {lo}-{hi}")


def _rows_of(ws: Workspace, wanted: list[int], spec: str) -> np.ndarray:
    pos = {int(v): i for i, v in enumerate(ws.test_set.indices)}
    absent = [w for w in wanted if w not in pos]
    if absent:
        n_missing = data.OFFICIAL_TEST_SIZE - len(ws.test_set)
        raise UsageError(f"test image {absent[0]} ({spec!r}) is not in this copy of the data "
                         f"({n_missing} of {data.OFFICIAL_TEST_SIZE} are missing); choose "
                         "another index")
    return np.asarray([pos[w] for w in wanted])


def _from_rows(ws: Workspace, spec: str, rows: np.ndarray,
               notes: tuple[str, ...] = ()) -> InputSpec:
    ds = ws.test_set
    return InputSpec(spec, ds.images[rows], ds.labels[rows], ds.indices[rows], notes)


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationSet:
    """Every materialised layer's output of one variant on one input set."""

    variant: str
    """The variant that produced them."""
    input: str
    """The input spec text."""
    layers: tuple[str, ...]
    """Keras names of the captured layers, model order (not materialised ones left out)."""
    tensors: dict[str, np.ndarray]
    """Keras name -> float32 (N, ...) tensor, NHWC like Keras (see LAYOUT)."""
    probs: np.ndarray
    """float32 (N, 10) class probabilities of the same run."""
    quant: dict[str, QuantParams] = field(default_factory=dict)
    """Quantized variants: layer -> (scale, zero_point, qmin, qmax) of its int8 tensor."""
    layout: str = LAYOUT
    """Layout of the 4-D tensors."""
    not_materialised: tuple[str, ...] = ()
    """Keras layers with no tensor in this variant (e.g. a Conv whose BN is folded in)."""
    cached: bool = False
    """Served from the cache."""


@dataclass(frozen=True)
class LayerActivationStats:
    """Statistics of one layer's captured output."""

    name: str
    """Keras layer name."""
    shape: tuple[int, ...]
    """Tensor shape with the batch dimension, NHWC."""
    stats: TensorStats
    """Statistics over all captured values of the layer."""
    histogram: Histogram
    """Fixed-bin histogram (HIST_BINS bins over min..max)."""
    saturated_fraction: float | None
    """Quantized variants: share of values at either end of the int8 range, not counting
    exact zeros (a ReLU output's zero is its range floor, not a clipped value); None for
    float variants."""


def saturated_fraction(x: np.ndarray, q: QuantParams) -> float:
    """Share of the dequantized values ``x`` that sit at the quantized range ends."""
    scale, zero, qmin, qmax = q
    if x.size == 0 or scale <= 0:
        return float("nan")
    levels = np.rint(np.asarray(x, np.float64) / scale) + zero
    at_ends = np.zeros(levels.shape, bool)
    if qmin != zero:
        at_ends |= levels <= qmin
    if qmax != zero:
        at_ends |= levels >= qmax
    return float(np.count_nonzero(at_ends)) / x.size


def activation_stats(acts: ActivationSet) -> tuple[LayerActivationStats, ...]:
    """Statistics, histogram and (int8) saturation share of every captured layer."""
    out = []
    for name in acts.layers:
        x = acts.tensors[name]
        q = acts.quant.get(name)
        out.append(LayerActivationStats(
            name, tuple(int(d) for d in x.shape), tensor_stats(x), histogram(x),
            None if q is None else saturated_fraction(x, q)))
    return tuple(out)


@dataclass(frozen=True)
class LayerComparison:
    """One layer of two variants on the same inputs."""

    name: str
    """Keras layer name."""
    shape: tuple[int, ...]
    """Tensor shape with the batch dimension, NHWC."""
    diff: TensorDiff
    """b against a (a is the reference), over every image of the set at once."""
    a: dict[str, float] = field(default_factory=dict)
    """min, max, mean, std, zeros_fraction of a's tensor."""
    b: dict[str, float] = field(default_factory=dict)
    """The same for b."""
    below_threshold: bool = False
    """SQNR below the report's threshold (or NaN)."""


@dataclass(frozen=True)
class ComparisonReport:
    """Per-layer comparison of two variants, in model order."""

    a: str
    """Reference variant."""
    b: str
    """Compared variant."""
    input: str
    """Input spec text."""
    threshold_db: float
    """First-divergence threshold."""
    layers: tuple[LayerComparison, ...]
    """Layers materialised in both, model order."""
    first_divergence: str | None
    """First layer (model order) whose SQNR is below the threshold; None if none is."""
    n: int = 0
    """Images compared."""
    skipped: tuple[str, ...] = ()
    """Layers not materialised in one of the two (not comparable)."""
    notes: tuple[str, ...] = ()
    """Anything the reader should know (absent indices, skipped layers)."""
    layout: str = LAYOUT
    """Layout the tensors were compared in."""
    cached: bool = False
    """Served from the cache."""


# -- capture --------------------------------------------------------------------------------
@contextmanager
def forward_hooks(module: Any, targets: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Hook ``module``'s submodules; yields a dict filled on each forward pass with
    Keras name -> (NHWC numpy copy, QuantParams | None). Every handle is removed on exit.

    ``targets`` maps Keras names to module names; a module name ending in INPUT_OF reads
    that module's first input instead of its output.
    """
    mods = dict(module.named_modules())
    missing = [m for m in (t.removesuffix(INPUT_OF) for t in targets.values()) if m not in mods]
    if missing:
        raise ModelError(f"module has no submodule {missing[0]!r}; clear the cache "
                         "(`r8 cache clear`) and convert again")
    got: dict[str, Any] = {}
    handles = []
    try:
        for layer, target in targets.items():
            mname, _, read_input = target.partition(INPUT_OF)

            def hook(_m: Any, inp: Any, out: Any, layer: str = layer,
                     use_input: bool = target.endswith(INPUT_OF)) -> None:
                got[layer] = _torch_to_numpy(inp[0] if use_input else out)
            handles.append(mods[mname].register_forward_hook(hook))
        yield got
    finally:
        for h in handles:
            h.remove()


def _torch_to_numpy(t: Any) -> tuple[np.ndarray, QuantParams | None]:
    torch = frameworks.torch()
    t = t.detach()
    q: QuantParams | None = None
    if t.is_quantized:
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            info = torch.iinfo(torch.uint8 if t.dtype == torch.quint8 else torch.int8)
            q = (float(t.q_scale()), int(t.q_zero_point()), int(info.min), int(info.max))
        t = t.dequantize()
    arr = t.float().cpu().numpy()
    if arr.ndim == 4:
        arr = arr.transpose(0, 2, 3, 1)
    return np.array(arr, dtype=np.float32, copy=True, order="C"), q


class _TorchCapturer:
    def __init__(self, module: Any, targets: dict[str, str], device: str,
                 threads: int | None, qmax: int | None = None) -> None:
        torch = frameworks.torch()
        self.device = choose_torch_device(device).device
        self.qmax = qmax
        if threads:
            torch.set_num_threads(threads)
        self.module = module.to(self.device).eval()
        self.targets = targets

    def run(self, images: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        torch = frameworks.torch()
        x = torch.from_numpy(check_batch(images)).to(self.device)
        with forward_hooks(self.module, self.targets) as got, torch.inference_mode():
            probs = self.module(x)
        if self.qmax is not None:  # reduce_range observers use half the uint8 range
            got = {k: (a, None if q is None else (q[0], q[1], q[2], min(q[3], self.qmax)))
                   for k, (a, q) in got.items()}
        return dict(got), probs.float().cpu().numpy()


class _OnnxCapturer:
    def __init__(self, onnx_path: Path, targets: dict[str, str], device: str,
                 threads: int | None, quant: dict[str, QuantParams] | None = None) -> None:
        onnx, ort = frameworks.onnx(), frameworks.onnxruntime()
        model = onnx.load(str(onnx_path))
        graph = model.graph
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        present = {o.name for o in graph.output}
        for tensor in targets.values():
            if tensor not in present and tensor != self.input_name:
                graph.output.append(onnx.ValueInfoProto(name=tensor))
                present.add(tensor)
        providers, _ = choose_ort_providers(device)
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), so, providers=providers)
        self.targets = {k: v for k, v in targets.items() if v != self.input_name}
        self.fetch = [self.output_name] + list(dict.fromkeys(self.targets.values()))
        self.quant = quant or {}

    def run(self, images: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        x = check_batch(images)
        outs = dict(zip(self.fetch, self.session.run(self.fetch, {self.input_name: x}),
                        strict=True))
        got: dict[str, Any] = {}
        for layer, tensor in self.targets.items():
            arr = outs[tensor]
            q = self.quant.get(layer)
            if q is not None and arr.dtype.kind in "iu":  # a QuantizeLinear output
                arr = (arr.astype(np.float32) - np.float32(q[1])) * np.float32(q[0])
            arr = np.asarray(arr, dtype=np.float32)
            if arr.ndim == 4:
                arr = np.ascontiguousarray(arr.transpose(0, 2, 3, 1))
            got[layer] = (arr, self.quant.get(layer))
        return got, np.asarray(outs[self.output_name], dtype=np.float32)


class _KerasCapturer:
    def __init__(self, ws: Workspace, names: tuple[str, ...]) -> None:
        from engine.convert import load_keras

        tf_keras = frameworks.tf_keras()
        model = load_keras(ws.model_path)
        self.names = [n for n in names if n != model.layers[0].name]
        outputs = [model.get_layer(n).output for n in self.names]
        self.sub = tf_keras.Model(model.inputs, outputs)
        self.probs_layer = model.layers[-1].name

    def run(self, images: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        x = check_batch(images)
        outs = self.sub(x, training=False)
        got = {n: (np.asarray(o, dtype=np.float32), None) for n, o in zip(self.names, outs,
                                                                          strict=True)}
        return got, got[self.probs_layer][0].copy()


def check_variant(variant: str) -> None:
    if variant not in CAPTURE_VARIANTS:
        raise UsageError(f"cannot capture activations of variant {variant!r}; use one of "
                         f"{', '.join(CAPTURE_VARIANTS)}")


def _open_capturer(ws: Workspace, variant: str, opts: V.VariantOptions,
                   layers: tuple[LayerInfo, ...]) -> tuple[Any, tuple[str, ...]]:
    """A loaded capturer and the Keras names it produces (model order, input first)."""
    check_variant(variant)
    input_name = layers[0].name
    if variant == "keras":
        names = tuple(x.name for x in layers)
        return _KerasCapturer(ws, names), names
    if variant == "onnx":
        targets = {x.name: x.onnx_output for x in layers if x.onnx_output}
        cap: Any = _OnnxCapturer(ws.onnx_path(opts.opset), targets, opts.device, opts.threads)
    elif variant == "torch":
        from engine.convert import onnx_to_torch

        targets = {x.name: x.torch_output for x in layers if x.torch_output}
        module = onnx_to_torch(ws.onnx_path(opts.opset))
        cap = _TorchCapturer(module, targets, opts.device, opts.threads)
    else:
        cap, targets = _open_quantized(ws, variant, opts, layers)
    names = tuple(x.name for x in layers if x.name == input_name or x.name in targets)
    return cap, names


def _open_quantized(ws: Workspace, variant: str, opts: V.VariantOptions,
                    layers: tuple[LayerInfo, ...]) -> tuple[Any, dict[str, str]]:
    from engine import layers as L
    from engine import quantize

    if variant == "torch-int8":
        module = quantize.torch_quantized_module(ws, opts)
        targets = L.torch_int8_targets(module, layers)
        reduce_range = quantize.settings(variant, opts.quant).reduce_range
        cap = _TorchCapturer(module, targets, "cpu", opts.threads,  # int8 kernels: CPU only
                             QUINT8_REDUCED_MAX if reduce_range else None)
        return cap, targets
    path = quantize.onnx_quantized_path(ws, variant, opts)
    targets, qparams = L.qdq_targets(path, layers)
    return _OnnxCapturer(path, targets, opts.device, opts.threads, qparams), targets


def _run_capture(cap: Any, names: tuple[str, ...], images: np.ndarray, what: str,
                 on_progress: ProgressFn | None, cancel: threading.Event | None,
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, QuantParams]]:
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    probs: list[np.ndarray] = []
    quant: dict[str, QuantParams] = {}
    n = len(images)
    for start in range(0, n, CAPTURE_BATCH):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"{what}: cancelled after {start} of {n} images")
        batch = images[start:start + CAPTURE_BATCH]
        got, p = cap.run(batch)
        for name in names:
            arr, q = got[name] if name in got else (check_batch(batch), None)  # the input
            parts[name].append(arr)
            if q is not None:
                quant.setdefault(name, q)
        probs.append(p)
        if on_progress:
            on_progress(min(start + CAPTURE_BATCH, n), n, what)
    tensors = {k: (v[0] if len(v) == 1 else np.concatenate(v)) for k, v in parts.items()}
    return tensors, np.concatenate(probs), quant


def _capture_key(ws: Workspace, variant: str, spec: InputSpec, opts: V.VariantOptions) -> str:
    return make_key(ACTIVATION_STAGE, {"variant": V.identity(ws, variant, opts),
                                       "input": spec.identity, "layout": LAYOUT,
                                       "opset": opts.opset}, CAPTURE_LIBRARIES)


def capture_activations(
    ws: Workspace,
    variant: str,
    spec: InputSpec,
    opts: V.VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ActivationSet:
    """Every materialised layer's output (NHWC) of ``variant`` on ``spec``'s images (cached)."""
    opts = opts or V.VariantOptions()
    check_variant(variant)
    if len(spec) == 0:
        raise UsageError(f"input {spec.text!r} selects no image; use {INPUT_HELP}")
    layers = layer_map(ws, opts.opset)
    key = _capture_key(ws, variant, spec, opts)
    hit = ws.cache.load(ACTIVATION_STAGE, key)
    if hit is not None:
        acts = _from_cache(variant, spec, layers, *hit)
        if acts is not None:
            return acts
    cap, names = _open_capturer(ws, variant, opts, layers)
    tensors, probs, quant = _run_capture(cap, names, spec.images, f"capture {variant}",
                                         on_progress, cancel)
    missing = tuple(x.name for x in layers if x.name not in tensors)
    acts = ActivationSet(variant, spec.text, names, tensors, probs, quant, LAYOUT, missing)
    ws.cache.save(ACTIVATION_STAGE, key,
                  {"probs": probs, **{f"t{i}": tensors[n] for i, n in enumerate(names)}},
                  {"variant": variant, "input": spec.text, "layers": list(names),
                   "quant": {k: list(v) for k, v in quant.items()}, "layout": LAYOUT,
                   "not_materialised": list(missing)})
    return acts


def _from_cache(variant: str, spec: InputSpec, layers: tuple[LayerInfo, ...],
                arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> ActivationSet | None:
    try:
        names = tuple(meta["layers"])
        tensors = {n: arrays[f"t{i}"] for i, n in enumerate(names)}
        quant = {k: (float(v[0]), int(v[1]), int(v[2]), int(v[3]))
                 for k, v in meta["quant"].items()}
        return ActivationSet(variant, spec.text, names, tensors, arrays["probs"], quant,
                             meta["layout"], tuple(meta["not_materialised"]), cached=True)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


# -- comparison -----------------------------------------------------------------------------
def compare_activations(
    ws: Workspace,
    a: str,
    b: str,
    spec: InputSpec,
    opts: V.VariantOptions | None = None,
    threshold_db: float = DIVERGENCE_DB,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ComparisonReport:
    """Per-layer SQNR, cosine, MSE and max |diff| of ``b`` against ``a`` (cached).

    Over a set of images every metric is taken over the whole set at once (all images'
    values together). The first divergence is the first layer in model order whose SQNR
    is below ``threshold_db``.
    """
    opts = opts or V.VariantOptions()
    for v in (a, b):
        check_variant(v)
    if len(spec) == 0:
        raise UsageError(f"input {spec.text!r} selects no image; use {INPUT_HELP}")
    layers = layer_map(ws, opts.opset)
    key = make_key(COMPARE_STAGE, {"a": V.identity(ws, a, opts), "b": V.identity(ws, b, opts),
                                   "input": spec.identity, "threshold_db": threshold_db,
                                   "layout": LAYOUT}, CAPTURE_LIBRARIES)
    hit = ws.cache.load(COMPARE_STAGE, key)
    if hit is not None and "report" in hit[1]:
        try:
            return _report_from_dict(hit[1]["report"])
        except (KeyError, TypeError, ValueError):
            pass
    if len(spec) <= CACHED_TENSORS_MAX:
        sa = capture_activations(ws, a, spec, opts, on_progress, cancel)
        sb = capture_activations(ws, b, spec, opts, on_progress, cancel)
        common = [n for n in sa.layers if n in sb.tensors]
        acc = {n: _pair_sums(sa.tensors[n], sb.tensors[n]) for n in common}
        shapes = {n: tuple(int(d) for d in sa.tensors[n].shape) for n in common}
        names_a, names_b = sa.layers, sb.layers
    else:
        acc, shapes, names_a, names_b = _stream_compare(ws, a, b, spec, opts, layers,
                                                        on_progress, cancel)
    rows = []
    for name in (x.name for x in layers):
        if name not in acc:
            continue
        ds, ma, mb = acc[name]
        diff = ds.finish()
        below = not diff.sqnr_db >= threshold_db
        rows.append(LayerComparison(name, shapes[name], diff, ma.summary(), mb.summary(), below))
    skipped = tuple(x.name for x in layers if x.name not in acc)
    first = next((r.name for r in rows if r.below_threshold), None)
    notes = list(spec.notes)
    for v, names in ((a, names_a), (b, names_b)):
        absent = [s for s in skipped if s not in names]
        if absent:
            notes.append(f"not materialised in {v}, not compared: {', '.join(absent)}")
    report = ComparisonReport(a, b, spec.text, threshold_db, tuple(rows), first, len(spec),
                              skipped, tuple(notes), LAYOUT)
    ws.cache.save(COMPARE_STAGE, key, {}, {"report": _report_to_dict(report)})
    return report


def _pair_sums(x: np.ndarray, y: np.ndarray) -> tuple[DiffSums, Moments, Moments]:
    return diff_sums(x, y), moments(x), moments(y)


def _stream_compare(ws: Workspace, a: str, b: str, spec: InputSpec, opts: V.VariantOptions,
                    layers: tuple[LayerInfo, ...], on_progress: ProgressFn | None,
                    cancel: threading.Event | None) -> tuple[Any, ...]:
    cap_a, names_a = _open_capturer(ws, a, opts, layers)
    cap_b, names_b = _open_capturer(ws, b, opts, layers)
    common = [n for n in names_a if n in names_b]
    acc: dict[str, tuple[DiffSums, Moments, Moments]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    n = len(spec)
    for start in range(0, n, CAPTURE_BATCH):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"compare {a} vs {b}: cancelled after {start} of {n} images")
        batch = spec.images[start:start + CAPTURE_BATCH]
        ta, _, _ = _run_capture(cap_a, names_a, batch, a, None, cancel)
        tb, _, _ = _run_capture(cap_b, names_b, batch, b, None, cancel)
        for name in common:
            part = _pair_sums(ta[name], tb[name])
            prev = acc.get(name)
            acc[name] = part if prev is None else (prev[0] + part[0], prev[1] + part[1],
                                                   prev[2] + part[2])
            shapes[name] = (n, *ta[name].shape[1:])
        if on_progress:
            on_progress(min(start + CAPTURE_BATCH, n), n, f"compare {a} vs {b}")
    return acc, shapes, names_a, names_b


def _report_to_dict(r: ComparisonReport) -> dict[str, Any]:
    d = asdict(r)
    d.pop("cached")
    return d


def _report_from_dict(d: dict[str, Any]) -> ComparisonReport:
    rows = tuple(LayerComparison(x["name"], tuple(x["shape"]), TensorDiff(**x["diff"]),
                                 x["a"], x["b"], x["below_threshold"]) for x in d["layers"])
    return ComparisonReport(d["a"], d["b"], d["input"], d["threshold_db"], rows,
                            d["first_divergence"], d["n"], tuple(d["skipped"]),
                            tuple(d["notes"]), d["layout"], cached=True)

