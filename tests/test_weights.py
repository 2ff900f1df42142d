"""engine.weights on the real model: Keras, ONNX (BN folded), PyTorch and int8 weights."""

from __future__ import annotations

import math

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
    assert [r.layer for r in kernels].count("dense") == 1  # torch-int8: a functional matmul
    assert len(kernels) == 10
    for r in kernels:
        q = r.quant
        assert q["scale_min"] > 0
        assert q["sqnr_db"] > INT8_WEIGHT_MIN_DB, r.layer
        assert 0 < q["max_abs_err"] <= q["scale_max"]  # round to nearest: at most one step
        if variant == "torch-int8" and r.layer == "dense":
            # FX quantizes the MatMul constant like an activation: per tensor, quint8
            assert not q["per_channel"] and q["dtype"] == "uint8"
            continue
        assert q["per_channel"]
        # what is clipped: values rounding beyond the integer range; with a max-abs scale
        # none (ORT), or a channel's largest weight by half a step (PyTorch's symmetric
        # qint8 uses max|w| / 127.5, so it rounds to 128 and clamps to 127)
        assert 0 <= q["clipped"] <= r.shape[0], r.layer
        assert q["clip_fraction"] == q["clipped"] / math.prod(r.shape)
        if variant == "onnx-int8":
            assert q["clipped"] == 0 and q["at_limit"] >= r.shape[-1 if r.layer == "dense" else 0]


def test_bad_layer_and_variant(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="unknown layer 'convX'; use one of input_1"):
        W.weight_reports(ws, "keras", "convX")
    with pytest.raises(UsageError, match="use one of keras, onnx, torch"):
        W.weight_reports(ws, "tflite")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["onnx-int8", "torch-int8"])
def test_layers_kept_float_show_their_float_weights(ws: Workspace, recipe: str) -> None:
    """A repaired variant (`@float=`) shows every parameter the plain one does; those of the
    layers it keeps float are the float model's, with no int8 detail."""
    from engine import named_settings
    from engine import variants as V

    opts = V.VariantOptions(quant={"calib": "train:200"})
    name = f"{recipe}@float=conv2d_1+dense"
    named_settings.register(ws, name, opts)
    try:
        repaired = {(r.layer, r.param): r for r in W.weight_reports(ws, name, opts=opts)}
    finally:
        V.unregister(name)
    plain = {(r.layer, r.param): r for r in W.weight_reports(ws, recipe, opts=opts)}
    floats = {(r.layer, r.param): r for r in W.weight_reports(ws, "onnx", opts=opts)}
    assert set(repaired) == set(plain)
    kept = {k for k in repaired if k[0] in ("conv2d_1", "dense")}
    assert kept == {("conv2d_1", "kernel"), ("conv2d_1", "bias"), ("dense", "kernel"),
                    ("dense", "bias")}
    for k in kept:
        assert repaired[k].quant is None
        assert repaired[k].stats == floats[k].stats and repaired[k].shape == floats[k].shape
    assert repaired["conv2d_2", "kernel"].quant is not None  # still int8
    assert plain["conv2d_1", "kernel"].quant is not None
