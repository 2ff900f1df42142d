"""Quantization parameters of every activation (engine.qparams, `r8 activations --quant`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import inputs as I
from engine import qparams as Q
from engine.errors import UsageError
from tests.test_cli import assert_one_line_error, r8

SPEC = "batch:test:0-49"


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["onnx-int8", "torch-int8"])
def test_activation_quant_parameters(ws, variant):
    spec = I.parse_input(ws, SPEC)
    rep = Q.activation_qparams(ws, variant, spec)
    rows = {r.name: r for r in rep.layers}
    assert {"input_1", "activation", "activation_6", "average_pooling2d", "dense"} <= set(rows)
    for r in rep.layers:
        assert r.scale > 0 and r.qmin <= r.zero_point <= r.qmax, r
        assert r.range_min == pytest.approx((r.qmin - r.zero_point) * r.scale)
        assert r.range_max == pytest.approx((r.qmax - r.zero_point) * r.scale)
        assert 1 < r.levels_used <= r.levels == r.qmax - r.qmin + 1, r
        assert 0 <= r.clipped <= r.count and r.count > 0
        # a float value inside the range is never counted as clipped
        if r.float_min >= r.range_min and r.float_max <= r.range_max:
            assert r.clipped == 0, r.name
    # the pooling reuses its input's scale, so its small averages use few levels
    pool = rows["average_pooling2d"]
    assert pool.reuses_input_scale and pool.input == "activation_6"
    assert pool.levels_used < rows["activation_6"].levels_used / 3
    assert not rows["activation"].reuses_input_scale
    # the raw 0..255 pixels: exact with scale 1 (ORT), 7 bits with scale ~2 where PyTorch's
    # input observer has reduce_range (the suite's pinned CPU has no VNNI: on), all 256 levels
    # with scale ~1 without it
    from engine.quantize import settings
    if variant == "onnx-int8":
        assert rows["input_1"].scale == 1.0 and rows["input_1"].levels_used == 256
    elif settings(variant).reduce_range:
        assert rows["input_1"].scale > 1.9 and rows["input_1"].levels_used <= 128
    else:
        assert 0.99 < rows["input_1"].scale < 1.01 and rows["input_1"].levels_used == 256


def test_clipped_count_is_exact_on_a_known_tensor(ws):
    """The count comes from the float model's values: recount one layer by hand."""
    from engine.activations import capture_activations

    spec = I.parse_input(ws, "batch:test:0-9")
    rep = Q.activation_qparams(ws, "onnx-int8", spec)
    f = capture_activations(ws, "onnx", spec).tensors
    for r in rep.layers:
        if r.name not in f:
            continue
        lv = np.rint(f[r.name].astype(np.float64) / r.scale) + r.zero_point
        assert r.clipped == int(np.count_nonzero((lv < r.qmin) | (lv > r.qmax))), r.name
        assert r.float_max == pytest.approx(float(f[r.name].max()))


def test_bad_quant_input(ws, cache_dir):
    with pytest.raises(UsageError, match="needs an int8 variant"):
        Q.activation_qparams(ws, "onnx", I.parse_input(ws, "test:0"))
    proc = r8("activations", "--variant", "keras", "--input", "test:0", "--quant",
              cache_dir=cache_dir)
    assert_one_line_error(proc, "--quant needs an int8 variant", "onnx-int8")


def test_cli_quant_json(cache_dir):
    proc = r8("activations", "--variant", "onnx-uint8", "--input", "batch:test:0-3", "--quant",
              "--json", cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["variant"] == "onnx-uint8" and d["reference"] == "onnx"
    row = d["quant"][1]
    assert {"scale", "zero_point", "range_min", "range_max", "float_min", "float_max",
            "levels_used", "clipped", "clipped_share", "reuses_input_scale"} <= set(row)
    assert isinstance(row["clipped"], int)
