"""Named subsets of the test set, as the CLI and the TUI spell them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import data
from engine.errors import DataError, UsageError
from engine.types import Dataset
from engine.workspace import Workspace

SUBSET_HELP = (
    "all | mlperf-perf | mlperf-calib | class:NAME | first:N | stratified:N[:SEED] | indices:FILE.npy"
)


def load_index_array(path: Path, limit: int | None = None) -> np.ndarray:
    """A .npy of official indices (no pickle); with ``limit``, each must be in 0..limit-1."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read index file {path} ({exc}); pass a .npy of integers") from None
    if not isinstance(arr, np.ndarray):
        if hasattr(arr, "close"):
            arr.close()
        raise DataError(f"{path} is an .npz archive, not a .npy array; save the indices with "
                        "numpy.save(FILE.npy, indices)")
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{path} holds {arr.dtype} {arr.shape}, expected a 1-D integer array")
    arr = arr.astype(np.int64)
    if limit is not None and arr.size and (arr.min() < 0 or arr.max() >= limit):
        bad = int(arr[(arr < 0) | (arr >= limit)][0])
        raise DataError(f"{path} holds test index {bad}, out of range; official test indices "
                        f"are 0-{limit - 1}")
    return arr


def select_subset(ws: Workspace, spec: str, base: Dataset | None = None) -> Dataset:
    """The subset of the test set named by ``spec`` (see SUBSET_HELP)."""
    ds = base if base is not None else ws.test_set
    kind, _, arg = spec.strip().partition(":")
    if kind == "all" and not arg:
        return ds
    if kind == "mlperf-perf" and not arg:
        path = ws.index_file("perf_samples_idxs.npy")
        return data.by_official_indices(ds, load_index_array(path, data.OFFICIAL_TEST_SIZE),
                                        "mlperf-perf")
    if kind == "mlperf-calib" and not arg:
        path = ws.index_file("calibration_samples_idxs.npy")
        return data.by_official_indices(ds, load_index_array(path, data.OFFICIAL_TEST_SIZE),
                                        "mlperf-calib")
    if kind == "class" and arg:
        return data.by_class(ds, arg)
    if kind == "first" and arg:
        return data.first(ds, _int(arg, spec))
    if kind == "stratified" and arg:
        n, _, seed = arg.partition(":")
        return data.stratified(ds, _int(n, spec), _int(seed, spec) if seed else 0)
    if kind == "indices" and arg:
        return data.by_official_indices(
            ds, load_index_array(Path(arg), data.OFFICIAL_TEST_SIZE), Path(arg).stem)
    raise UsageError(f"unknown subset {spec!r}; use {SUBSET_HELP}")


def _int(text: str, spec: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{text!r} in subset {spec!r} is not a whole number") from None
