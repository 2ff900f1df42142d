"""Activation capture, statistics and per-layer comparison on the real model and data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import activations as A
from engine import compare as C
from engine import convert
from engine import inputs as I
from engine import variants as V
from engine.errors import UsageError
from engine.layers import find_layer, layer_map
from engine.stats import PERCENTILES, compare_tensors
from engine.workspace import Workspace

STAT_REL = 1e-6
"""Relative tolerance of our statistics against numpy's on float32 tensors."""
FUSION_ATOL = 1e-6
"""Probabilities of the capture session vs the plain ORT session (fusions differ)."""
INT8_MIN_DB = 10.0
"""int8 layers must stay above this SQNR (they sit around 20-35 dB) and below float's."""


@pytest.fixture(scope="module")
def one(ws: Workspace) -> I.InputSpec:
    return I.parse_input(ws, "test:3")


@pytest.mark.parametrize("text, message", [
    ("test:10000", "out of range; use 0-9999"),
    ("test:-1", "out of range"),
    ("test:722", "not in this copy of the data"),
    ("class:zebra:0", "unknown class 'zebra'; use one of airplane"),
    ("class:cat:99999", "use N from 0 to"),
    ("batch:test:9-2", "before its start"),
    ("random:abc", "not a whole number"),
    ("image:3", "malformed input 'image:3'; use test:INDEX"),
    ("batch:train:0-3", "use batch:test:A-B"),
])
def test_bad_inputs_are_one_line_errors(ws: Workspace, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        I.parse_input(ws, text)
    assert "\n" not in str(info.value)


def test_input_specs(ws: Workspace, tmp_path) -> None:
    spec = I.parse_input(ws, "class:cat:2")
    cats = np.flatnonzero(ws.test_set.labels == 3)
    assert spec.indices[0] == ws.test_set.indices[cats[2]] and spec.labels[0] == 3
    rnd = I.parse_input(ws, "random:7")
    assert rnd.images.shape == (1, 32, 32, 3) and rnd.labels[0] == -1
    assert 0 <= rnd.images.min() and rnd.images.max() <= 255
    batch = I.parse_input(ws, "batch:test:715-725")
    assert 722 not in batch.indices and len(batch) == 10 and "722" in batch.notes[0]
    np.save(tmp_path / "idx.npy", np.array([5, 3]))
    assert I.parse_input(ws, f"indices:{tmp_path / 'idx.npy'}").indices.tolist() == [5, 3]


def test_hooks_are_removed_even_on_error(ws: Workspace) -> None:
    module = convert.onnx_to_torch(ws.onnx_path())
    targets = {x.name: x.torch_output for x in layer_map(ws) if x.torch_output}
    import torch

    with A.forward_hooks(module, targets) as got:
        with torch.inference_mode():
            module(torch.zeros(1, 32, 32, 3))
        assert sum(len(m._forward_hooks) for m in module.modules()) == len(targets)
    assert set(got) == set(targets)
    assert all(len(m._forward_hooks) == 0 for m in module.modules())
    with pytest.raises(RuntimeError), A.forward_hooks(module, targets):
        module(torch.zeros(1, 5))  # wrong shape raises inside the block
    assert all(len(m._forward_hooks) == 0 for m in module.modules())


def test_stats_match_numpy_on_captured_tensors(ws: Workspace, one: I.InputSpec) -> None:
    acts = A.capture_activations(ws, "torch", one)
    assert acts.layout == "NHWC" and acts.tensors["activation_3"].shape == (1, 16, 16, 32)
    for s in A.activation_stats(acts):
        x = acts.tensors[s.name].astype(np.float64).ravel()
        assert s.stats.count == x.size
        assert s.stats.min == x.min() and s.stats.max == x.max()
        assert s.stats.mean == pytest.approx(x.mean(), rel=STAT_REL, abs=1e-12)
        assert s.stats.std == pytest.approx(x.std(), rel=STAT_REL)
        assert s.stats.mean_abs == pytest.approx(np.abs(x).mean(), rel=STAT_REL)
        assert s.stats.zeros_fraction == np.mean(x == 0)
        ours = [s.stats.p1, s.stats.p5, s.stats.p50, s.stats.p95, s.stats.p99]
        assert ours == pytest.approx(np.percentile(x, PERCENTILES).tolist(), rel=STAT_REL)
        assert s.histogram.counts.sum() == x.size and s.saturated_fraction is None
    relu = acts.tensors["activation"]
    assert relu.min() >= 0 and 0 < np.mean(relu == 0) < 1


def test_capture_is_cached_and_matches_the_runner(ws: Workspace, one: I.InputSpec) -> None:
    first = A.capture_activations(ws, "onnx", one)
    again = A.capture_activations(ws, "onnx", one)
    assert again.cached and again.layers == first.layers
    assert np.array_equal(again.tensors["add_2"], first.tensors["add_2"])
    runner = V.open_runner(ws, "onnx")
    # extra graph outputs stop some ORT fusions (Conv+Relu): float rounding differs slightly
    assert np.allclose(runner.infer(one.images), first.probs, rtol=0, atol=FUSION_ATOL)
    assert "conv2d_3" in first.not_materialised and "conv2d_3" not in first.tensors


def test_torch_and_onnx_float_agree_per_layer(ws: Workspace, one: I.InputSpec) -> None:
    rep = C.compare_activations(ws, "torch", "onnx", one)
    assert rep.first_divergence is None and len(rep.layers) >= 20
    for r in rep.layers:
        assert r.diff.sqnr_db > C.FLOAT_AGREEMENT_DB, r.name
    assert rep.layers[0].name == "input_1" and rep.layers[0].diff.sqnr_db == math.inf
    assert "conv2d_3" in rep.skipped


def test_keras_agrees_with_torch_where_both_materialise(ws: Workspace, one: I.InputSpec) -> None:
    keras = A.capture_activations(ws, "keras", one)
    torch_ = A.capture_activations(ws, "torch", one)
    assert "conv2d_3" in keras.tensors  # Keras has the pre-BN conv output; torch does not
    for name in torch_.layers:
        assert compare_tensors(keras.tensors[name], torch_.tensors[name]).sqnr_db > \
            C.FLOAT_AGREEMENT_DB, name


def test_int8_shows_finite_error_per_layer(ws: Workspace, one: I.InputSpec) -> None:
    rep = C.compare_activations(ws, "torch", "torch-int8", one)
    assert rep.first_divergence is not None and rep.layers[0].name == "input_1"
    for r in rep.layers[1:]:  # integer pixels may quantize exactly; every layer after cannot
        assert INT8_MIN_DB < r.diff.sqnr_db < C.FLOAT_AGREEMENT_DB, r.name
    acts = A.capture_activations(ws, "torch-int8", one)
    stats = {s.name: s for s in A.activation_stats(acts)}
    assert all(stats[n].saturated_fraction is not None for n in acts.quant)
    assert 0 <= stats["activation_6"].saturated_fraction <= 1
    runner = V.open_runner(ws, "torch-int8")
    assert np.array_equal(runner.infer(one.images), acts.probs)


def test_qdq_capture(ws: Workspace, one: I.InputSpec) -> None:
    rep = C.compare_activations(ws, "onnx", "onnx-uint8", one)
    names = [r.name for r in rep.layers]
    assert "activation" in names and "batch_normalization" in rep.skipped  # Relu fused
    assert all(INT8_MIN_DB < r.diff.sqnr_db for r in rep.layers[1:])
    acts = A.capture_activations(ws, "onnx-uint8", one)
    scale, zero, _, _ = acts.quant["activation"]
    levels = acts.tensors["activation"] / scale + zero
    assert np.allclose(levels, np.rint(levels), atol=1e-3)  # dequantized int8 values


def test_set_comparison_streams_the_same_metrics(ws: Workspace) -> None:
    big = I.parse_input(ws, "batch:test:0-69")
    assert len(big) > A.CACHED_TENSORS_MAX
    rep = C.compare_activations(ws, "torch", "onnx", big)
    sa = A.capture_activations(ws, "torch", big)
    sb = A.capture_activations(ws, "onnx", big)
    for r in rep.layers:
        direct = compare_tensors(sa.tensors[r.name], sb.tensors[r.name])
        assert r.shape == sa.tensors[r.name].shape
        if math.isinf(direct.sqnr_db):
            assert math.isinf(r.diff.sqnr_db)
        else:
            assert r.diff.sqnr_db == pytest.approx(direct.sqnr_db, rel=1e-6), r.name
        assert r.a["max"] == sa.tensors[r.name].max()


def test_unknown_variant_names_choices(ws: Workspace, one: I.InputSpec) -> None:
    with pytest.raises(UsageError, match="use one of keras, onnx, torch"):
        A.capture_activations(ws, "tflite", one)
    with pytest.raises(UsageError):
        find_layer(layer_map(ws), "dense_9")


def test_flipped_input_selects_the_images_whose_correctness_differs(ws: Workspace) -> None:
    from engine import evaluate

    spec = I.parse_input(ws, "flipped:onnx-int8")
    test = ws.test_set
    base = evaluate.predictions(ws, "keras", test).probs.argmax(1) == test.labels
    int8 = evaluate.predictions(ws, "onnx-int8", test).probs.argmax(1) == test.labels
    expected = test.indices[base != int8]
    assert 0 < len(spec) == len(expected)
    np.testing.assert_array_equal(spec.indices, expected)
    assert "flipped" in spec.notes[0]
    with pytest.raises(UsageError, match="nothing flipped"):
        I.parse_input(ws, "flipped:onnx")  # float variants agree on every image
    with pytest.raises(UsageError, match="unknown variant"):
        I.parse_input(ws, "flipped:bogus")
