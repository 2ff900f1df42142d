"""Inputs for activation captures and comparisons: test images by official index, by class,
ranges, index files, or seeded random pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import data
from engine.errors import UsageError
from engine.subsets import load_index_array
from engine.types import CLASS_NAMES
from engine.workspace import Workspace

INPUT_HELP = (
    "test:INDEX | class:NAME:N | random:SEED | batch:test:A-B | indices:FILE.npy | flipped:VARIANT"
)
OFFICIAL_TEST_RANGE = (0, data.OFFICIAL_TEST_SIZE - 1)


@dataclass(frozen=True)
class InputSpec:
    """The images an activation capture runs on."""

    text: str
    """The spec as given, e.g. ``test:123``."""
    images: np.ndarray
    """(N, 32, 32, 3) NHWC raw 0-255 pixels (uint8, float32 for random inputs)."""
    labels: np.ndarray
    """int64 (N,), class ids; -1 for random inputs."""
    indices: np.ndarray
    """int64 (N,), official test indices; -1 for random inputs."""
    notes: tuple[str, ...] = ()
    """E.g. indices of a range that are absent from this copy of the data."""

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def identity(self) -> str:
        """Content hash of the pixels, labels and indices (keys cached results)."""
        return data.identity_of(self.images, self.labels, self.indices) + str(self.images.dtype)


def check_images(spec: InputSpec) -> None:
    """Refuse an input that selects no image (captures, comparisons need at least one)."""
    if len(spec) == 0:
        raise UsageError(f"input {spec.text!r} selects no image; use {INPUT_HELP}")


def parse_input(ws: Workspace, text: str) -> InputSpec:
    """Resolve an input spec (see INPUT_HELP) against the test set; UsageError when bad."""
    spec = text.strip()
    kind, _, arg = spec.partition(":")
    if kind == "random" and arg:
        seed = _int(arg, spec, "seed")
        minus = np.full(1, -1, np.int64)
        return InputSpec(spec, data.random_inputs(1, seed), minus, minus.copy())
    if kind == "test" and arg:
        index = _int(arg, spec, "index")
        _check_official(index, spec)
        rows = _rows_of(ws, [index], spec)
        return _from_rows(ws, spec, rows)
    if kind == "class" and arg:
        name, _, nth = arg.rpartition(":")
        if not name:
            raise UsageError(f"malformed input {spec!r}; use class:NAME:N, e.g. class:cat:3 "
                             f"(classes: {', '.join(CLASS_NAMES)})")
        cid = data.class_id(name)
        n = _int(nth, spec, "N")
        members = np.flatnonzero(ws.test_set.labels == cid)
        if not 0 <= n < len(members):
            raise UsageError(f"{spec!r}: this copy has {len(members)} {CLASS_NAMES[cid]} images; "
                             f"use N from 0 to {len(members) - 1}")
        return _from_rows(ws, spec, np.asarray([members[n]]))
    if kind == "batch" and arg:
        split, _, rng = arg.partition(":")
        lo_text, dash, hi_text = rng.partition("-")
        if split != "test" or not dash:
            raise UsageError(f"malformed input {spec!r}; use batch:test:A-B, e.g. batch:test:0-31")
        lo, hi = _int(lo_text, spec, "A"), _int(hi_text, spec, "B")
        _check_official(lo, spec)
        _check_official(hi, spec)
        if hi < lo:
            raise UsageError(f"{spec!r}: range end {hi} is before its start {lo}; use A <= B")
        pos = {int(v): i for i, v in enumerate(ws.test_set.indices)}
        wanted = range(lo, hi + 1)
        present = [pos[i] for i in wanted if i in pos]
        absent = [i for i in wanted if i not in pos]
        if not present:
            raise UsageError(f"{spec!r}: none of test images {lo}-{hi} are in this copy of the "
                             "data; choose another range")
        notes = (f"{len(absent)} of {len(wanted)} indices absent from this copy "
                 f"({', '.join(map(str, absent[:10]))}); skipped",) if absent else ()
        return _from_rows(ws, spec, np.asarray(present), notes)
    if kind == "indices" and arg:
        wanted_arr = load_index_array(Path(arg))
        lo, hi = OFFICIAL_TEST_RANGE
        bad = wanted_arr[(wanted_arr < lo) | (wanted_arr > hi)]
        if bad.size:
            raise UsageError(f"{arg} holds test index {int(bad[0])}, out of range; use "
                             f"{lo}-{hi}")
        ds = data.by_official_indices(ws.test_set, wanted_arr, Path(arg).stem)
        return InputSpec(spec, ds.images, ds.labels, ds.indices, ds.notes[len(ws.test_set.notes):])
    if kind == "flipped" and arg:
        return _flipped(ws, spec, arg)
    raise UsageError(f"malformed input {spec!r}; use {INPUT_HELP}")


def _flipped(ws: Workspace, spec: str, variant: str) -> InputSpec:
    """Test images that the float baseline gets right and ``variant`` wrong, or the reverse
    (both variants with default settings; predictions come from the cache when present)."""
    from engine import evaluate
    from engine import variants as V

    V.parse_variants(variant)
    test = ws.test_set
    base_ok = evaluate.predictions(ws, V.BASELINE, test).probs.argmax(1) == test.labels
    var_ok = evaluate.predictions(ws, variant, test).probs.argmax(1) == test.labels
    rows = np.flatnonzero(base_ok != var_ok)
    if rows.size == 0:
        raise UsageError(f"{spec!r}: {variant} and {V.BASELINE} are right and wrong on the same "
                         "images; nothing flipped, choose another input")
    lost = int((base_ok & ~var_ok).sum())
    note = (f"{rows.size} flipped images: {lost} {V.BASELINE}-right/{variant}-wrong, "
            f"{rows.size - lost} the reverse",)
    return _from_rows(ws, spec, rows, note)


def _int(text: str, spec: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} in input {spec!r} is not a whole number; "
                         f"use {INPUT_HELP}") from None


def _check_official(index: int, spec: str) -> None:
    lo, hi = OFFICIAL_TEST_RANGE
    if not lo <= index <= hi:
        raise UsageError(f"test index {index} in {spec!r} is out of range; use {lo}-{hi}")


def _rows_of(ws: Workspace, wanted: list[int], spec: str) -> np.ndarray:
    pos = {int(v): i for i, v in enumerate(ws.test_set.indices)}
    absent = [w for w in wanted if w not in pos]
    if absent:
        n_missing = data.OFFICIAL_TEST_SIZE - len(ws.test_set)
        raise UsageError(f"test image {absent[0]} ({spec!r}) is not in this copy of the data "
                         f"({n_missing} of {data.OFFICIAL_TEST_SIZE} are missing); choose "
                         "another index")
    return np.asarray([pos[w] for w in wanted])


def _from_rows(ws: Workspace, spec: str, rows: np.ndarray,
               notes: tuple[str, ...] = ()) -> InputSpec:
    ds = ws.test_set
    return InputSpec(spec, ds.images[rows], ds.labels[rows], ds.indices[rows], notes)
