"""engine.logits on the real model: logits agree with each variant's own probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from engine import inputs
from engine.errors import UsageError
from engine.logits import variant_logits
from engine.workspace import Workspace

SOFTMAX_TOL = 1e-5
"""float32 softmax of the float logits against the model's own output."""


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_float_logits_are_the_log_of_the_probabilities(ws: Workspace) -> None:
    spec = inputs.parse_input(ws, "batch:test:0-63")
    got = variant_logits(ws, "onnx", spec)
    assert got.logits.shape == (len(spec), 10) and np.isfinite(got.logits).all()
    assert np.abs(_softmax(got.logits.astype(np.float64)) - got.probs).max() < SOFTMAX_TOL
    again = variant_logits(ws, "onnx", spec)  # from the cache, the same arrays
    np.testing.assert_array_equal(again.logits, got.logits)


@pytest.mark.parametrize("variant", ["onnx-int8", "torch-int8"])
def test_int8_logits_rank_classes_as_the_probabilities_do(ws: Workspace, variant: str) -> None:
    spec = inputs.parse_input(ws, "batch:test:0-127")
    got = variant_logits(ws, variant, spec)
    top2 = np.sort(got.probs, axis=1)[:, -2:]
    untied = top2[:, 0] < top2[:, 1]
    assert untied.any()
    # softmax and its quantization keep order: a strict top-1 probability is the top logit
    np.testing.assert_array_equal(got.logits[untied].argmax(1), got.probs[untied].argmax(1))
    np.testing.assert_array_equal(got.tied, ~untied)
    np.testing.assert_array_equal(got.tie_broken[untied], got.argmax[untied])


def test_keras_has_no_logits_and_says_which_variant_does(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="use onnx or torch"):
        variant_logits(ws, "keras", inputs.parse_input(ws, "test:0"))
