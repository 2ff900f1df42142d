"""What every variant answers: identity, runner, activation capture, weights, size.

A variant is a frozen ``Variant`` registered by name (engine.variants.register). Each family
(keras, onnx, torch, tflite, onnx_qdq, torch_fx) is one subclass in its own module, like
Polygraphy's backend/<framework>/ and onnx2torch's converter registry. Capture and weights
are answered with a description of the model to read (its format, file or module, and the
Keras layer -> tensor map); engine.activations and engine.weights read it by format, so they
never switch on a variant's name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine import quantize
from engine.errors import UsageError
from engine.layers import LayerInfo, QuantParams
from engine.runners import Runner
from engine.types import ProgressFn, QuantSettings, VariantOptions
from engine.workspace import Workspace

KINDS = ("float", "quantized", "reference")
FORMATS = ("keras", "onnx", "torch")
"""Model formats a capture or a weight read is done on."""


@dataclass(frozen=True, eq=False)
class CaptureModel:
    """A model to read every layer's output from (engine.activations)."""

    format: str
    """keras (``model`` is the .h5 path), onnx (an .onnx path) or torch (a module)."""
    model: Any
    """The .h5 or .onnx path, or the torch module."""
    targets: dict[str, str]
    """Keras layer -> ONNX tensor or module name ({} for keras: every layer is its own)."""
    device: str = "cpu"
    """Requested device (onnx and torch)."""
    threads: int | None = None
    """Intra-op threads."""
    qparams: dict[str, QuantParams] = field(default_factory=dict)
    """QDQ models: layer -> quantization parameters of its int8 tensor."""
    qmax: int | None = None
    """torch int8 with reduce_range: the top of the used uint8 range."""


@dataclass(frozen=True, eq=False)
class WeightSource:
    """Where a variant's weights are read from (engine.weights)."""

    format: str
    """keras (``model`` the .h5 path), onnx (float .onnx), qdq (QDQ .onnx, ``reference``
    the float .onnx) or torch (a module; ``reference`` the float module for int8)."""
    model: Any
    """Path or module."""
    reference: Any = None
    """The float counterpart of an int8 model (None for float variants)."""


@dataclass(frozen=True)
class Variant:
    """One model variant users can name. Subclasses answer for their family."""

    name: str
    """What users type (keras, onnx-int8, torch-int8@recommended, ...)."""
    family: str = ""
    """keras, onnx, torch, tflite, onnx_qdq or torch_fx."""
    kind: str = "float"
    """float, quantized or reference."""
    libraries: tuple[str, ...] = ("numpy",)
    """Distributions whose versions change this variant's outputs (cache keys)."""
    can_capture: bool = True
    """Whether intermediate tensors can be read."""
    has_weights: bool = True
    """Whether weights can be read."""
    quant: QuantSettings | None = None
    """Own quantization settings (a variant registered at run time), overriding the options'."""
    description: str = ""
    """One line for help texts."""

    # -- options ---------------------------------------------------------------------------
    def options(self, opts: VariantOptions | None) -> VariantOptions:
        """``opts`` with this variant's own settings applied."""
        opts = opts or VariantOptions()
        return opts if self.quant is None else replace(opts, quant=self.quant)

    # -- the questions ---------------------------------------------------------------------
    def identity(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        """Everything that makes this variant's outputs what they are (uncached; use
        engine.variants.identity, which memoizes it on the workspace)."""
        return {"variant": self.name, "model": ws.model_sha}

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        """A loaded runner (building the model through the cache first); ``on_progress`` and
        ``cancel`` reach the conversion, the quantization and the TensorFlow worker."""
        raise NotImplementedError

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        raise UsageError(f"cannot capture activations of variant {self.name!r}")

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        """Where the weights are (building the model through the cache first; ``cancel``
        reaches the conversion, the quantization and the TensorFlow worker)."""
        raise UsageError(f"cannot read weights of variant {self.name!r}")

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        """Size on disk and what was measured."""
        return None, "unknown"

    def details(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        """Extra facts for reports (quantization settings, calibration); {} when none."""
        return {}


def file_size(path: Path) -> int:
    return Path(path).stat().st_size


@dataclass(frozen=True)
class QuantizedVariant(Variant):
    """An int8 model built by engine.quantize from the float ONNX model."""

    kind: str = "quantized"
    recipe: str = ""
    """The engine.quantize variant it is built as (onnx-int8, onnx-uint8, torch-int8); a
    variant registered at run time (``torch-int8@recommended``) names its recipe here."""

    @property
    def base(self) -> str:
        return self.recipe or self.name

    def settings(self, opts: VariantOptions) -> quantize.ResolvedQuant:
        """engine.quantize.ResolvedQuant of this variant under ``opts``."""
        return quantize.settings(self.base, self.options(opts).quant)

    def identity(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        return {**super().identity(ws, opts), "device": opts.device,
                "quant": quantize.identity(ws, self.base, self.options(opts))}

    def quantized_targets(self, ws: Workspace, opts: VariantOptions,
                          layers: tuple[LayerInfo, ...]) -> dict[str, str]:
        """Keras layer -> the int8 tensor or module carrying its output (engine.layers)."""
        raise NotImplementedError

    def details(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        meta = quantize.cached_meta(ws, self.base, self.options(opts)) or {}
        return {"quant": self.settings(opts).to_dict(), "calibration": meta.get("calibration"),
                "calibration_size": meta.get("calibration_size"),
                "calibration_notes": list(meta.get("calibration_notes", ())),
                "serialized_bytes": meta.get("serialized_bytes")}
