"""Which operations run in int8 (engine.int8ops, `r8 quantize --json` structure.ops)."""

from __future__ import annotations

from collections import Counter

from engine import int8ops, quantize
from engine.layers import layer_map


def test_torch_int8_lists_functional_int8_ops(ws):
    known = {x.name for x in layer_map(ws)}
    ops = int8ops.torch_int8_ops(quantize.torch_quantized_module(ws), known)
    int8 = Counter(o.op for o in ops if o.precision == "int8")
    assert int8["add_relu"] == 3  # the residual adds: functional, no module
    assert int8["matmul"] == 1 and int8["add"] == 1  # the dense layer: functional too
    assert int8["ConvReLU2d"] + int8["Conv2d"] == 9
    assert {o.layer for o in ops if o.op in ("matmul", "add")} == {"dense"}
    # the stride-2 convs' Pad and the flatten Reshape run in float between dequantize and
    # quantize_per_tensor
    assert Counter(o.op for o in ops if o.precision == "float") == {"pad": 2, "reshape": 1}


def test_onnx_int8_ops_come_from_the_optimized_graph(ws):
    known = {x.name for x in layer_map(ws)}
    ops = int8ops.onnx_int8_ops(quantize.onnx_quantized_path(ws, "onnx-int8"), known)
    assert ops
    for o in ops:
        if o.op.startswith("QLinear") or o.op == "QGemm":
            assert o.precision == "int8", o
        if o.op in ("QuantizeLinear", "DequantizeLinear"):
            assert o.precision == "convert", o
        if o.op == "Conv":  # a conv ORT left unfused runs in float on dequantized values
            assert o.precision == "float" and o.layer in known, o
    convs = [o for o in ops if o.op in ("Conv", "QLinearConv")]
    assert len(convs) == 9  # every conv appears, fused or not


def test_quantize_json_lists_ops(ws):
    (res,) = quantize.quantize(ws, ["torch-int8"])
    assert res.structure["int8_ops"] == sum(o["precision"] == "int8"
                                            for o in res.structure["ops"])
    assert res.structure["float_ops"] == 3
