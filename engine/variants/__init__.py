"""The model variants r8 knows: a registry of names, one module per family.

Float: keras, onnx, torch. Quantized (engine.quantize): onnx-int8, onnx-uint8 (onnx_qdq),
torch-int8 (torch_fx). MLPerf's reference TFLite exports: tflite, tflite-int8.

Adding a variant is one ``register`` call, also at run time, e.g. a repaired int8 model with
its own settings::

    register(replace(get("torch-int8"), name="torch-int8@recommended", recipe="torch-int8",
                     quant=QuantSettings(calib="train:2000")))

Identities are memoized on the Workspace, so asking again costs a dictionary lookup.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from engine.errors import UsageError
from engine.runners import Runner
from engine.types import ProgressFn, QuantSettings, VariantOptions
from engine.variants import keras, onnx, onnx_qdq, tflite, torch, torch_fx
from engine.variants.base import CaptureModel, QuantizedVariant, Variant, WeightSource
from engine.workspace import Workspace

__all__ = [
    "ALL_VARIANTS", "BASELINE", "FLOAT_VARIANTS", "QUANT_VARIANTS", "REFERENCE_VARIANTS",
    "CaptureModel", "QuantSettings", "QuantizedVariant", "Variant", "VariantOptions",
    "WeightSource", "check_quantized", "get", "identity", "names", "open_runner",
    "parse_variants", "register", "unregister",
]

_REGISTRY: dict[str, Variant] = {}
"""Name -> variant, in registration order (the order help texts list them)."""


def register(variant: Variant, replace: bool = False) -> Variant:
    """Make ``variant`` nameable everywhere (eval, report, activations, the TUI)."""
    if variant.name in _REGISTRY and not replace:
        raise UsageError(f"variant {variant.name!r} is already registered; choose another name")
    if not variant.name or "," in variant.name or variant.name != variant.name.strip():
        raise UsageError(f"variant name {variant.name!r} is not usable; use letters, digits, "
                         "'-', '@' and no commas")
    _REGISTRY[variant.name] = variant
    return variant


def unregister(name: str) -> None:
    """Forget a variant registered at run time (built-ins included, for tests)."""
    _REGISTRY.pop(name, None)


for _family in (keras, onnx, torch, onnx_qdq, torch_fx, tflite):
    for _v in _family.variants():
        register(_v)

FLOAT_VARIANTS = ("keras", "onnx", "torch")
QUANT_VARIANTS = ("onnx-int8", "onnx-uint8", "torch-int8")
REFERENCE_VARIANTS = ("tflite", "tflite-int8")
ALL_VARIANTS = FLOAT_VARIANTS + QUANT_VARIANTS + REFERENCE_VARIANTS
"""The built-in names (run-time registrations come after them in ``names()``)."""
BASELINE = "keras"
"""The float reference every other variant is compared with."""
RECOMMENDED = "@recommended"
"""Suffix of an int8 variant with the settings `r8 quantize --recommend` saved; the edge
registers ``VARIANT@recommended`` (engine.recommend.register_requested) once the workspace
is open."""


def names(kind: str | None = None, capture: bool | None = None,
          weights: bool | None = None) -> tuple[str, ...]:
    """Registered names, optionally only one kind (float, quantized, reference) or only
    those whose activations or weights can be read."""
    return tuple(v.name for v in _REGISTRY.values()
                 if (kind is None or v.kind == kind)
                 and (capture is None or v.can_capture == capture)
                 and (weights is None or v.has_weights == weights))


def get(name: str) -> Variant:
    """The registered variant called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown variant {name!r}; use one of {', '.join(_REGISTRY)}") from None


def parse_variants(text: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    """Split a comma list of variant names, refusing unknown ones."""
    allowed = names() if allowed is None else allowed
    found = [v.strip() for v in text.split(",") if v.strip()]
    if not found:
        raise UsageError(f"no variant given; use one or more of {', '.join(allowed)}")
    for v in found:
        base = v.partition("@")[0]
        if v != base and v not in _REGISTRY and base in QUANT_VARIANTS and base in allowed:
            continue  # VARIANT@recommended (engine.recommend) or VARIANT@bias-correction,
            # VARIANT@float=L1+L2 (engine.named_settings): registered by the edge
        if v not in allowed:
            raise UsageError(f"unknown variant {v!r}; use one of {', '.join(allowed)}")
    return list(dict.fromkeys(found))


def identity(ws: Workspace, variant: str, opts: VariantOptions | None = None) -> dict[str, Any]:
    """Everything that makes this variant's outputs what they are (for cache keys); computed
    once per workspace, variant and options."""
    v = get(variant)
    opts = opts or VariantOptions()
    return copy.deepcopy(ws.memo(("variant-identity", v, opts), lambda: v.identity(ws, opts)))


def check_quantized(variant: str, what: str, example: str = "") -> None:
    """Refuse a variant that is not int8 for ``what`` (e.g. "isolated error", "--quant")."""
    quantized = names(kind="quantized")
    if variant not in quantized:
        raise UsageError(f"{what} needs an int8 variant, got {variant!r}; use one of "
                         f"{', '.join(quantized)}{example}")


def libraries(variant: str) -> tuple[str, ...]:
    """Distributions whose versions change ``variant``'s outputs."""
    return get(variant).libraries


def open_runner(ws: Workspace, variant: str, opts: VariantOptions | None = None, *,
                on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> Runner:
    """A loaded runner for ``variant`` (converting or quantizing through the cache first);
    ``on_progress`` and ``cancel`` reach the conversion and the TensorFlow worker's calls."""
    return get(variant).open_runner(ws, opts or VariantOptions(), on_progress=on_progress,
                                    cancel=cancel)
