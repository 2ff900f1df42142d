"""Calibration sets for static quantization, and the data readers that feed them.

Specs: ``default`` (= ``train:1000``: 1,000 training images stratified by class, seed 0,
disjoint from the test set), ``mlperf`` (the 500 MLPerf calibration indices, official
*test* images, as MLPerf's reference converter does), ``train:N``, and ``random:N``
(seeded uniform noise; only when asked for, and labelled as synthetic).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import data
from engine.errors import CancelledError, UsageError
from engine.types import ProgressFn
from engine.workspace import Workspace

DEFAULT_CALIB = "default"
DEFAULT_CALIB_SIZE = 1000
DEFAULT_CALIB_SEED = 0
CALIB_BATCH = 100
"""Images per calibration batch."""
CALIB_HELP = "default (train:1000) | mlperf | train:N | random:N"
MLPERF_INDEX_FILE = "calibration_samples_idxs.npy"
ALGORITHM_VERSION = 1
"""Bump when the way a spec selects its images changes (part of the identity)."""


@dataclass(frozen=True, eq=False)
class CalibrationSet:
    """The images a quantizer observes."""

    spec: str
    """Normalised spec: ``train:N``, ``mlperf`` or ``random:N``."""
    name: str
    """Human name, e.g. ``train[stratified:1000:0]``."""
    images: np.ndarray
    """float32 NHWC raw 0-255 pixels."""
    synthetic: bool
    """True for random inputs (not real images)."""
    notes: tuple[str, ...]
    """Anything the user should know (test-set overlap, missing indices, synthetic data)."""

    def __len__(self) -> int:
        return int(self.images.shape[0])


def normalize_spec(text: str) -> str:
    """Check a calibration spec's syntax; ``default`` becomes ``train:1000``."""
    spec = (text or DEFAULT_CALIB).strip().lower()
    if spec == DEFAULT_CALIB:
        return f"train:{DEFAULT_CALIB_SIZE}"
    if spec == "mlperf":
        return spec
    kind, _, arg = spec.partition(":")
    if kind in ("train", "random") and arg:
        try:
            n = int(arg)
        except ValueError:
            raise UsageError(f"calibration size {arg!r} in {text!r} is not a whole number; "
                             f"use {CALIB_HELP}") from None
        if n <= 0:
            raise UsageError(f"calibration size {n} in {text!r} selects nothing; use N >= 1")
        return f"{kind}:{n}"
    raise UsageError(f"unknown calibration set {text!r}; use {CALIB_HELP}")


def calibration_identity(
    ws: Workspace, spec: str, seed: int = DEFAULT_CALIB_SEED
) -> dict[str, Any]:
    """What determines the images of ``spec`` (source file hashes), without loading them."""
    spec = normalize_spec(spec)
    out: dict[str, Any] = {"spec": spec, "algorithm": ALGORITHM_VERSION}
    if spec.startswith("train:"):
        out["seed"] = seed
        out["files"] = [ws.file_sha(ws.data_dir / f) for f in data.TRAIN_FILES]
    elif spec == "mlperf":
        out["files"] = [ws.file_sha(ws.data_dir / data.TEST_FILE),
                        ws.file_sha(ws.index_file(MLPERF_INDEX_FILE))]
    else:
        out["seed"] = seed
    return out


def calibration_set(ws: Workspace, spec: str, seed: int = DEFAULT_CALIB_SEED) -> CalibrationSet:
    """Load the images of ``spec``; sizes beyond what is available are refused."""
    spec = normalize_spec(spec)
    kind, _, arg = spec.partition(":")
    if kind == "train":
        pool = ws.train_set
        n = int(arg)
        if n > len(pool):
            raise UsageError(f"calibration train:{n} asks for more than the {len(pool)} "
                             f"training images available; use train:1..{len(pool)}")
        ds = data.stratified(pool, n, seed)
        return CalibrationSet(spec, ds.name, ds.images.astype(np.float32), False, ds.notes)
    if kind == "mlperf":
        from engine.subsets import select_subset

        ds = select_subset(ws, "mlperf-calib")
        notes = ds.notes + ("mlperf calibration images come from the test set (MLPerf "
                            "reference practice); test accuracy is then not fully independent",)
        return CalibrationSet(spec, ds.name, ds.images.astype(np.float32), False, notes)
    n = int(arg)
    return CalibrationSet(spec, f"random[{n}:{seed}]", data.random_inputs(n, seed), True,
                          (f"calibrated on {n} random inputs (synthetic, not real images)",))


def batches(
    images: np.ndarray,
    what: str,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    batch_size: int = CALIB_BATCH,
):  # noqa: ANN201 - a generator of float32 batches
    """Yield calibration batches, reporting progress and honouring ``cancel``."""
    n = len(images)
    for start in range(0, n, batch_size):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"{what}: calibration cancelled after {start} of {n} images")
        yield np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)
        if on_progress:
            on_progress(min(start + batch_size, n), n, what)


class OnnxCalibrationReader:
    """ONNX Runtime's CalibrationDataReader over a calibration set (duck-typed)."""

    def __init__(self, images: np.ndarray, input_name: str, what: str,
                 on_progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.images, self.input_name, self.what = images, input_name, what
        self.on_progress, self.cancel = on_progress, cancel
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._it = batches(self.images, self.what, self.on_progress, self.cancel)

    def __iter__(self):  # noqa: ANN204
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return -(-len(self.images) // CALIB_BATCH)
