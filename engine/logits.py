"""Each variant's logits (the dense layer's output before its softmax) on an input.

An int8 softmax has 1/256 steps, so two classes can share the top probability; argmax then
takes the lower class index (engine.ties). The logits show what the model itself ranked
first. Keras runs in the TensorFlow worker, which returns probabilities only: it has no
logits here (its float twins onnx and torch compute the same ones).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine import frameworks
from engine import variants as V
from engine.cache import make_key
from engine.errors import CancelledError, UsageError
from engine.inputs import InputSpec, check_images
from engine.layers import INPUT_OF
from engine.ties import tie_broken_argmax
from engine.workspace import Workspace

LOGITS_STAGE = "logits"
TORCH_SOFTMAX = "model/dense/Softmax"
"""The softmax module of the converted (and of the FX-quantized) PyTorch model."""


@dataclass(frozen=True)
class VariantLogits:
    """One variant's logits and probabilities on the images of an input."""

    variant: str
    logits: np.ndarray
    """(N, 10) float32, dequantized for int8 variants."""
    probs: np.ndarray
    """(N, 10) the variant's output probabilities."""

    @property
    def tied(self) -> np.ndarray:
        """(N,) bool: the two highest probabilities are exactly equal."""
        top2 = np.sort(self.probs, axis=1)[:, -2:]
        return top2[:, 0] == top2[:, 1]

    @property
    def argmax(self) -> np.ndarray:
        """(N,) the class argmax of the probabilities picks (lowest index on a tie)."""
        return self.probs.argmax(axis=1)

    @property
    def tie_broken(self) -> np.ndarray:
        """(N,) the class the logits rank first among the tied ones."""
        return tie_broken_argmax(self.probs, self.logits)


def has_logits(variant: str) -> bool:
    return V.get(variant).family != "keras"


def variant_logits(ws: Workspace, variant: str, spec: InputSpec,
                   opts: V.VariantOptions | None = None,
                   cancel: threading.Event | None = None) -> VariantLogits:
    """``variant``'s logits and probabilities on ``spec`` (cached)."""
    opts = opts or V.VariantOptions()
    check_images(spec)
    if not has_logits(variant):
        raise UsageError(f"{variant}: logits are not captured from the TensorFlow worker; "
                         "use onnx or torch (the same float model)")
    key = make_key(LOGITS_STAGE, {"variant": V.identity(ws, variant, opts),
                                  "input": spec.identity}, V.libraries(variant))
    hit = ws.cache.load(LOGITS_STAGE, key)
    if hit is not None:
        arrays = hit[0]
        if {"logits", "probs"} <= arrays.keys() and arrays["logits"].shape == (len(spec), 10):
            return VariantLogits(variant, arrays["logits"], arrays["probs"])
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"logits of {variant}: cancelled")
    logits, probs = _capture(ws, variant, spec, opts)
    ws.cache.save(LOGITS_STAGE, key, {"logits": logits, "probs": probs},
                  {"variant": variant, "input": spec.text, "n": len(spec)})
    return VariantLogits(variant, logits, probs)


def _capture(ws: Workspace, variant: str, spec: InputSpec,
             opts: V.VariantOptions) -> tuple[np.ndarray, np.ndarray]:
    from engine import activations as A

    family = V.get(variant)
    if family.family in ("torch", "torch_fx"):
        module = family.module(ws, opts)  # type: ignore[attr-defined]
        cap: A._TorchCapturer | A._OnnxCapturer = A._TorchCapturer(
            module, {"logits": TORCH_SOFTMAX + INPUT_OF},
            "cpu" if family.family == "torch_fx" else opts.device, opts.threads)
    else:
        path = (family.path(ws, opts)  # type: ignore[attr-defined]
                if family.family == "onnx_qdq" else ws.onnx_path(opts.opset))
        graph = frameworks.onnx().load(str(path)).graph
        soft = next(n for n in graph.node if n.op_type == "Softmax")
        cap = A._OnnxCapturer(path, {"logits": soft.input[0]}, opts.device, opts.threads)
    got, probs = cap.run(spec.images)
    logits = np.asarray(got["logits"][0], dtype=np.float32).reshape(len(spec), -1)
    return logits, np.asarray(probs, dtype=np.float32)
