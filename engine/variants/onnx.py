"""onnx: the float ONNX conversion (tf2onnx, BatchNorm folded) in ONNX Runtime."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engine import convert
from engine.layers import LayerInfo
from engine.runners import OnnxRunner, Runner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import CaptureModel, Variant, WeightSource, file_size
from engine.workspace import Workspace

LIBRARIES = (*convert.CONVERT_LIBRARIES, "onnxruntime")


@dataclass(frozen=True)
class OnnxVariant(Variant):
    family: str = "onnx"
    libraries: tuple[str, ...] = LIBRARIES
    description: str = "float ONNX in ONNX Runtime"

    def identity(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        return {**super().identity(ws, opts), "opset": opts.opset, "device": opts.device}

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        onnx_path = ws.onnx_path(opts.opset, on_progress=on_progress, cancel=cancel)
        runner = OnnxRunner(onnx_path, self.name, opts.device, opts.threads)
        runner.load()
        return runner

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        targets = {x.name: x.onnx_output for x in layers if x.onnx_output}
        return CaptureModel("onnx", ws.onnx_path(opts.opset), targets, opts.device, opts.threads)

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        return WeightSource("onnx", ws.onnx_path(opts.opset, cancel=cancel))

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        return file_size(ws.onnx_path(opts.opset)), "float .onnx file"


def variants() -> tuple[Any, ...]:
    return (OnnxVariant("onnx"),)
