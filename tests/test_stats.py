"""engine.stats on hand-worked cases and against independent numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import UsageError
from engine.stats import (
    HIST_BINS,
    compare_tensors,
    diff_sums,
    histogram,
    moments,
    tensor_stats,
)

REL = 1e-9
"""Relative tolerance of float64 statistics against numpy's."""


def test_tensor_stats_hand_worked() -> None:
    s = tensor_stats(np.array([0.0, 1.0, 2.0, 3.0, 0.0]))
    assert (s.count, s.min, s.max, s.mean) == (5, 0.0, 3.0, 1.2)
    assert s.zeros_fraction == pytest.approx(0.4)
    assert s.mean_abs == pytest.approx(1.2)
    assert s.std == pytest.approx(math.sqrt(((0 - 1.2) ** 2 * 2 + 0.04 + 0.64 + 3.24) / 5))
    assert s.p50 == 1.0


def test_tensor_stats_nan_and_inf_are_left_out_and_counted() -> None:
    s = tensor_stats(np.array([1.0, np.nan, 3.0, np.inf]))
    assert (s.count, s.nonfinite, s.min, s.max, s.mean) == (2, 2, 1.0, 3.0, 2.0)


def test_tensor_stats_empty() -> None:
    s = tensor_stats(np.array([], np.float32))
    assert s.count == 0 and math.isnan(s.mean) and math.isnan(s.zeros_fraction)


def test_tensor_stats_refuses_non_numbers() -> None:
    with pytest.raises(UsageError):
        tensor_stats(np.array(["a"]))


def test_compare_known_diff() -> None:
    ref = np.array([3.0, 4.0])  # ||ref|| = 5
    other = np.array([3.0, 4.5])  # ||diff|| = 0.5
    d = compare_tensors(ref, other)
    assert d.sqnr_db == pytest.approx(20.0)  # 20 log10(5 / 0.5)
    assert d.mse == pytest.approx(0.125)
    assert d.max_abs_diff == pytest.approx(0.5)
    assert d.cosine == pytest.approx((9 + 18) / (5 * math.hypot(3, 4.5)))


def test_compare_identical_zero_and_nan() -> None:
    x = np.arange(6.0)
    assert compare_tensors(x, x).sqnr_db == math.inf
    z = np.zeros(4)
    assert compare_tensors(z, z).sqnr_db == math.inf and compare_tensors(z, z).cosine == 1.0
    assert compare_tensors(z, np.ones(4)).sqnr_db == -math.inf
    assert compare_tensors(np.ones(4), z).cosine == 0.0
    bad = compare_tensors(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert all(math.isnan(v) for v in (bad.sqnr_db, bad.cosine, bad.mse, bad.max_abs_diff))
    empty = compare_tensors(np.array([]), np.array([]))
    assert math.isnan(empty.sqnr_db)
    with pytest.raises(UsageError):
        compare_tensors(np.zeros(3), np.zeros(4))


def test_running_sums_equal_one_shot() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))
    parts = diff_sums(a[:2], b[:2]) + diff_sums(a[2:], b[2:])
    one = compare_tensors(a, b)
    assert parts.finish().sqnr_db == pytest.approx(one.sqnr_db, rel=REL)
    assert parts.finish().cosine == pytest.approx(one.cosine, rel=REL)
    m = (moments(a[:1]) + moments(a[1:])).summary()
    assert m["std"] == pytest.approx(a.std(), rel=1e-7) and m["min"] == a.min()


def test_histogram_fixed_bins() -> None:
    h = histogram(np.array([0.0, 0.5, 1.0, 1.0]), bins=2)
    assert h.counts.tolist() == [1, 3] and h.edges.tolist() == [0.0, 0.5, 1.0]
    assert histogram(np.arange(10.0)).counts.shape == (HIST_BINS,)
    const = histogram(np.full(5, 2.0), bins=4)
    assert const.counts.sum() == 5 and const.edges[0] == 1.5
    assert histogram(np.array([])).counts.sum() == 0
    assert histogram(np.array([-5.0, 0.2, 9.0]), bins=2, range=(0.0, 1.0)).counts.sum() == 1
