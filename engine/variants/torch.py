"""torch: the float ONNX model turned into a torch.nn.Module by onnx2torch."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engine import convert, quantize
from engine.cache import make_key
from engine.layers import LayerInfo
from engine.runners import Runner, TorchRunner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import CaptureModel, Variant, WeightSource
from engine.workspace import Workspace

LIBRARIES = (*convert.CONVERT_LIBRARIES, "onnx2torch", "torch")
SIZE_STAGE = "torch-size"


@dataclass(frozen=True)
class TorchVariant(Variant):
    family: str = "torch"
    libraries: tuple[str, ...] = LIBRARIES
    description: str = "float PyTorch module (onnx2torch)"

    def identity(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        return {**super().identity(ws, opts), "opset": opts.opset, "device": opts.device,
                "tf32": opts.tf32}

    def module(self, ws: Workspace, opts: VariantOptions, on_progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Any:
        return convert.onnx_to_torch(ws.onnx_path(opts.opset, on_progress=on_progress,
                                                  cancel=cancel))

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        runner = TorchRunner(self.module(ws, opts, on_progress, cancel), self.name, opts.device, opts.tf32,
                             opts.threads)
        runner.load()
        return runner

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        targets = {x.name: x.torch_output for x in layers if x.torch_output}
        return CaptureModel("torch", self.module(ws, opts), targets, opts.device, opts.threads)

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        return WeightSource("torch", self.module(ws, opts, cancel=cancel))

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        """Cached: measuring it imports torch, onnx2torch and torchvision (most of a warm
        `r8 report` before it was cached)."""
        key = make_key(SIZE_STAGE, {"model": ws.model_sha, "opset": opts.opset}, LIBRARIES)
        size = ws.cache.json_result(
            SIZE_STAGE, key, lambda: quantize.state_dict_bytes(self.module(ws, opts)), int, int,
            {"variant": self.name})
        return size, "torch.save(state_dict)"


def variants() -> tuple[Any, ...]:
    return (TorchVariant("torch"),)
