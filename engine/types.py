"""Frozen result dataclasses shared across the engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.cpu import CpuFeatures, cpu_features
from engine.errors import UsageError

ProgressFn = Callable[[int, int, str], None]
"""Progress callback: (done, total, what is being done)."""

CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels, with each row's official index."""

    name: str
    """What it is, e.g. ``test``, ``test[mlperf-perf]``, ``train[stratified:1000:0]``."""
    images: np.ndarray
    """uint8, (N, 32, 32, 3), NHWC, raw 0-255 pixels."""
    labels: np.ndarray
    """int64, (N,), class ids 0-9."""
    indices: np.ndarray
    """int64, (N,), each row's official index in its split (its row number when unknown)."""
    identity: str
    """Hash of the pixels, labels and indices; keys cached results."""
    source: str = ""
    """The folder or file it came from."""
    notes: tuple[str, ...] = ()
    """Anything the user should know (missing rows, skipped indices)."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class OutputDiff:
    """How far two variants' outputs are apart on one input set."""

    a: str
    """First variant."""
    b: str
    """Second variant."""
    inputs: str
    """``real`` (CIFAR-10 test images) or ``random`` (seeded uniform 0-255)."""
    n: int
    """Number of inputs compared."""
    max_abs_diff: float
    """Largest absolute difference of any output element."""
    mean_abs_diff: float
    """Mean absolute difference over all output elements."""
    max_rel_diff: float
    """Largest |a-b| / max(|a|, eps)."""
    argmax_agreement: float
    """Share of inputs whose argmax is the same (0-1)."""
    tolerance: float
    """The max-abs tolerance the pair was judged against."""
    passed: bool
    """max_abs_diff <= tolerance, argmax agrees on every input and nothing is NaN."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of one variant on one data set."""

    variant: str
    """Variant name (keras, onnx, torch, onnx-int8, ...)."""
    dataset: str
    """Data set name."""
    correct: int
    """Number of correct top-1 predictions."""
    total: int
    """Number of images."""
    per_class_correct: tuple[int, ...]
    """Correct predictions per true class."""
    per_class_total: tuple[int, ...]
    """Images per true class."""
    confusion: tuple[tuple[int, ...], ...]
    """10x10, rows true class, columns predicted class."""
    images_per_second: float | None = None
    """Throughput of the run that produced the predictions (None when served from cache)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Variant details (device, TF32, quantization settings)."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def per_class_accuracy(self) -> tuple[float, ...]:
        """Accuracy per true class (0-1); NaN for a class with no images (the one convention:
        formatted as ``-`` by engine.format, left empty in CSV)."""
        return tuple(c / t if t else float("nan")
                     for c, t in zip(self.per_class_correct, self.per_class_total, strict=True))


# -- settings -------------------------------------------------------------------------------
QUANT_KEYS = ("calib", "calib_seed", "method", "per_channel", "reduce_range", "float_layers",
              "bias_correction")
"""The names QuantSettings.parse accepts."""


@dataclass(frozen=True)
class QuantSettings:
    """Quantization settings shared by the int8 variants, parsed once at the edge.

    The per-variant view (method default by backend, reduce_range by activation type) is
    ``engine.quantize.settings(variant, quant)``; the CPU it depends on is read once, here.
    """

    calib: str = "train:1000"
    """Normalised calibration spec (train:N, mlperf, random:N)."""
    calib_seed: int = 0
    """Seed of the stratified or random draw."""
    method: str | None = None
    """Calibration method; None: the backend's default (engine.quantize.DEFAULT_METHOD)."""
    per_channel: bool = True
    """Per-channel weight scales (else one per tensor)."""
    reduce_range: bool | None = None
    """7-bit range when True/False is set by the user; None: chosen by CPU and activation type."""
    float_layers: tuple[str, ...] = ()
    """Keras layer names kept in float (part of the cache key only when non-empty)."""
    bias_correction: bool = False
    """Correct each int8 layer's bias for its mean quantization error (key part only when on)."""
    cpu: CpuFeatures = field(default_factory=cpu_features)
    """The CPU the automatic reduce_range is resolved against (read once, at the edge)."""

    def to_mapping(self) -> dict[str, Any]:
        """The settings as the mapping ``parse`` reads (the CPU left out)."""
        return {k: getattr(self, k) for k in QUANT_KEYS}

    def __post_init__(self) -> None:
        from engine.calibration import normalize_spec

        object.__setattr__(self, "calib", normalize_spec(self.calib))
        # canonical (unique, sorted): the order has no meaning, one cache key per set
        object.__setattr__(self, "float_layers",
                           tuple(sorted({str(x).strip() for x in self.float_layers} - {""})))

    @classmethod
    def parse(cls, quant: Mapping[str, Any] | QuantSettings | None = None,
              cpu: CpuFeatures | None = None) -> QuantSettings:
        """Validate a settings mapping (flags, JSON) into QuantSettings; unknown keys are refused."""
        from engine.calibration import DEFAULT_CALIB, DEFAULT_CALIB_SEED

        if isinstance(quant, QuantSettings):
            return quant if cpu is None else replace(quant, cpu=cpu)
        q = dict(quant or {})
        unknown = sorted(set(q) - set(QUANT_KEYS))
        if unknown:
            raise UsageError(f"unknown quantization setting {', '.join(unknown)}; use "
                             f"{', '.join(QUANT_KEYS)}")
        seed = q.get("calib_seed")
        try:
            seed = DEFAULT_CALIB_SEED if seed is None else int(seed)
        except (TypeError, ValueError):
            raise UsageError(f"calibration seed {seed!r} is not a whole number") from None
        if seed < 0:
            raise UsageError(f"calibration seed {seed} is negative; use --calib-seed 0 or more")
        method = q.get("method")
        rr = q.get("reduce_range")
        layers = q.get("float_layers") or ()
        if isinstance(layers, str):
            layers = tuple(x.strip() for x in layers.split(",") if x.strip())
        return cls(
            calib=str(q.get("calib") or DEFAULT_CALIB),
            calib_seed=seed,
            method=None if method is None or method == "" else str(method).lower(),
            per_channel=_bool(q.get("per_channel", True), "per_channel"),
            reduce_range=None if rr is None else _bool(rr, "reduce_range"),
            float_layers=tuple(dict.fromkeys(str(x) for x in layers)),
            bias_correction=_bool(q.get("bias_correction", False), "bias_correction"),
            cpu=cpu if cpu is not None else cpu_features(),
        )


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise UsageError(f"quantization setting {name}={value!r} is not true/false")


DEFAULT_OPSET = 13
"""ONNX opset of the float conversion when none is given (engine.convert.DEFAULT_OPSET)."""


@dataclass(frozen=True)
class VariantOptions:
    """Settings that change how a variant is built or run (hashable: identities are memoized
    on the Workspace by variant and options)."""

    device: str = "cpu"
    """cpu, cuda or auto (PyTorch and ONNX Runtime; Keras and TFLite run on CPU)."""
    tf32: bool = False
    """Allow TF32 convolutions on CUDA (off by default: fidelity first)."""
    threads: int | None = None
    """Intra-op threads (None: the framework's default)."""
    opset: int = DEFAULT_OPSET
    """ONNX opset of the float conversion."""
    quant: QuantSettings = field(default_factory=QuantSettings)
    """Quantization settings of the int8 variants (a mapping is parsed into QuantSettings)."""

    def __post_init__(self) -> None:
        if not isinstance(self.quant, QuantSettings):  # a dict from an older caller or a test
            object.__setattr__(self, "quant", QuantSettings.parse(self.quant))
