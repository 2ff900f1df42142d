"""Every layer's output for chosen inputs, in every variant (comparisons: engine.compare).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import frameworks
from engine import variants as V
from engine.cache import make_key
from engine.errors import CancelledError, ModelError, UsageError
from engine.inputs import InputSpec, check_images
from engine.layers import INPUT_OF, LayerInfo, QuantParams, layer_map
from engine.runners import check_batch, choose_ort_providers, choose_torch_device
from engine.stats import (
    Histogram,
    TensorStats,
    histogram,
    tensor_stats,
)
from engine.types import ProgressFn
from engine.workspace import Workspace

LAYOUT = "NHWC"
"""Layout of every captured 4-D tensor (Keras's), batch first."""
CAPTURE_VARIANTS = V.names(capture=True)
"""Built-in variants whose intermediate tensors can be read (the TFLite references cannot);
check a name with check_variant, which also knows variants registered at run time."""
CAPTURE_BATCH = 100
"""Images per forward pass while capturing."""
CACHED_TENSORS_MAX = 64
"""Comparisons over at most this many images reuse (and fill) the activation cache; larger
sets are streamed batch by batch and only the report is cached."""
CAPTURE_BYTES_MAX = 512 * 2**20
"""Largest capture kept whole (every layer of every image, in memory and in the cache).
Bigger inputs are refused with the image limit: the consumers of a capture (statistics,
histograms, the TUI's layer browser) need whole tensors of every layer, and comparisons over
many images already stream (CACHED_TENSORS_MAX)."""
QUANT_RANGE = "dtype"
"""Cache-key part: the integer range of captured int8 tensors. It is the dtype's even with
reduce_range: PyTorch's reduce_range observers map the observed range onto 0..127, but the
quantized tensors hold 0..255 (measured: torch-int8's ReLU outputs use up to 165 of the 256
levels), so the saturation share uses the dtype range (was 0..127 with reduce_range)."""
ACTIVATION_STAGE = "activations"
CAPTURE_LIBRARIES = ("numpy", "tensorflow", "tf_keras", "tf2onnx", "onnx", "onnxruntime",
                     "onnx2torch", "torch")
"""Every capturable family's libraries (a comparison of two variants); one variant's capture
is keyed with its own family's list."""


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
                 threads: int | None, quant: dict[str, QuantParams] | None = None,
                 optimization: str | None = None) -> None:
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
        if optimization is not None:  # e.g. ORT_DISABLE_ALL as ORT's qdq_loss_debug runs
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, optimization)
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
    """Every Keras layer's output, computed in the TensorFlow worker (a sub-model there)."""

    def __init__(self, ws: Workspace, names: tuple[str, ...],
                 cancel: threading.Event | None = None) -> None:
        from engine import tf_jobs

        _ = ws.model_sha  # checks the file with h5py in this process first
        self.worker, self.model_path, self.cancel = ws.tf_worker, ws.model_path, cancel
        tf_jobs.keras_check(self.worker, self.model_path, cancel)
        self.names = list(names[1:])  # names[0] is the input layer: the input itself
        self.probs_layer = names[-1]

    def run(self, images: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        from engine import tf_jobs

        outs = tf_jobs.keras_capture(self.worker, self.model_path, self.names,
                                     check_batch(images), self.cancel)
        got = {n: (o, None) for n, o in zip(self.names, outs, strict=True)}
        return got, got[self.probs_layer][0].copy()


def check_variant(variant: str) -> None:
    if not V.get(variant).can_capture:
        raise UsageError(f"cannot capture activations of variant {variant!r}; use one of "
                         f"{', '.join(V.names(capture=True))}")


def open_capturer(ws: Workspace, variant: str, opts: V.VariantOptions,
                   layers: tuple[LayerInfo, ...], cancel: threading.Event | None = None,
                   ) -> tuple[Any, tuple[str, ...]]:
    """A loaded capturer and the Keras names it produces (model order, input first);
    ``cancel`` reaches the conversion and the TensorFlow worker's calls."""
    check_variant(variant)
    m = V.get(variant).capture_model(ws, opts, layers)
    input_name = layers[0].name
    if m.format == "keras":
        names = tuple(x.name for x in layers)
        return _KerasCapturer(ws, names, cancel), names
    cap: Any
    if m.format == "onnx":
        cap = _OnnxCapturer(m.model, m.targets, m.device, m.threads, m.qparams)
    else:
        cap = _TorchCapturer(m.model, m.targets, m.device, m.threads, m.qmax)
    names = tuple(x.name for x in layers if x.name == input_name or x.name in m.targets)
    return cap, names


def run_capture(cap: Any, names: tuple[str, ...], images: np.ndarray, what: str,
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
                                       "opset": opts.opset, "qrange": QUANT_RANGE},
                    ("numpy", *V.libraries(variant)))


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
    check_images(spec)
    layers = layer_map(ws, opts.opset)
    check_capture_size(spec, layers)
    key = _capture_key(ws, variant, spec, opts)
    hit = ws.cache.load(ACTIVATION_STAGE, key)
    if hit is not None:
        acts = _from_cache(variant, spec, layers, *hit)
        if acts is not None:
            return acts
    cap, names = open_capturer(ws, variant, opts, layers, cancel)
    tensors, probs, quant = run_capture(cap, names, spec.images, f"capture {variant}",
                                         on_progress, cancel)
    missing = tuple(x.name for x in layers if x.name not in tensors)
    acts = ActivationSet(variant, spec.text, names, tensors, probs, quant, LAYOUT, missing)
    ws.cache.save(ACTIVATION_STAGE, key,
                  {"probs": probs, **{f"t{i}": tensors[n] for i, n in enumerate(names)}},
                  {"variant": variant, "input": spec.text, "layers": list(names),
                   "quant": {k: list(v) for k, v in quant.items()}, "layout": LAYOUT,
                   "not_materialised": list(missing)})
    return acts


def capture_limit(layers: tuple[LayerInfo, ...]) -> tuple[int, int]:
    """(bytes one image's capture takes, most images one capture may hold)."""
    per_image = sum(4 * int(np.prod([d for d in x.output_shape if d])) for x in layers)
    return per_image, max(1, CAPTURE_BYTES_MAX // max(per_image, 1))


def check_capture_size(spec: InputSpec, layers: tuple[LayerInfo, ...]) -> None:
    """UsageError when capturing every layer of ``spec``'s images would exceed the limit."""
    per_image, most = capture_limit(layers)
    if len(spec) > most:
        raise UsageError(
            f"input {spec.text!r} selects {len(spec)} images; a capture keeps every layer of "
            f"each (~{per_image / 2**20:.1f} MiB per image) and holds at most {most} images "
            f"({CAPTURE_BYTES_MAX // 2**20} MiB); choose {most} or fewer, e.g. "
            f"batch:test:0-{most - 1} (accuracy over more images: r8 eval --subset)")


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
