"""CIFAR-10 in the official cifar-10-batches-py format, and subsets of it.

Pickle can run code on load, so the files are read with a restricted unpickler that only
admits numpy's array reconstruction and plain containers.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError, UsageError
from engine.types import CLASS_NAMES, Dataset

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
OFFICIAL_TEST_SIZE = 10_000

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3; harmless
}


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            mod = "numpy._core.multiarray" if name == "_reconstruct" else module
            return getattr(__import__(mod, fromlist=[name]), name)
        raise _ForbiddenGlobal(f"forbidden global {module}.{name}")


def _unpickle(path: Path) -> dict[bytes, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror}); check the file's permissions") from None
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _ForbiddenGlobal as exc:
        raise DataError(
            f"{path} is not a plain CIFAR-10 pickle ({exc}); replace it with the official "
            "cifar-10-batches-py file"
        ) from None
    except Exception as exc:  # truncated or garbage bytes raise many kinds
        raise DataError(
            f"{path} is corrupt or truncated ({type(exc).__name__}); re-download "
            "cifar-10-python.tar.gz or point --data-dir at a good copy"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} does not hold a CIFAR-10 batch dict; use the official file")
    return obj


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise DataError(
            f"{path.name} is missing from {path.parent}; point --data-dir at a complete "
            "cifar-10-batches-py folder"
        )
    d = _unpickle(path)
    data, labels = d.get(b"data"), d.get(b"labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path} has no b'data' array or b'labels' list; use the official file")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{path} holds data of shape {data.shape} and dtype {data.dtype}, expected (N, 3072) "
            "uint8; use the official file"
        )
    raw_labels = np.asarray(labels)
    if raw_labels.size and not np.issubdtype(raw_labels.dtype, np.integer):
        raise DataError(f"{path} stores its labels as {raw_labels.dtype}, not integers 0-9 "
                        "(they would be truncated); use the official file")
    lab = raw_labels.astype(np.int64)
    if lab.shape != (data.shape[0],):
        raise DataError(f"{path} has {lab.shape[0]} labels for {data.shape[0]} images")
    if lab.size and (lab.min() < 0 or lab.max() > 9):
        raise DataError(f"{path} has labels outside 0-9; use the official file")
    idx = d.get(b"indices")
    indices = None if idx is None else np.asarray(idx)
    if indices is not None:
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            raise DataError(f"{path} stores its indices as {indices.dtype}, not integers; "
                            "use the official file")
        indices = indices.astype(np.int64)
        if indices.shape != lab.shape:
            raise DataError(f"{path} has {indices.shape[0]} indices for {lab.shape[0]} images")
        if path.name == TEST_FILE and indices.size and (
                indices.min() < 0 or indices.max() >= OFFICIAL_TEST_SIZE):
            bad = int(indices[(indices < 0) | (indices >= OFFICIAL_TEST_SIZE)][0])
            raise DataError(f"{path} holds official test index {bad}, outside 0-"
                            f"{OFFICIAL_TEST_SIZE - 1}; use the official file or fix its "
                            "b'indices'")
        if np.unique(indices).size != indices.size:
            raise DataError(f"{path} repeats an official index in b'indices'; each image "
                            "needs its own; use the official file")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), lab, indices


def identity_of(images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> str:
    """Content hash of a data set (pixels, labels and official indices)."""
    h = hashlib.sha256()
    for arr in (images, labels, indices):
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def make_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    source: str = "",
    notes: tuple[str, ...] = (),
) -> Dataset:
    """Build a Dataset with its identity hash."""
    return Dataset(name, images, labels, indices, identity_of(images, labels, indices), source,
                   notes)


def load_cifar10(data_dir: Path, split: str = "test") -> Dataset:
    """The test split (``test``) or the training pool (``train``) as NHWC uint8."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder {data_dir} does not exist; pass --data-dir or set R8_DATA_DIR")
    if split == "test":
        images, labels, indices = _read_batch(data_dir / TEST_FILE)
        notes: tuple[str, ...] = ()
        if indices is None:
            indices = np.arange(len(labels), dtype=np.int64)
        if len(labels) != OFFICIAL_TEST_SIZE:
            notes = (
                f"{len(labels)} of the {OFFICIAL_TEST_SIZE} official test images are present "
                f"({OFFICIAL_TEST_SIZE - len(labels)} missing)",
            )
    elif split == "train":
        parts = [_read_batch(data_dir / f) for f in TRAIN_FILES]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        indices = np.arange(len(labels), dtype=np.int64)
        notes = () if len(labels) == 50_000 else (f"{len(labels)} of 50000 training images",)
    else:
        raise UsageError(f"unknown split {split!r}; use 'test' or 'train'")
    if len(labels) == 0:
        raise DataError(f"{data_dir} holds no {split} images; use a complete cifar-10-batches-py")
    return make_dataset(split, images, labels, indices, str(data_dir), notes)


def subset(ds: Dataset, rows: np.ndarray, name: str, notes: tuple[str, ...] = ()) -> Dataset:
    """The rows ``rows`` of ``ds`` as a new Dataset."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise UsageError(f"subset {name} is empty; choose a subset that selects some images")
    return make_dataset(name, ds.images[rows], ds.labels[rows], ds.indices[rows], ds.source,
                        ds.notes + notes)


def by_official_indices(ds: Dataset, wanted: np.ndarray, label: str) -> Dataset:
    """Rows whose official index is in ``wanted`` (in ``wanted`` order); absent ones noted."""
    wanted = np.asarray(wanted, dtype=np.int64).ravel()
    pos = {int(v): i for i, v in enumerate(ds.indices)}
    rows = [pos[int(w)] for w in wanted if int(w) in pos]
    missing = [int(w) for w in wanted if int(w) not in pos]
    notes: tuple[str, ...] = ()
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        notes = (f"{label}: {len(missing)} of {len(wanted)} indices absent from this copy "
                 f"({shown}); skipped",)
    return subset(ds, np.asarray(rows), f"{ds.name}[{label}]", notes)


def class_id(name: str) -> int:
    """The class id of a CIFAR-10 class name (or a digit 0-9)."""
    key = name.strip().lower()
    if key.isdigit() and 0 <= int(key) <= 9:
        return int(key)
    if key not in CLASS_NAMES:
        raise UsageError(f"unknown class {name!r}; use one of {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(key)


def by_class(ds: Dataset, name: str) -> Dataset:
    """All images of one class."""
    cid = class_id(name)
    return subset(ds, np.flatnonzero(ds.labels == cid), f"{ds.name}[class:{CLASS_NAMES[cid]}]")


def first(ds: Dataset, n: int) -> Dataset:
    """The first n rows."""
    if n <= 0:
        raise UsageError(f"first:{n} selects nothing; use first:N with N >= 1")
    return subset(ds, np.arange(min(n, len(ds))), f"{ds.name}[first:{n}]")


def stratified(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """n images, as equal per class as possible, drawn with a fixed seed."""
    if n <= 0 or n > len(ds):
        raise UsageError(f"stratified sample of {n} from {len(ds)} images; use 1..{len(ds)}")
    check_seed(seed)
    rng = np.random.default_rng(seed)
    classes = np.unique(ds.labels)
    base, extra = divmod(n, len(classes))
    rows: list[np.ndarray] = []
    for k, c in enumerate(classes):
        members = np.flatnonzero(ds.labels == c)
        take = min(base + (1 if k < extra else 0), len(members))
        rows.append(rng.choice(members, size=take, replace=False))
    picked = np.sort(np.concatenate(rows))
    return subset(ds, picked, f"{ds.name}[stratified:{n}:{seed}]")


def random_inputs(n: int, seed: int) -> np.ndarray:
    """Seeded uniform 0-255 float32 NHWC inputs."""
    check_seed(seed)
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=(n, 32, 32, 3)).astype(np.float32)


def check_seed(seed: int) -> None:
    """UsageError unless ``seed`` is a whole number numpy accepts (0 or more)."""
    if not 0 <= seed < 2**63:
        raise UsageError(f"seed {seed} is out of range; use a whole number from 0 to {2**63 - 1}")
