"""engine.weights on the real model: Keras, ONNX (BN folded), PyTorch and int8 weights."""

from __future__ import annotations

import numpy as np
import pytest

from engine import weights as W
from engine.errors import UsageError
from engine.workspace import Workspace

INT8_WEIGHT_MIN_DB = 30.0
"""Per-channel int8 weights of this model keep well above this SQNR."""


def test_keras_weights_match_numpy(ws: Workspace) -> None:
    reps = W.weight_reports(ws, "keras")
    arrays = {(ly, p): a for ly, p, a, _ in W.weight_arrays(ws, "keras")}
    assert len(reps) == len(arrays)
    for r in reps:
        a = arrays[(r.layer, r.param)].astype(np.float64)
        assert r.shape == a.shape and r.stats.count == a.size
        assert r.stats.mean == pytest.approx(a.mean(), rel=1e-9, abs=1e-12)
        assert r.stats.std == pytest.approx(a.std(), rel=1e-9)
        assert r.histogram.counts.sum() == a.size
    bn = {r.param for r in W.weight_reports(ws, "keras", "batch_normalization")}
    assert bn == {"gamma", "beta", "moving_mean", "moving_variance"}
    assert W.weight_reports(ws, "keras", "conv2d")[0].shape == (3, 3, 3, 16)


def test_onnx_folds_batchnorm_and_torch_matches_onnx(ws: Workspace) -> None:
    assert W.weight_reports(ws, "onnx", "batch_normalization") == ()
    onnx_k = W.weight_reports(ws, "onnx", "conv2d_3")[0]
    torch_k = W.weight_reports(ws, "torch", "conv2d_3")[0]
    assert onnx_k.shape == torch_k.shape == (32, 16, 3, 3)
    assert onnx_k.stats == torch_k.stats
    assert {r.param for r in W.weight_reports(ws, "onnx", "dense")} == {"kernel", "bias"}


@pytest.mark.parametrize("variant", ["onnx-int8", "torch-int8"])
def test_int8_weights_carry_their_error(ws: Workspace, variant: str) -> None:
    kernels = [r for r in W.weight_reports(ws, variant) if r.param == "kernel" and r.quant]
    assert len(kernels) >= 9
    for r in kernels:
        q = r.quant
        assert q["per_channel"] and q["scale_min"] > 0
        assert q["sqnr_db"] > INT8_WEIGHT_MIN_DB, r.layer
        assert 0 < q["max_abs_err"] <= q["scale_max"]  # round to nearest: at most one step
        assert 0 < q["clip_fraction"] < 1  # each channel's largest |w| sits at the limit


def test_bad_layer_and_variant(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="unknown layer 'convX'; use one of input_1"):
        W.weight_reports(ws, "keras", "convX")
    with pytest.raises(UsageError, match="use one of keras, onnx, torch"):
        W.weight_reports(ws, "tflite")
