"""onnx-int8, onnx-uint8: ONNX Runtime static QDQ quantization of the float ONNX model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import layers as L
from engine import quantize
from engine.layers import LayerInfo
from engine.runners import OnnxRunner, Runner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import CaptureModel, QuantizedVariant, WeightSource, file_size
from engine.workspace import Workspace

LIBRARIES = quantize.ONNX_LIBRARIES


@dataclass(frozen=True)
class OnnxQdqVariant(QuantizedVariant):
    family: str = "onnx_qdq"
    libraries: tuple[str, ...] = LIBRARIES

    def path(self, ws: Workspace, opts: VariantOptions, on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> Path:
        return quantize.onnx_quantized_path(ws, self.base, self.options(opts), on_progress,
                                            cancel)

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        runner = OnnxRunner(self.path(ws, opts, on_progress, cancel), self.name, opts.device, opts.threads)
        runner.load()
        return runner

    def quantized_targets(self, ws: Workspace, opts: VariantOptions,
                          layers: tuple[LayerInfo, ...]) -> dict[str, str]:
        return L.qdq_targets(self.path(ws, opts), layers)[0]

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        path = self.path(ws, opts)
        targets, qparams = L.qdq_targets(path, layers)
        return CaptureModel("onnx", path, targets, opts.device, opts.threads, qparams)

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        return WeightSource("qdq", self.path(ws, opts, cancel=cancel),
                            ws.onnx_path(opts.opset, cancel=cancel))

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        path = quantize.onnx_quantized_cached(ws, self.base, self.options(opts))
        return file_size(path or self.path(ws, opts)), "QDQ .onnx file"


def variants() -> tuple[Any, ...]:
    return (OnnxQdqVariant("onnx-int8", description="ONNX Runtime QDQ, int8 activations"),
            OnnxQdqVariant("onnx-uint8", description="ONNX Runtime QDQ, uint8 activations"))
