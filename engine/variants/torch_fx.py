"""torch-int8: PyTorch FX static quantization of the onnx2torch module (CPU kernels only)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engine import convert, quantize
from engine import layers as L
from engine.layers import LayerInfo
from engine.runners import Runner, TorchRunner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import CaptureModel, QuantizedVariant, WeightSource
from engine.workspace import Workspace

LIBRARIES = quantize.TORCH_LIBRARIES
@dataclass(frozen=True)
class TorchFxVariant(QuantizedVariant):
    family: str = "torch_fx"
    libraries: tuple[str, ...] = LIBRARIES

    def module(self, ws: Workspace, opts: VariantOptions, on_progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Any:
        return quantize.torch_quantized_module(ws, self.options(opts), on_progress, cancel)

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        module = self.module(ws, opts, on_progress, cancel)
        runner = TorchRunner(module, self.name, "cpu", False, opts.threads)
        runner.load()
        if opts.device != "cpu":
            runner.notice = (f"{self.name} runs on CPU only (PyTorch quantized kernels); "
                             f"--device {opts.device} ignored")
        return runner

    def quantized_targets(self, ws: Workspace, opts: VariantOptions,
                          layers: tuple[LayerInfo, ...]) -> dict[str, str]:
        return L.torch_int8_targets(self.module(ws, opts), layers)

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        module = self.module(ws, opts)
        targets = L.torch_int8_targets(module, layers)
        # the dtype's range even with reduce_range: the observers map the observed range onto
        # 0..127, but the quantized tensors hold 0..255 (ReLU outputs use up to 165 levels)
        return CaptureModel("torch", module, targets, "cpu", opts.threads)

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        return WeightSource("torch", self.module(ws, opts, cancel=cancel),
                            convert.onnx_to_torch(ws.onnx_path(opts.opset, cancel=cancel)))

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        if self.settings(opts).float_layers or self.settings(opts).bias_correction:
            # rebuilt from the all-int8 calibration: the cache holds no model of its own
            module = quantize.torch_quantized_module(ws, self.options(opts))
            return quantize.state_dict_bytes(module), "torch.save(state_dict) of the FX model"
        size = (quantize.cached_meta(ws, self.base, self.options(opts)) or {}).get(
            "serialized_bytes")
        return (int(size) if size is not None else None), "torch.save(state_dict) of the FX model"


def variants() -> tuple[Any, ...]:
    return (TorchFxVariant("torch-int8", description="PyTorch FX int8 (x86/qnnpack, CPU)"),)
