"""The model variants r8 knows, and how to open a runner for each.

Float: keras, onnx, torch. Quantized (engine.quantize): onnx-int8, onnx-uint8, torch-int8.
MLPerf's reference TFLite exports: tflite, tflite-int8.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import assets, convert
from engine.errors import UsageError
from engine.runners import KerasRunner, OnnxRunner, Runner, TFLiteRunner, TorchRunner
from engine.workspace import Workspace

FLOAT_VARIANTS = ("keras", "onnx", "torch")
QUANT_VARIANTS = ("onnx-int8", "onnx-uint8", "torch-int8")
REFERENCE_VARIANTS = ("tflite", "tflite-int8")
ALL_VARIANTS = FLOAT_VARIANTS + QUANT_VARIANTS + REFERENCE_VARIANTS
BASELINE = "keras"
"""The float reference every other variant is compared with."""

RECOMMENDED = "@recommended"
"""Suffix of an int8 variant with the settings `r8 quantize --recommend` saved."""

TFLITE_FILE = {"tflite": assets.TFLITE_FILES[0], "tflite-int8": assets.TFLITE_FILES[1]}


@dataclass(frozen=True)
class VariantOptions:
    """Settings that change how a variant is built or run."""

    device: str = "cpu"
    """cpu, cuda or auto (PyTorch and ONNX Runtime; Keras and TFLite run on CPU)."""
    tf32: bool = False
    """Allow TF32 convolutions on CUDA (off by default: fidelity first)."""
    threads: int | None = None
    """Intra-op threads (None: the framework's default)."""
    opset: int = convert.DEFAULT_OPSET
    """ONNX opset of the float conversion."""
    quant: Mapping[str, Any] = field(default_factory=dict)
    """Quantization settings for the int8 variants (see engine.quantize)."""


def parse_variants(text: str, allowed: tuple[str, ...] = ALL_VARIANTS) -> list[str]:
    """Split a comma list of variant names, refusing unknown ones."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise UsageError(f"no variant given; use one or more of {', '.join(allowed)}")
    for v in names:
        if v.endswith(RECOMMENDED) and v.removesuffix(RECOMMENDED) in QUANT_VARIANTS and \
                v.removesuffix(RECOMMENDED) in allowed:
            continue  # settings saved by `r8 quantize --recommend` (engine.recommend)
        if v not in allowed:
            raise UsageError(f"unknown variant {v!r}; use one of {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def identity(ws: Workspace, variant: str, opts: VariantOptions) -> dict[str, Any]:
    """Everything that makes this variant's outputs what they are (for cache keys)."""
    parse_variants(variant)
    base: dict[str, Any] = {"variant": variant, "model": ws.model_sha}
    if variant in ("onnx", "torch"):
        base["opset"] = opts.opset
    if variant in ("onnx", "torch", "onnx-int8", "onnx-uint8", "torch-int8"):
        base["device"] = opts.device
    if variant == "torch":
        base["tf32"] = opts.tf32
    if variant in QUANT_VARIANTS:
        from engine import quantize

        base["quant"] = quantize.identity(ws, variant, opts)
    if variant in REFERENCE_VARIANTS:
        from engine.cache import file_sha256

        base["tflite"] = file_sha256(assets.find_tflite(TFLITE_FILE[variant], ws.model_path))
    return base


def open_runner(ws: Workspace, variant: str, opts: VariantOptions | None = None) -> Runner:
    """A loaded runner for ``variant`` (converting or quantizing through the cache first)."""
    opts = opts or VariantOptions()
    parse_variants(variant)
    runner: Runner
    if variant == "keras":
        runner = KerasRunner(ws.model_path)
    elif variant == "onnx":
        runner = OnnxRunner(ws.onnx_path(opts.opset), "onnx", opts.device, opts.threads)
    elif variant == "torch":
        module = convert.onnx_to_torch(ws.onnx_path(opts.opset))
        runner = TorchRunner(module, "torch", opts.device, opts.tf32, opts.threads)
    elif variant in REFERENCE_VARIANTS:
        runner = TFLiteRunner(assets.find_tflite(TFLITE_FILE[variant], ws.model_path), variant)
    else:
        from engine import quantize

        runner = quantize.open_runner(ws, variant, opts)
    runner.load()
    return runner
