"""Layers kept in float: the quantized graphs' structure, the units, keys and bad names."""

from __future__ import annotations

import pytest

from engine import float_layers as FL
from engine import quantize as Q
from engine.errors import UsageError
from engine.layers import layer_map
from engine.variants import VariantOptions
from engine.workspace import Workspace

UNITS = ("conv2d", "conv2d_1", "conv2d_2", "add", "conv2d_3", "conv2d_4", "conv2d_5", "add_1",
         "conv2d_6", "conv2d_7", "conv2d_8", "add_2", "average_pooling2d", "dense")
DENSE_FLOAT = VariantOptions(quant={"float_layers": "dense"})


def test_units_in_model_order_cover_bn_and_relu(ws: Workspace) -> None:
    units = FL.quant_units(layer_map(ws))
    assert tuple(u.name for u in units) == UNITS
    by = {u.name: u for u in units}
    assert by["conv2d"].layers == ("conv2d", "batch_normalization", "activation")
    assert by["conv2d_2"].layers == ("conv2d_2", "batch_normalization_2")  # feeds the add
    assert by["add_1"].layers == ("add_1", "activation_4")
    assert by["dense"].layers == ("dense",)
    assert "model/dense/Softmax" in by["dense"].torch_modules


def test_unknown_layer_lists_the_valid_ones(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="unknown layer 'dens'.*use one or more of conv2d, "):
        FL.check_names(layer_map(ws), ["dens"])
    with pytest.raises(UsageError, match="activation_3 belongs to conv2d_3"):
        FL.check_names(layer_map(ws), ["activation_3"])


def _qdq_neighbours(path, prefix: str) -> tuple[list, list, set[str]]:
    """Nodes named after ``prefix``, the Q/DQ nodes touching them, and the float inits."""
    import onnx

    g = onnx.load(str(path)).graph
    nodes = [n for n in g.node if n.name.startswith(prefix)]
    ins = {i for n in nodes for i in n.input}
    outs = {o for n in nodes for o in n.output}
    q_after = [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] in outs]
    dq_weights = [n for n in g.node if n.op_type == "DequantizeLinear" and n.output[0] in ins
                  and n.input[0] in {i.name for i in g.initializer}]
    floats = {i.name for i in g.initializer if i.data_type == onnx.TensorProto.FLOAT}
    return nodes, q_after + dq_weights, floats & ins


@pytest.mark.parametrize("variant", ["onnx-int8", "onnx-uint8"])
def test_onnx_dense_float_has_no_qdq_around_it(ws: Workspace, variant: str) -> None:
    plain = Q.onnx_quantized_path(ws, variant)
    path = Q.onnx_quantized_path(ws, variant, DENSE_FLOAT)
    assert path != plain
    nodes, qdq, float_inits = _qdq_neighbours(path, "model/dense/")
    assert {n.op_type for n in nodes} == {"Gemm", "Softmax"}
    assert qdq == []  # no Q on its outputs, no DQ'd int8 weight or bias into it
    assert len(float_inits) == 2  # weight and bias stay float
    # in the plain model the same nodes are quantized (so the check above can fail)
    nodes, qdq, _ = _qdq_neighbours(plain, "model/dense/")
    assert len(qdq) >= 3
    # every conv is still int8 in both
    assert Q.onnx_structure(path)["int8_weights"] == 9
    assert Q.onnx_structure(plain)["int8_weights"] == 10


def test_onnx_float_conv_keeps_its_weights_float(ws: Workspace) -> None:
    path = Q.onnx_quantized_path(ws, "onnx-int8",
                                 VariantOptions(quant={"float_layers": "conv2d_3"}))
    nodes, qdq, float_inits = _qdq_neighbours(path, "model/conv2d_3/")
    assert [n.op_type for n in nodes] == ["Conv"]
    assert qdq == [] and len(float_inits) == 2
    # its ReLU, dropped into the conv's output range when quantized, is back as a node
    import onnx

    ops = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops.get("model/activation_3/Relu") == "Relu"
    assert Q.onnx_structure(path)["int8_weights"] == 9


def _fx_ops(module) -> tuple[set[str], list[str]]:
    """Targets of the FX graph's function calls, and the modules it calls."""
    fns = {str(n.target) if str(n.target).startswith("quantized.")  # torch.ops.quantized.*
           else str(getattr(n.target, "__name__", n.target))
           for n in module.graph.nodes if n.op == "call_function"}
    calls = [str(n.target) for n in module.graph.nodes if n.op == "call_module"]
    return fns, calls


def test_torch_dense_float_has_no_quantized_op(ws: Workspace) -> None:
    plain = Q.torch_quantized_module(ws)
    module = Q.torch_quantized_module(ws, DENSE_FLOAT)
    fns, _ = _fx_ops(plain)
    assert {"quantized.matmul", "quantized.add"} <= fns  # today the head is int8
    assert Q.torch_structure(plain)["quantized_modules"]["model/dense/Softmax"] == "Softmax"
    fns, _ = _fx_ops(module)
    assert not {"quantized.matmul", "quantized.add"} & fns
    assert {"matmul", "add"} <= fns
    quantized = Q.torch_structure(module)["quantized_modules"]
    assert not any(m.startswith("model/dense/") for m in quantized)
    softmax = module.get_submodule("model/dense/Softmax")
    assert type(softmax).__module__.startswith("torch.nn.modules")  # float Softmax
    # every conv is still int8
    assert sum("Conv" in c for c in quantized.values()) == 9


def test_torch_float_conv_reuses_the_calibration(ws: Workspace) -> None:
    """conv2d_3 float: its module is float, the rest int8, and every other tensor keeps the
    scale the all-int8 calibration gave it (loaded, not recalibrated)."""
    plain = Q.torch_quantized_module(ws)
    module = Q.torch_quantized_module(ws, VariantOptions(quant={"float_layers": "conv2d_3"}))
    quantized = Q.torch_structure(module)["quantized_modules"]
    assert not any(m.startswith("model/conv2d_3/") for m in quantized)
    assert len(quantized) == len(Q.torch_structure(plain)["quantized_modules"]) - 1
    a = plain.get_submodule("model/conv2d_4/BiasAdd")
    b = module.get_submodule("model/conv2d_4/BiasAdd")
    assert (a.scale, a.zero_point) == (b.scale, b.zero_point)


def test_settings_key_and_label(ws: Workspace) -> None:
    plain = Q.settings("torch-int8", {})
    s = Q.settings("torch-int8", {"float_layers": "dense,conv2d", "bias_correction": True})
    assert s.float_layers == ("conv2d", "dense")
    assert s.label == "torch-int8 [float: conv2d, dense; bias-corr]"
    assert plain.label == "torch-int8"
    assert "float_layers" not in plain.key_parts()  # default keys do not change
    assert "bias_correction" not in plain.key_parts()
    assert s.base() == plain
    keys = {Q.identity(ws, "onnx-int8", VariantOptions(quant=q))["key"] for q in (
        {}, {"float_layers": "dense"}, {"float_layers": "dense,conv2d"},
        {"float_layers": "conv2d,dense"})}
    assert len(keys) == 3


@pytest.mark.parametrize(("argv", "fragment"), [
    (("eval", "--variant", "keras,onnx", "--float-layers", "dense"),
     "--float-layers applies to int8 variants only, not keras, onnx; use --variant"),
    (("report", "--variant", "torch", "--bias-correction"),
     "--bias-correction applies to int8 variants only"),
    (("quantize", "--backend", "torch", "--float-layers", "dens"),
     "unknown layer 'dens' for --float-layers; use one or more of conv2d,"),
])
def test_cli_layer_settings_bad_input_is_one_line(cache_dir, argv, fragment: str) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "--cache-dir", str(cache_dir), "--no-download", *argv],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore"},
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("r8: error: ") and proc.stderr.count("\n") == 1
    assert fragment in proc.stderr
