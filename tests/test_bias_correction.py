"""Empirical bias correction: a hand-made case with a known error, and the real model's
corrected convs having a per-channel mean error of ~0 on the calibration images."""

from __future__ import annotations

import numpy as np
import pytest

from engine import bias_correction as B
from engine import calibration, frameworks
from engine import quantize as Q
from engine.variants import VariantOptions
from engine.workspace import Workspace

RESIDUAL_TOLERANCE = 1e-4
"""|per-channel mean(int8 - float)| of a corrected layer on the calibration images, in the
layer's output units, beyond the bias's own step. Bias is added after the (linear) conv, so a
corrected layer's own mean error is gone up to float rounding (torch: the bias is float) and,
in ORT, half a step of its int32 bias (scale = input scale x weight scale, per channel: up to
~4e-4 in the deep convs); uncorrected layers of this model are 1e-3..1e-1 off."""
BC = VariantOptions(quant={"bias_correction": True})


def test_channel_means_by_hand() -> None:
    x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]])  # (2, 1, 2): channel axis 1 -> one channel
    assert B.channel_means(x, 1).tolist() == [4.0]
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)  # channels 0..2
    assert B.channel_means(x, 1).tolist() == [3.5, 5.5, 7.5]  # (0+1+6+7)/4 ...


def test_hand_made_conv_with_known_weight_error() -> None:
    """One 1x1 conv, weight 0.3 stored int8 with scale 0.25 -> 0.25 (error -0.05), input
    2.0 everywhere: the int8 pre-activation is 0.1 below float; correcting adds 0.1."""
    torch = frameworks.torch()
    from torch.ao.nn.quantized import Conv2d as QConv

    conv = QConv(1, 1, 1)
    w = torch.quantize_per_tensor(torch.full((1, 1, 1, 1), 0.3), 0.25, 0, torch.qint8)
    conv.set_weight_bias(w, torch.tensor([1.0]))
    x = torch.quantize_per_tensor(torch.full((4, 1, 3, 3), 2.0), 0.5, 0, torch.quint8)
    pre = B.torch_preactivation(conv, x).numpy()
    float_pre = 0.3 * 2.0 + 1.0
    shift = B.channel_means(pre, 1) - float_pre
    assert shift == pytest.approx([-0.1], abs=1e-6)
    B.apply_torch_shift(conv, shift)
    assert conv.bias().item() == pytest.approx(1.1, abs=1e-6)
    assert B.channel_means(B.torch_preactivation(conv, x).numpy(), 1) == pytest.approx(
        [float_pre], abs=1e-6)


def _onnx_bias_step(qdq_path, node_name: str) -> np.ndarray:
    """The per-channel scale of the node's int32 bias."""
    onnx = frameworks.onnx()
    from onnx import numpy_helper

    m = onnx.load(str(qdq_path))
    node = next(n for n in m.graph.node if n.name == node_name)
    dq = next(n for n in m.graph.node if n.output[0] == node.input[2])
    init = next(i for i in m.graph.initializer if i.name == dq.input[1])
    return numpy_helper.to_array(init).astype(np.float64)


def _onnx_mean_error(ws: Workspace, qdq_path, node_name: str) -> np.ndarray:
    onnx = frameworks.onnx()
    calib = calibration.calibration_set(ws, "default")
    pre = onnx.load(str(Q._preprocessed(ws, 13)))
    qdq = onnx.load(str(qdq_path))
    out_f = next(n.output[0] for n in pre.graph.node if n.name == node_name)
    out_q = next(n.output[0] for n in qdq.graph.node if n.name == node_name)
    f = B._onnx_outputs(pre, [out_f], calib.images, "f", None, None)[out_f]
    q = B._onnx_outputs(qdq, [out_q], calib.images, "q", None, None)[out_q]
    return q - f


@pytest.mark.slow
@pytest.mark.parametrize("node", ["model/conv2d_3/BiasAdd", "model/conv2d_7/BiasAdd"])
def test_onnx_corrected_conv_has_zero_mean_error(ws: Workspace, node: str) -> None:
    before = _onnx_mean_error(ws, Q.onnx_quantized_path(ws, "onnx-int8"), node)
    fixed = Q.onnx_quantized_path(ws, "onnx-int8", BC)
    after = _onnx_mean_error(ws, fixed, node)
    step = _onnx_bias_step(fixed, node)
    assert np.abs(before).max() > 10 * RESIDUAL_TOLERANCE  # there was something to correct
    assert np.all(np.abs(after) <= 0.5 * step + RESIDUAL_TOLERANCE), np.abs(after) / step


@pytest.mark.slow
def test_torch_corrected_convs_have_zero_mean_error(ws: Workspace) -> None:
    calib = calibration.calibration_set(ws, "default")
    from engine import convert

    float_module = convert.onnx_to_torch(ws.onnx_path())
    plain = Q.torch_quantized_module(ws)
    fixed = Q.torch_quantized_module(ws, BC)
    names = B.torch_corrected_modules(fixed)
    assert len(names) == 9
    ref = B._hooked_means(float_module, names, calib.images, lambda m, x, out: out, "f",
                          None, None)

    def err(model) -> dict[str, np.ndarray]:
        got = B._hooked_means(model, names, calib.images,
                              lambda m, x, out: B.torch_preactivation(m, x), "q", None, None)
        return {n: got[n] - ref[n] for n in names}

    before, after = err(plain), err(fixed)
    assert max(np.abs(v).max() for v in before.values()) > 10 * RESIDUAL_TOLERANCE
    for n in names:
        assert np.abs(after[n]).max() < RESIDUAL_TOLERANCE, n


@pytest.mark.slow
def test_bias_correction_changes_the_key_and_is_cached(ws: Workspace) -> None:
    """Stands alone: builds the corrected model itself (from the cache when a test before
    it did), then checks the shifts are cached under their own key and served again."""
    a = Q.identity(ws, "torch-int8", VariantOptions())["key"]
    b = Q.identity(ws, "torch-int8", BC)["key"]
    assert a != b
    first = Q.torch_quantized_module(ws, BC)
    hit = ws.cache.load(Q.STAGE, b)
    assert hit is not None and len(hit[1]["modules"]) == 9  # shifts cached once computed
    again = Q.torch_quantized_module(ws, BC)  # rebuilt from the cached shifts
    names = B.torch_corrected_modules(first)
    for name in names:
        bias_1 = first.get_submodule(name).bias()
        bias_2 = again.get_submodule(name).bias()
        assert np.array_equal(bias_1.detach().numpy(), bias_2.detach().numpy()), name
