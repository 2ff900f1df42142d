"""Post-training static int8 quantization: ONNX Runtime QDQ and PyTorch FX.

Variants:
- ``onnx-int8`` / ``onnx-uint8``: ONNX Runtime ``quantize_static`` in QDQ format after
  ``quant_pre_process``; weights QInt8 per channel (per tensor as an option), activations
  QInt8 or QUInt8; calibration MinMax (Entropy, Percentile as options).
- ``torch-int8``: PyTorch FX graph mode (``prepare_fx``/``convert_fx``, the x86 qconfig
  mapping with our observers) applied to the onnx2torch module as it is.

Why FX and not PT2E/torchao for torch-int8: FX works on the onnx2torch ``GraphModule``
directly and keeps its named modules (``model/conv2d_3/BiasAdd`` ...), so forward hooks used
by the inspection views still find their layers, and it needs no model surgery. PT2E now
lives in ``torchao``; it traces through ``torch.export``, which fails on onnx2torch's
data-dependent Reshape until that is replaced by a fixed-shape one, and it flattens the
module tree into ``aten`` ops, so hooks by layer name no longer work. FX is deprecated
upstream but present and tested in the installed torch; a torch without it raises a
one-line FrameworkMissingError.

The FX model holds prepacked int8 weights that do not save as a plain file, so the cache
keeps the calibrated observer state (the prepared model's state_dict, plain float tensors,
as npz). A warm ``torch_quantized_module`` rebuilds the float module, re-inserts the
observers, loads that state and converts: deterministic and about a second.

``reduce_range`` defaults by CPU (engine.cpu.default_reduce_range): off on CPUs with VNNI
or AMX and for int8 activations, on for uint8 activations on x86 without VNNI, where
u8 x s8 products saturate (measured there: onnx-uint8 84.1 % without, 86.9 % with).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import calibration, convert, cpu, frameworks
from engine import float_layers as FL
from engine.cache import library_versions, make_key
from engine.errors import ConversionError, FrameworkMissingError, R8Error, UsageError
from engine.types import ProgressFn, QuantSettings, VariantOptions
from engine.workspace import Workspace

log = logging.getLogger("engine.quantize")

STAGE = "quantize"
BACKENDS = ("onnx", "torch")
VARIANT_BACKEND = {"onnx-int8": "onnx", "onnx-uint8": "onnx", "torch-int8": "torch"}
BACKEND_VARIANTS = {"onnx": ("onnx-int8", "onnx-uint8"), "torch": ("torch-int8",)}
ACTIVATIONS = {"onnx-int8": "int8", "onnx-uint8": "uint8", "torch-int8": "uint8"}
"""Activation type of each variant (PyTorch's x86 kernels take quint8 activations)."""
ONNX_METHODS = ("minmax", "entropy", "percentile")
TORCH_METHODS = ("minmax", "histogram")
"""``histogram``: PyTorch's HistogramObserver (searches the range of least L2 error)."""
METHODS = ("minmax", "entropy", "percentile", "histogram")
DEFAULT_METHOD = {"onnx": "minmax", "torch": "histogram"}
"""Calibration method per backend when none is given. PyTorch: HistogramObserver (PyTorch's
own x86 default) is robust to reduce_range, which CPUs without VNNI need: measured on the
shared test set, histogram 86.75 % (full range) / 86.72 % (reduce_range) against minmax
86.76 % / 86.24 %. ONNX Runtime: MinMax (87.13 % int8, 87.14 % uint8)."""
ONNX_LIBRARIES = (*convert.CONVERT_LIBRARIES, "onnxruntime")
TORCH_LIBRARIES = (*convert.CONVERT_LIBRARIES, "onnx2torch", "torch")
TORCH_ENGINES = ("x86", "qnnpack")
"""PyTorch quantized engines tried in order (x86 on Intel/AMD, qnnpack on ARM)."""


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedQuant:
    """The settings of one quantized variant with every default filled in (its backend's
    method, reduce_range by activation type and CPU)."""

    variant: str
    """onnx-int8, onnx-uint8 or torch-int8."""
    backend: str
    """onnx or torch."""
    activations: str
    """int8 or uint8."""
    calib: str
    """Normalised calibration spec (train:N, mlperf, random:N)."""
    calib_seed: int
    """Seed of the stratified or random draw."""
    method: str
    """Calibration method (minmax, entropy, percentile for onnx; minmax, histogram for torch)."""
    per_channel: bool
    """Per-channel weight scales (else one per tensor)."""
    reduce_range: bool
    """7-bit range (weights in ONNX Runtime, activations in PyTorch)."""
    reduce_range_reason: str
    """Why reduce_range has its value (auto by CPU, or set by the user)."""
    float_layers: tuple[str, ...] = ()
    """Keras layers kept in float."""
    bias_correction: bool = False
    """Bias correction of the int8 layers."""

    def key_parts(self) -> dict[str, Any]:
        """The settings that change the quantized model (the reason is not one). The repair
        settings join only when set, so keys of default settings stay as they were."""
        parts = {k: getattr(self, k) for k in ("variant", "activations", "calib", "calib_seed",
                                               "method", "per_channel", "reduce_range")}
        if self.float_layers:
            parts["float_layers"] = list(self.float_layers)
        if self.bias_correction:
            parts["bias_correction"] = True
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {**self.key_parts(), "backend": self.backend,
                "reduce_range_reason": self.reduce_range_reason,
                "float_layers": list(self.float_layers), "bias_correction": self.bias_correction,
                "label": self.label}

    @property
    def label(self) -> str:
        """The variant as every output names it, e.g. ``torch-int8 [float: dense; bias-corr]``."""
        return self.variant + FL.label(self.float_layers, self.bias_correction)

    def base(self) -> ResolvedQuant:
        """These settings without layer settings: the all-int8 variant whose calibration
        (ranges, observers) every layer setting reuses."""
        return replace(self, float_layers=(), bias_correction=False)

    def describe(self) -> str:
        """One line, e.g. ``calib train:1000, minmax, per-channel, reduce_range off (...)``."""
        extra = "".join(f", {p}" for p in (
            f"float: {', '.join(self.float_layers)}" if self.float_layers else "",
            "bias correction" if self.bias_correction else "") if p)
        return (f"calib {self.calib}, {self.method}, "
                f"{'per-channel' if self.per_channel else 'per-tensor'}, reduce_range "
                f"{'on' if self.reduce_range else 'off'} ({self.reduce_range_reason}){extra}")


def settings(variant: str, quant: QuantSettings | Mapping[str, Any] | None = None,
             cpu_info: cpu.CpuFeatures | None = None) -> ResolvedQuant:
    """The settings of ``variant`` from ``quant`` (VariantOptions.quant), defaults filled in.

    A mapping is parsed here (older callers and tests); the edges parse once into QuantSettings.
    """
    if variant not in VARIANT_BACKEND:
        raise UsageError(f"unknown quantized variant {variant!r}; use one of "
                         f"{', '.join(VARIANT_BACKEND)}")
    q = QuantSettings.parse(quant, cpu_info)
    backend = VARIANT_BACKEND[variant]
    method = q.method or DEFAULT_METHOD[backend]
    allowed = ONNX_METHODS if backend == "onnx" else TORCH_METHODS
    if method not in allowed:
        hint = f"; {backend} supports {', '.join(allowed)}" if method in METHODS else ""
        raise UsageError(f"calibration method {method!r} is not available for {variant}{hint}"
                         f"{'' if hint else '; use one of ' + ', '.join(allowed)}")
    if q.reduce_range is None:
        rr, reason = cpu.default_reduce_range(ACTIVATIONS[variant], q.cpu)
        reason = f"auto: {reason}"
    else:
        rr, reason = q.reduce_range, "set by the user"
    return ResolvedQuant(
        variant=variant, backend=backend, activations=ACTIVATIONS[variant], calib=q.calib,
        calib_seed=q.calib_seed, method=method, per_channel=q.per_channel,
        reduce_range=rr, reduce_range_reason=reason, float_layers=q.float_layers,
        bias_correction=q.bias_correction,
    )


def _key(ws: Workspace, s: ResolvedQuant, opset: int) -> tuple[str, dict[str, Any]]:
    """The cache key of the quantized model and its parts (computed once per workspace)."""
    return ws.memo(("quantize-key", s, opset), lambda: _compute_key(ws, s, opset))


def _compute_key(ws: Workspace, s: ResolvedQuant, opset: int) -> tuple[str, dict[str, Any]]:
    libs = ONNX_LIBRARIES if s.backend == "onnx" else TORCH_LIBRARIES
    parts = {"model": ws.model_sha, "opset": opset, "settings": s.key_parts(),
             "calibration": calibration.calibration_identity(ws, s.calib, s.calib_seed)}
    if s.backend == "torch":
        parts["engine"] = _torch_engine_name()
    return make_key(f"{STAGE}-{s.backend}", parts, libs), parts


def identity(ws: Workspace, variant: str, opts: VariantOptions) -> dict[str, Any]:
    """Everything that makes the quantized variant what it is (cache-key parts)."""
    s = settings(variant, opts.quant)
    key, parts = _key(ws, s, opts.opset)
    libs = ONNX_LIBRARIES if s.backend == "onnx" else TORCH_LIBRARIES
    return {**parts, "key": key, "libraries": library_versions(libs)}


# -- ONNX Runtime ---------------------------------------------------------------------------
def _preprocessed(ws: Workspace, opset: int) -> Path:
    """The float ONNX after ORT's quant_pre_process (shape inference, folding), cached."""
    src = ws.onnx_path(opset)
    key = make_key("quant-pre", {"model": ws.model_sha, "opset": opset}, ONNX_LIBRARIES)
    hit = ws.cache.artifact("quant-pre", key, ".onnx")
    if hit is not None and _onnx_ok(hit):
        return hit

    def write(tmp: Path) -> None:
        frameworks.onnxruntime()
        from onnxruntime.quantization.shape_inference import quant_pre_process

        try:
            quant_pre_process(str(src), str(tmp))
        except Exception as exc:
            raise ConversionError(f"ONNX Runtime quant_pre_process failed ({str(exc)[:160]}); "
                                  "run `r8 cache clear` and retry") from None

    return ws.cache.save_artifact("quant-pre", key, ".onnx", write,
                                  {"model_sha256": ws.model_sha, "opset": opset})


def _onnx_ok(path: Path) -> bool:
    """Whether a cached .onnx parses and passes the checker."""
    onnx = frameworks.onnx()
    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception as exc:  # protobuf and checker raise many kinds
        log.warning("cached model %s is corrupt (%s); recomputing it", path, str(exc)[:80])
        return False
    return True


def onnx_quantized_path(
    ws: Workspace,
    variant: str,
    opts: VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The cached QDQ model of ``onnx-int8`` or ``onnx-uint8``, quantized on first use."""
    opts = opts or VariantOptions()
    if VARIANT_BACKEND.get(variant) != "onnx":
        raise UsageError(f"{variant!r} is not an ONNX quantized variant; use onnx-int8 or "
                         "onnx-uint8")
    s = settings(variant, opts.quant)
    key, parts = _key(ws, s, opts.opset)
    hit = ws.cache.artifact(STAGE, key, ".onnx")
    if hit is not None:
        st = hit.stat()
        if ws.memo(("onnx-ok", str(hit), st.st_size, st.st_mtime_ns), lambda: _onnx_ok(hit)):
            return hit
        ws.cache.remove(STAGE, key)
    pre = _preprocessed(ws, opts.opset)
    calib = calibration.calibration_set(ws, s.calib, s.calib_seed)
    ranges = onnx_ranges_path(ws, s, opts.opset, on_progress, cancel)
    exclude = _onnx_exclude(ws, s, pre, opts.opset)
    t0 = time.perf_counter()

    def write(tmp: Path) -> None:
        frameworks.onnxruntime()
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        act = QuantType.QInt8 if s.activations == "int8" else QuantType.QUInt8
        try:
            quantize_static(str(pre), str(tmp), None, quant_format=QuantFormat.QDQ,
                            activation_type=act, weight_type=QuantType.QInt8,
                            per_channel=s.per_channel, reduce_range=s.reduce_range,
                            calibrate_method=_ort_methods()[s.method],
                            nodes_to_exclude=exclude, calibration_cache_path=str(ranges))
        except R8Error:
            raise
        except Exception as exc:
            raise ConversionError(f"ONNX Runtime quantize_static failed for {variant} "
                                  f"({str(exc)[:160]}); try --calib-method minmax") from None
        if s.bias_correction:
            from engine import bias_correction

            bias_correction.correct_onnx(tmp, pre, calib.images, on_progress, cancel)

    meta = {"variant": variant, "settings": s.to_dict(), "calibration": calib.name,
            "calibration_size": len(calib), "calibration_notes": list(calib.notes),
            "parts": parts}
    path = ws.cache.save_artifact(STAGE, key, ".onnx", write, meta)
    log.info("quantized %s in %.1f s", variant, time.perf_counter() - t0)
    return path


def onnx_quantized_cached(ws: Workspace, variant: str, opts: VariantOptions) -> Path | None:
    """The QDQ model of ``variant`` when already in the cache, else None (never quantizes,
    does not re-check the file)."""
    key, _ = _key(ws, settings(variant, opts.quant), opts.opset)
    return ws.cache.artifact(STAGE, key, ".onnx")
RANGES_SUFFIX = ".ranges"
"""ORT calibration-cache JSON, under a suffix of its own (``.json`` is the sidecar's)."""


def _ort_methods() -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}


def onnx_ranges_path(
    ws: Workspace,
    s: ResolvedQuant,
    opset: int,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """ONNX Runtime's calibrated tensor ranges (its own calibration-cache JSON) for the
    calibration set and method of ``s``, computed once and cached: every layer setting
    (float layers, bias correction) and both activation types reuse them, since ORT
    calibrates the float model whatever is later quantized."""
    pre = _preprocessed(ws, opset)
    parts = {"model": ws.model_sha, "opset": opset, "method": s.method,
             "calibration": calibration.calibration_identity(ws, s.calib, s.calib_seed)}
    key = make_key("quant-ranges", parts, ONNX_LIBRARIES)
    hit = ws.cache.artifact("quant-ranges", key, RANGES_SUFFIX)
    if hit is not None:
        try:
            json.loads(hit.read_text())
            return hit
        except (OSError, ValueError):
            log.warning("cached calibration ranges %s are corrupt; recomputing them", hit)
    calib = calibration.calibration_set(ws, s.calib, s.calib_seed)

    def write(tmp: Path) -> None:
        import tempfile

        frameworks.onnxruntime()
        from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

        reader = calibration.OnnxCalibrationReader(
            calib.images, convert.INPUT_NAME, f"calibrating {s.variant}", on_progress, cancel)
        ops = list(set(QLinearOpsRegistry) | set(QDQRegistry))  # quantize_static's default
        try:  # entropy/percentile calibrators print to stdout: keep r8's output (JSON) clean
            with tempfile.TemporaryDirectory(prefix="r8-calib-") as d, \
                    contextlib.redirect_stdout(io.StringIO()):
                calibrator = create_calibrator(
                    pre, ops, augmented_model_path=str(Path(d) / "augmented.onnx"),
                    calibrate_method=_ort_methods()[s.method])
                calibrator.collect_data(reader)
                data = calibrator.compute_data()
                del calibrator
        except R8Error:
            raise
        except Exception as exc:
            raise ConversionError(f"ONNX Runtime calibration failed for {s.variant} "
                                  f"({str(exc)[:160]}); try --calib-method minmax") from None
        save_tensors_data(data, tmp)

    return ws.cache.save_artifact("quant-ranges", key, RANGES_SUFFIX, write,
                                  {"calibration": calib.name, "method": s.method, "parts": parts})


def _onnx_exclude(ws: Workspace, s: ResolvedQuant, pre: Path, opset: int) -> list[str]:
    """Nodes of the pre-processed graph kept in float for ``s.float_layers``."""
    if not s.float_layers:
        return []
    from engine.layers import layer_map

    onnx = frameworks.onnx()
    nodes = [n.name for n in onnx.load(str(pre)).graph.node]
    return FL.onnx_nodes_to_exclude(layer_map(ws, opset), s.float_layers, nodes)


def onnx_structure(path: Path) -> dict[str, int]:
    """Counts that show a model is QDQ int8: Q/DQ nodes and int8/uint8/float initializers."""
    onnx = frameworks.onnx()
    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    types = [i.data_type for i in model.graph.initializer]
    tp = onnx.TensorProto
    weights = [i for i in model.graph.initializer if len(i.dims) >= 2]
    return {
        "nodes": len(ops),
        "quantize_linear": ops.count("QuantizeLinear"),
        "dequantize_linear": ops.count("DequantizeLinear"),
        "conv": ops.count("Conv"),
        "int8_weights": sum(i.data_type == tp.INT8 for i in weights),
        "float_weights": sum(i.data_type == tp.FLOAT for i in weights),
        "int8_initializers": types.count(tp.INT8),
        "uint8_initializers": types.count(tp.UINT8),
        "int32_initializers": types.count(tp.INT32),
        "float_initializers": types.count(tp.FLOAT),
    }


# -- PyTorch FX -----------------------------------------------------------------------------
FX_TRACE_LOCK = threading.RLock()
"""One torch-int8 build at a time in a process: torch.fx patches module globals while it
traces (its CURRENT_PATCHER) and the quantized engine is a global, so threads building at
once (the app's jobs) failed with "CURRENT_PATCHER is None in finally block" or "module is
not installed as a submodule" (tests/test_fx_threads.py)."""


def _torch_fx() -> Any:
    torch = frameworks.torch()
    try:
        from torch.ao.quantization import quantize_fx
    except ImportError as exc:
        raise FrameworkMissingError(
            f"torch {torch.__version__} lacks FX quantization ({exc}); install "
            "torch==2.14.1 for torch-int8") from None
    return quantize_fx


def _torch_engine_name() -> str:
    """PyTorch's quantized engine for this CPU (x86 on Intel/AMD, qnnpack on ARM)."""
    return TORCH_ENGINES[0] if cpu.cpu_features().x86 else TORCH_ENGINES[1]


def _check_torch_engine(engine: str) -> None:
    supported = frameworks.torch().backends.quantized.supported_engines
    if engine not in supported:
        raise FrameworkMissingError(
            f"this torch lacks the {engine} quantized engine (has {', '.join(supported)}); "
            "install torch==2.14.1 for torch-int8")


def _qconfig_mapping(s: ResolvedQuant, engine: str, float_modules: tuple[str, ...] = ()) -> Any:
    torch = frameworks.torch()
    from torch.ao.quantization import (
        HistogramObserver,
        MinMaxObserver,
        QConfig,
        default_per_channel_weight_observer,
        default_weight_observer,
        get_default_qconfig_mapping,
    )

    observer = MinMaxObserver if s.method == "minmax" else HistogramObserver
    qconfig = QConfig(
        activation=observer.with_args(dtype=torch.quint8, reduce_range=s.reduce_range),
        weight=default_per_channel_weight_observer if s.per_channel else default_weight_observer,
    )
    mapping = get_default_qconfig_mapping(engine).set_global(qconfig)
    for name in float_modules:  # outranks the per-op-type entries (Softmax's fixed qparams)
        mapping.set_module_name(name, None)
    return mapping


def _example_input() -> Any:
    return (frameworks.torch().zeros(1, 32, 32, 3),)


def torch_quantized_module(
    ws: Workspace,
    opts: VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """The torch-int8 FX module (eval mode, NHWC float input, CPU), from cached calibration."""
    with FX_TRACE_LOCK:
        return _torch_quantized_module(ws, opts, on_progress, cancel)


def _torch_quantized_module(ws: Workspace, opts: VariantOptions | None,
                            on_progress: ProgressFn | None,
                            cancel: threading.Event | None) -> Any:
    opts = opts or VariantOptions()
    s = settings("torch-int8", opts.quant)
    quantize_fx = _torch_fx()
    torch = frameworks.torch()
    engine = _torch_engine_name()
    _check_torch_engine(engine)
    key, parts = _key(ws, s, opts.opset)
    if s.float_layers or s.bias_correction:
        return _torch_with_layer_settings(ws, s, opts, on_progress, cancel)
    torch.backends.quantized.engine = engine
    prepared = _torch_prepared(ws, s, opts.opset, engine)
    loaded = _load_observers(ws, key, prepared)
    if loaded is False:
        # load_state_dict copies the matching tensors before it raises: start afresh
        prepared = _torch_prepared(ws, s, opts.opset, engine)
    if not loaded:
        t0 = time.perf_counter()
        calib = calibration.calibration_set(ws, s.calib, s.calib_seed)
        with torch.inference_mode():
            for batch in calibration.batches(calib.images, "calibrating torch-int8",
                                             on_progress, cancel):
                prepared(torch.from_numpy(batch))
        state = prepared.state_dict()
        names = list(state)
        arrays = {f"t{i}": state[n].detach().cpu().numpy() for i, n in enumerate(names)}
        quantized = quantize_fx.convert_fx(prepared).eval()
        meta = {"variant": "torch-int8", "settings": s.to_dict(), "calibration": calib.name,
                "calibration_size": len(calib), "calibration_notes": list(calib.notes),
                "names": names, "engine": engine, "parts": parts,
                "serialized_bytes": state_dict_bytes(quantized),
                "seconds": time.perf_counter() - t0}
        ws.cache.save(STAGE, key, arrays, meta)
        return quantized
    return quantize_fx.convert_fx(prepared).eval()


def _torch_prepared(ws: Workspace, s: ResolvedQuant, opset: int, engine: str) -> Any:
    """The onnx2torch module with FX observers inserted (float modules for s.float_layers)."""
    floats: tuple[str, ...] = ()
    if s.float_layers:
        from engine.layers import layer_map

        floats = tuple(FL.torch_module_names(layer_map(ws, opset), s.float_layers))
    module = convert.onnx_to_torch(ws.onnx_path(opset))
    try:
        with FX_TRACE_LOCK:
            return _torch_fx().prepare_fx(module, _qconfig_mapping(s, engine, floats),
                                          _example_input())
    except Exception as exc:
        raise ConversionError(f"FX prepare failed on the onnx2torch module ({str(exc)[:160]}); "
                              "use the onnx-int8 variant") from None


def observer_states(prepared: Any) -> dict[str, dict[str, Any]]:
    """Each observer's state keyed by the graph node it observes (``node#k`` for the k-th
    observer of one node), so calibration moves between prepared models whose mappings
    differ (observer module numbering shifts when a layer stays float)."""
    state = prepared.state_dict()
    seen: dict[str, int] = {}
    out: dict[str, dict[str, Any]] = {}
    for node in prepared.graph.nodes:
        if node.op != "call_module" or not str(node.target).startswith("activation_post_process"):
            continue
        src = node.args[0].name if node.args else "?"
        k = seen.get(src, 0)
        seen[src] = k + 1
        prefix = f"{node.target}."
        out[f"{src}#{k}"] = {name[len(prefix):]: v for name, v in state.items()
                             if name.startswith(prefix)}
    return out


def load_observer_states(prepared: Any, states: dict[str, dict[str, Any]]) -> bool:
    """Load ``states`` (observer_states of a calibrated model) into ``prepared``; False when
    one of its observers has no counterpart there."""
    targets = observer_states(prepared)
    if any(k not in states for k in targets):
        return False
    seen: dict[str, int] = {}
    for node in prepared.graph.nodes:
        if node.op != "call_module" or not str(node.target).startswith("activation_post_process"):
            continue
        src = node.args[0].name if node.args else "?"
        k = seen.get(src, 0)
        seen[src] = k + 1
        obs = prepared.get_submodule(str(node.target))  # shared ones are listed once
        state = states[f"{src}#{k}"]
        for name, value in state.items():  # HistogramObserver's buffers change shape
            buf = getattr(obs, name)
            if buf.shape != value.shape:
                buf.resize_(value.shape)
        obs.load_state_dict(state, strict=True)
    return True


def _torch_with_layer_settings(
    ws: Workspace, s: ResolvedQuant, opts: Any,
    on_progress: ProgressFn | None, cancel: threading.Event | None,
) -> Any:
    """torch-int8 with float layers and/or bias correction, built on the all-int8
    variant's cached calibration: its observer states go into a prepared model whose
    mapping leaves s.float_layers float (no second calibration)."""
    from dataclasses import replace as dc_replace

    quantize_fx = _torch_fx()
    torch = frameworks.torch()
    engine = _torch_engine_name()
    base = s.base()
    base_opts = dc_replace(opts, quant=dc_replace(opts.quant, float_layers=(),
                                                  bias_correction=False))
    torch_quantized_module(ws, base_opts, on_progress, cancel)  # calibrates once, cached
    base_prepared = _torch_prepared(ws, base, opts.opset, engine)
    if not _load_observers(ws, _key(ws, base, opts.opset)[0], base_prepared):
        raise ConversionError("torch-int8 calibration vanished from the cache while in use; "
                              "retry")
    states = observer_states(base_prepared)
    torch.backends.quantized.engine = engine
    prepared = _torch_prepared(ws, s, opts.opset, engine)
    if not load_observer_states(prepared, states):
        log.info("%s: an observer has no all-int8 counterpart; calibrating it", s.label)
        calib = calibration.calibration_set(ws, s.calib, s.calib_seed)
        with torch.inference_mode():
            for batch in calibration.batches(calib.images, f"calibrating {s.label}",
                                             on_progress, cancel):
                prepared(torch.from_numpy(batch))
    quantized = quantize_fx.convert_fx(prepared).eval()
    if s.bias_correction:
        from engine import bias_correction

        key, parts = _key(ws, s, opts.opset)
        hit = ws.cache.load(STAGE, key)
        names = bias_correction.torch_corrected_modules(quantized)
        if hit is not None and hit[1].get("modules") == names:
            for i, name in enumerate(names):
                bias_correction.apply_torch_shift(quantized.get_submodule(name), hit[0][f"s{i}"])
        else:
            calib = calibration.calibration_set(ws, s.calib, s.calib_seed)
            shifts = bias_correction.correct_torch(
                quantized, convert.onnx_to_torch(ws.onnx_path(opts.opset)), calib.images,
                on_progress, cancel)
            ws.cache.save(STAGE, key, {f"s{i}": shifts[n] for i, n in enumerate(names)},
                          {"variant": s.label, "settings": s.to_dict(), "modules": names,
                           "what": "bias-correction shifts", "parts": parts})
    return quantized


def _load_observers(ws: Workspace, key: str, prepared: Any) -> bool | None:
    """Load cached observer state into ``prepared``: True when loaded, None when absent
    (``prepared`` untouched), False when unusable (entry removed, ``prepared`` possibly
    half-loaded: the caller must rebuild it)."""
    hit = ws.cache.load(STAGE, key)
    if hit is None:
        return None
    torch = frameworks.torch()
    arrays, meta = hit
    try:
        names = meta["names"]
        state = {n: torch.from_numpy(np.array(arrays[f"t{i}"])) for i, n in enumerate(names)}
        prepared.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        log.warning("cached torch-int8 calibration %s is unusable (%s); recalibrating",
                    key, str(exc)[:80])
        ws.cache.remove(STAGE, key)
        return False
    return True


def state_dict_bytes(module: Any) -> int:
    """Size of ``torch.save(module.state_dict())``: the module's size as a file."""
    buf = io.BytesIO()
    frameworks.torch().save(module.state_dict(), buf)
    return len(buf.getvalue())


def torch_structure(module: Any) -> dict[str, Any]:
    """The int8 modules of a torch-int8 model (name -> class) and the float ones with weights."""
    quantized: dict[str, str] = {}
    float_: list[str] = []
    for name, m in module.named_modules():
        kind = type(m).__module__
        if kind.startswith("torch.ao.nn") and ".quantized" in kind:
            quantized[name] = type(m).__name__
        elif name and list(m.parameters(recurse=False)):
            float_.append(name)
    return {"quantized_modules": quantized, "float_modules": float_}


# -- r8 quantize ----------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantizeResult:
    """One quantized variant as written to the cache."""

    variant: str
    """onnx-int8, onnx-uint8 or torch-int8."""
    settings: dict[str, Any]
    """Resolved settings, with the reduce_range reason."""
    calibration: str
    """Calibration set name, e.g. train[stratified:1000:0]."""
    calibration_size: int
    """Number of calibration images."""
    path: Path | None
    """The QDQ .onnx (None for torch-int8: its calibrated observers are cached as npz)."""
    size_bytes: int | None
    """Model size: the .onnx file, or torch.save(state_dict) for torch-int8."""
    seconds: float
    """Wall time of this call (quantizing, or loading from the cache)."""
    cached: bool
    """Served from the cache."""
    structure: dict[str, Any]
    """QDQ node and int8 initializer counts, or quantized module names."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Calibration notes (test-set overlap, synthetic inputs)."""


def _ops_structure(ws: Workspace, variant: str, opts: Any, path: Path | None,
                   ) -> dict[str, Any]:
    """``ops``: every operation that runs, with its precision (engine.int8ops), and the ORT
    optimization level the ONNX graph was read at."""
    from engine import int8ops
    from engine.layers import layer_map

    known = {x.name for x in layer_map(ws, opts.opset)}
    if path is not None:
        ops = int8ops.onnx_int8_ops(path, known)
        extra: dict[str, Any] = {"ort_optimization": int8ops.ORT_OPTIMIZATION}
    else:
        ops = int8ops.torch_int8_ops(torch_quantized_module(ws, opts), known)
        extra = {}
    return {"ops": [o.to_dict() for o in ops],
            "int8_ops": sum(o.precision == "int8" for o in ops),
            "float_ops": sum(o.precision == "float" for o in ops), **extra}


def backend_variants(backend: str) -> tuple[str, ...]:
    """The variants of ``onnx``, ``torch`` or ``all``."""
    if backend == "all":
        return BACKEND_VARIANTS["onnx"] + BACKEND_VARIANTS["torch"]
    if backend not in BACKEND_VARIANTS:
        raise UsageError(f"unknown backend {backend!r}; use onnx, torch or all")
    return BACKEND_VARIANTS[backend]


def cached_meta(ws: Workspace, variant: str, opts: VariantOptions) -> dict[str, Any] | None:
    """The cache sidecar of a quantized variant, or None when it is not quantized yet."""
    s = settings(variant, opts.quant)
    # torch-int8 with layer settings is rebuilt from the all-int8 calibration
    key, _ = _key(ws, s.base() if s.backend == "torch" else s, opts.opset)
    side = ws.cache.path(STAGE, key, ".json")
    main = ws.cache.path(STAGE, key, ".onnx" if s.backend == "onnx" else ".npz")
    if not (side.exists() and main.exists()):
        return None
    try:
        return dict(json.loads(side.read_text()))
    except (OSError, ValueError):
        return None


def quantize(
    ws: Workspace,
    variants: tuple[str, ...] | list[str],
    opts: VariantOptions | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[QuantizeResult, ...]:
    """Quantize each variant into the cache (or find it there) and describe the result."""
    opts = opts or VariantOptions()
    out: list[QuantizeResult] = []
    for v in variants:
        s = settings(v, opts.quant)
        cached = cached_meta(ws, v, opts) is not None
        t0 = time.perf_counter()
        if s.backend == "onnx":
            path: Path | None = onnx_quantized_path(ws, v, opts, on_progress, cancel)
            assert path is not None
            size: int | None = path.stat().st_size
            structure: dict[str, Any] = onnx_structure(path)
        else:
            module = torch_quantized_module(ws, opts, on_progress, cancel)
            path, size, structure = None, state_dict_bytes(module), torch_structure(module)
        seconds = time.perf_counter() - t0
        structure = {**structure, **_ops_structure(ws, v, opts, path)}
        meta = cached_meta(ws, v, opts) or {}
        out.append(QuantizeResult(v, s.to_dict(), str(meta.get("calibration", "")),
                                  int(meta.get("calibration_size", 0)), path, size, seconds,
                                  cached, structure, tuple(meta.get("calibration_notes", ()))))
    return tuple(out)
