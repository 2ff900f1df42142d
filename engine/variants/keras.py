"""keras: the reference .h5 through legacy tf_keras, on CPU."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engine.layers import LayerInfo
from engine.runners import KerasRunner, Runner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import CaptureModel, Variant, WeightSource, file_size
from engine.workspace import Workspace

LIBRARIES = ("numpy", "tensorflow", "tf_keras")


@dataclass(frozen=True)
class KerasVariant(Variant):
    family: str = "keras"
    libraries: tuple[str, ...] = LIBRARIES
    description: str = "the reference Keras .h5 (float)"

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        _ = ws.model_sha  # checks the file with h5py in this process first
        runner = KerasRunner(ws.model_path, self.name, ws.tf_worker, cancel)
        runner.load()
        return runner

    def capture_model(self, ws: Workspace, opts: VariantOptions,
                      layers: tuple[LayerInfo, ...]) -> CaptureModel:
        return CaptureModel("keras", ws.model_path, {})

    def weight_source(self, ws: Workspace, opts: VariantOptions, *,
                      cancel: threading.Event | None = None) -> WeightSource:
        return WeightSource("keras", ws.model_path)

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        return file_size(ws.model_path), "Keras .h5 file"


def variants() -> tuple[Any, ...]:
    return (KerasVariant("keras"),)
