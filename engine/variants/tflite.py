"""tflite, tflite-int8: MLPerf's reference TFLite exports in TensorFlow's interpreter."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import assets
from engine.runners import Runner, TFLiteRunner
from engine.types import ProgressFn, VariantOptions
from engine.variants.base import Variant, file_size
from engine.workspace import Workspace

LIBRARIES = ("numpy", "tensorflow")


@dataclass(frozen=True)
class TFLiteVariant(Variant):
    family: str = "tflite"
    kind: str = "reference"
    libraries: tuple[str, ...] = LIBRARIES
    can_capture: bool = False
    has_weights: bool = False
    file: str = assets.TFLITE_FILES[0]
    """MLPerf's file name (found beside the model or downloaded)."""

    def path(self, ws: Workspace) -> Path:
        return assets.find_tflite(self.file, ws.model_path)

    def identity(self, ws: Workspace, opts: VariantOptions) -> dict[str, Any]:
        return {**super().identity(ws, opts), "tflite": ws.file_sha(self.path(ws))}

    def open_runner(self, ws: Workspace, opts: VariantOptions, *,
                    on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> Runner:
        runner = TFLiteRunner(self.path(ws), self.name, ws.tf_worker, cancel)
        runner.load()
        return runner

    def size(self, ws: Workspace, opts: VariantOptions) -> tuple[int | None, str]:
        return file_size(self.path(ws)), ".tflite file"


def variants() -> tuple[Any, ...]:
    return (TFLiteVariant("tflite", file=assets.TFLITE_FILES[0],
                          description="MLPerf's reference float .tflite"),
            TFLiteVariant("tflite-int8", file=assets.TFLITE_FILES[1],
                          description="MLPerf's reference full-int8 .tflite"))
