"""CIFAR-10 loading, the restricted unpickler and subsets, on the real ../shared copy."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import data
from engine.errors import DataError, UsageError
from engine.subsets import select_subset
from engine.types import CLASS_NAMES


def test_test_set_layout(test_set):
    assert test_set.images.shape == (len(test_set), 32, 32, 3)
    assert test_set.images.dtype == np.uint8
    assert test_set.labels.dtype == np.int64 and test_set.labels.max() <= 9
    # the shared copy has 9,979 rows with their official indices, ascending and unique
    assert 9_900 < len(test_set) <= 10_000
    assert np.all(np.diff(test_set.indices) > 0)
    if len(test_set) < 10_000:
        assert any("missing" in n for n in test_set.notes)


def test_labels_match_official_label_list(test_set):
    official = Path(test_set.source).parent / "cifar10-test-labels.txt"
    labels = np.array(official.read_text().split(), dtype=np.int64)
    assert labels.shape == (10_000,)
    np.testing.assert_array_equal(labels[test_set.indices], test_set.labels)


def test_pixels_are_hwc_rgb(test_set):
    # official test image 0 is a cat; its raw CHW row re-read by hand must equal our HWC image
    raw = pickle.load(open(Path(test_set.source) / "test_batch", "rb"), encoding="bytes")
    row = raw[b"data"][0]
    np.testing.assert_array_equal(row[:1024].reshape(32, 32), test_set.images[0, :, :, 0])
    np.testing.assert_array_equal(row[2048:].reshape(32, 32), test_set.images[0, :, :, 2])
    assert CLASS_NAMES[test_set.labels[0]] == "cat"


def test_train_pool(ws):
    train = ws.train_set
    assert len(train) > 49_000
    assert set(np.unique(train.labels)) == set(range(10))


def test_stratified_is_balanced_and_seeded(ws):
    a = data.stratified(ws.train_set, 1000, seed=0)
    b = data.stratified(ws.train_set, 1000, seed=0)
    c = data.stratified(ws.train_set, 1000, seed=1)
    assert len(a) == 1000
    assert np.bincount(a.labels, minlength=10).tolist() == [100] * 10
    assert a.identity == b.identity != c.identity


def test_mlperf_perf_subset_uses_official_indices(ws, test_set):
    sub = select_subset(ws, "mlperf-perf")
    wanted = np.load(ws.index_file("perf_samples_idxs.npy"))
    assert len(sub) == len(wanted) == 200  # all 200 are in the shared copy
    np.testing.assert_array_equal(sub.indices, wanted)
    # labels follow the rows, not the positions
    pos = {int(v): i for i, v in enumerate(test_set.indices)}
    assert all(sub.labels[k] == test_set.labels[pos[int(w)]] for k, w in enumerate(wanted))


def test_mlperf_calib_skips_absent_index_with_note(ws):
    sub = select_subset(ws, "mlperf-calib")
    assert len(sub) == 499
    assert any("7832" in n for n in sub.notes)


@pytest.mark.parametrize("spec,n", [("class:cat", 1000), ("first:5", 5), ("stratified:50:3", 50)])
def test_subset_specs(ws, spec, n):
    assert len(select_subset(ws, spec)) == n


@pytest.mark.parametrize("spec", ["first:0", "class:unicorn", "bogus", "first:x", "stratified:0"])
def test_bad_subset_specs(ws, spec):
    with pytest.raises(UsageError):
        select_subset(ws, spec)


# --- bad data folders -------------------------------------------------------------------------


def _copy_meta(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "batches.meta", dst / "batches.meta")


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.load_cifar10(tmp_path / "nope")


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="test_batch is missing"):
        data.load_cifar10(tmp_path)


def test_tampered_pickle_is_refused(tmp_path, test_set):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f, protocol=4)
    with pytest.raises(DataError, match="forbidden global builtins.print"):
        data.load_cifar10(tmp_path)


def test_truncated_pickle(tmp_path, test_set):
    raw = (Path(test_set.source) / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt or truncated"):
        data.load_cifar10(tmp_path)


def test_wrong_shape(tmp_path):
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, f, 2)
    with pytest.raises(DataError, match=r"expected \(N, 3072\) uint8"):
        data.load_cifar10(tmp_path)


def test_bad_labels(tmp_path):
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f, 2)
    with pytest.raises(DataError, match="labels outside 0-9"):
        data.load_cifar10(tmp_path)
