"""engine.layers on the real model: the Keras -> ONNX -> PyTorch (-> int8) map."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import convert
from engine.errors import UsageError
from engine.layers import (
    BLOCKS,
    INPUT_OF,
    find_layer,
    layer_map,
    qdq_targets,
    quantized_layer_map,
)
from engine.workspace import Workspace


def test_layer_map_covers_the_keras_model(ws: Workspace) -> None:
    layers = layer_map(ws)
    assert len(layers) == convert.EXPECTED_LAYERS
    assert sum(x.params for x in layers) == convert.EXPECTED_PARAMS
    assert [x.index for x in layers] == list(range(len(layers)))
    assert {x.block for x in layers} == set(BLOCKS)
    assert [x.name for x in layers if x.block == "stem"] == [
        "input_1", "conv2d", "batch_normalization", "activation"]
    assert find_layer(layers, "conv2d_5").block == "stack2"
    assert find_layer(layers, "conv2d_8").block == "stack3"
    assert [x.name for x in layers if x.block == "head"] == [
        "average_pooling2d", "flatten", "dense"]


def test_layer_map_records_what_the_conversion_did(ws: Workspace) -> None:
    layers = layer_map(ws)
    inp = find_layer(layers, "input_1")
    assert inp.onnx_output == "input_1" and "Transpose" in inp.notes
    conv, bn = find_layer(layers, "conv2d_3"), find_layer(layers, "batch_normalization_3")
    assert conv.onnx_output is None and not conv.materialised
    assert bn.onnx_output == "model/batch_normalization_3/FusedBatchNormV3:0"
    assert bn.torch_output == "model/conv2d_3/BiasAdd" and "folded into conv2d_3" in bn.notes
    assert "model/conv2d_3/BiasAdd.0" in conv.torch_modules and "Pad + Conv" in conv.notes
    shortcut = find_layer(layers, "conv2d_5")
    assert shortcut.onnx_output == "model/conv2d_5/BiasAdd:0"
    dense = find_layer(layers, "dense")
    assert dense.onnx_output == "dense" and dense.torch_output == "model/dense/Softmax"
    assert find_layer(layers, "add_1").inputs == ("conv2d_5", "batch_normalization_4")


def test_find_layer_names_the_valid_choices(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="unknown layer 'conv9'.*input_1, conv2d"):
        find_layer(layer_map(ws), "conv9")


def test_warm_layer_map_imports_no_framework(ws: Workspace) -> None:
    layer_map(ws)  # fill the cache
    code = (
        "import sys, json\n"
        "from engine.workspace import Workspace\n"
        "from engine.layers import layer_map\n"
        f"ws = Workspace.open(cache_dir={str(ws.cache_dir)!r}, download=False)\n"
        "n = len(layer_map(ws))\n"
        "print(json.dumps([n, [m for m in ('tensorflow', 'torch', 'onnx') if m in sys.modules]]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    n, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert n == convert.EXPECTED_LAYERS and loaded == []


def test_quantized_map_qdq_and_fused_int8(ws: Workspace) -> None:
    layers = quantized_layer_map(ws)
    act = find_layer(layers, "activation")
    # ORT removes the Relu after a Conv: the Conv's QuantizeLinear carries the ReLU layer
    assert act.quantized["onnx-int8"] == ("model/activation/Relu:0_QuantizeLinear_Output",)
    # FX fuses Conv+BN+ReLU into one module, reported under the ReLU layer
    assert act.quantized["torch-int8"] == ("model/conv2d/BiasAdd",)
    assert "torch-int8" not in find_layer(layers, "batch_normalization").quantized
    assert find_layer(layers, "activation_3").quantized["torch-int8"] == (
        "model/conv2d_3/BiasAdd.1",)
    assert find_layer(layers, "activation_2").quantized["torch-int8"][0].endswith(INPUT_OF)
    from engine import quantize

    _, qparams = qdq_targets(quantize.onnx_quantized_path(ws, "onnx-uint8"), layers)
    scale, zero, qmin, qmax = qparams["activation"]
    assert scale > 0 and (qmin, qmax) == (0, 255) and zero == 0
