"""Output comparison (hand-worked cases) and the full verification on the real model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import UsageError
from engine.verify import OUTPUT_TOLERANCE, compare_outputs, verify


def test_known_diff():
    a = np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
    b = np.array([[0.1, 0.9], [0.6, 0.4]], np.float32)
    d = compare_outputs("x", a, "y", b, "real", tolerance=0.1)
    assert d.max_abs_diff == pytest.approx(0.2, abs=1e-6)
    assert d.mean_abs_diff == pytest.approx(0.1, abs=1e-6)
    assert d.argmax_agreement == 1.0
    assert not d.passed  # 0.2 > 0.1


def test_argmax_flip_fails_even_within_tolerance():
    a = np.array([[0.50, 0.50 - 1e-6]])
    b = np.array([[0.50 - 1e-6, 0.50]])
    d = compare_outputs("x", a, "y", b, "random", tolerance=1.0)
    assert d.argmax_agreement == 0.0 and not d.passed


def test_nan_always_fails():
    a = np.array([[0.1, 0.9]])
    d = compare_outputs("x", a, "y", np.array([[np.nan, 0.9]]), "real", tolerance=1.0)
    assert not d.passed and math.isnan(d.max_abs_diff)


def test_empty_and_mismatched():
    assert not compare_outputs("x", np.zeros((0, 10)), "y", np.zeros((0, 10)), "real").passed
    with pytest.raises(UsageError):
        compare_outputs("x", np.zeros((2, 10)), "y", np.zeros((3, 10)), "real")


def test_verify_real_model(ws):
    rep = verify(ws, n_real=300, n_random=50)
    assert rep.checker_ok and rep.shape_inference_ok
    assert len(rep.keras_layers) == 30
    assert sum(r.params for r in rep.keras_layers) == 78_666
    assert len(rep.pairs) == 6
    assert {(p.a, p.b) for p in rep.pairs} == {("keras", "onnx"), ("keras", "torch"),
                                               ("onnx", "torch")}
    for p in rep.pairs:
        assert p.max_abs_diff < OUTPUT_TOLERANCE and p.argmax_agreement == 1.0, p
    assert rep.passed
    # second call is served from the cache and equal
    assert verify(ws, n_real=300, n_random=50) == rep
