"""Isolated error per layer (engine.isolated), output ties (engine.ties) and the
`r8 compare --error` command: hand-worked cases, the float model against itself, the real
int8 variants, ORT's qdq_loss_debug as a peer, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine import compare as C
from engine import inputs as I
from engine import isolated as ISO
from engine.activations import CAPTURE_BATCH, capture_activations, run_capture
from engine.errors import UsageError
from engine.layers import layer_map, qdq_targets
from engine.stats import DiffSums, diff_sums
from engine.ties import output_ties, tie_broken_argmax
from tests.test_cli import assert_one_line_error, r8

FLOAT_SELF_DB = 80.0
"""The float layer on the float model's own input must reproduce its output above this."""
PEER_TOL_DB = 0.05
"""r8 and ORT's qdq_loss_debug must agree within this at the same optimization level."""
SPEC = "batch:test:0-49"


# -- hand-worked ----------------------------------------------------------------------------
def _conv_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 4))
    k = rng.normal(size=(5, 4, 3, 3))
    b = rng.normal(size=5)
    scale = np.abs(k).reshape(5, -1).max(axis=1)[:, None, None, None] / 127
    return x, k, b, np.round(k / scale) * scale


def test_split_of_a_layer_whose_weights_are_exact():
    x, k, b, _ = _conv_case()
    ref = ISO.float_conv(x, k, b, 1, True)
    out = np.round(ref * 16) / 16  # requantized output, exact weights
    s = ISO.split_sums(out, ref, ISO.float_conv(x, k.copy(), b, 1, True))
    assert s.weight.finish().sqnr_db == math.inf
    assert s.requant.finish().sqnr_db == s.total.finish().sqnr_db
    assert s.total.finish().sqnr_db == pytest.approx(diff_sums(ref, out).finish().sqnr_db)
    assert 20 < s.total.finish().sqnr_db < 60


def test_split_of_a_layer_whose_output_is_not_requantized():
    x, k, b, kq = _conv_case()
    ref = ISO.float_conv(x, k, b, 2, False)
    out = ISO.float_conv(x, kq, b, 2, False)  # dequantized weights, float output
    s = ISO.split_sums(out, ref, out)
    assert s.requant.finish().sqnr_db == math.inf
    assert s.weight.finish().sqnr_db == s.total.finish().sqnr_db
    assert 30 < s.total.finish().sqnr_db < 70


def test_same_padding_matches_keras_shapes():
    assert ISO.same_pads(32, 3, 2) == (0, 1)  # TF pads after on an even input
    assert ISO.same_pads(32, 3, 1) == (1, 1)
    assert ISO.same_pads(16, 1, 2) == (0, 0)
    x = np.ones((1, 32, 32, 2))
    k = np.ones((3, 2, 3, 3))
    y = ISO.float_conv(x, k, np.zeros(3), 2, False)
    assert y.shape == (1, 16, 16, 3)
    assert y[0, 0, 0, 0] == 18.0  # top-left window: 3x3x2 ones, no padding before
    assert y[0, -1, -1, 0] == 8.0  # bottom-right: 2x2x2 ones, one padded row and column


def test_ties_hand_worked():
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.7, 0.1], [0.4, 0.2, 0.4]], np.float32)
    logits = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 0.0], [5.0, 0.0, 4.0]])
    labels = np.array([1, 1, 2])
    assert tie_broken_argmax(probs, logits).tolist() == [1, 1, 0]
    t = output_ties(probs, logits, labels)
    assert (t.n, t.tied, t.labelled) == (3, 2, 3)
    assert t.correct_argmax == 1  # argmax picks class 0 on row 0 and class 0 on row 2
    assert t.correct_tie_broken == 2  # the logits pick class 1 on row 0
    assert output_ties(probs, logits, np.array([-1, -1, -1])).labelled == 0


# -- the real model -------------------------------------------------------------------------
def test_units_cover_every_computing_layer(ws):
    layers = layer_map(ws)
    units = ISO.model_units(layers)
    kinds = [x.kind for x in layers]
    assert sum(u.kind == "conv" for u in units) == kinds.count("Conv2D")
    assert sum(u.kind == "add" for u in units) == kinds.count("Add")
    assert [u.kind for u in units][-3:] == ["pool", "logits", "softmax"]
    covered = {n for u in units for n in u.layers}
    computing = {x.name for x in layers if x.kind not in ("InputLayer", "Flatten")}
    assert covered == computing
    assert all(u.relu == any(by.startswith("activation") for by in u.layers) for u in units)


def test_float_layers_reproduce_keras_on_its_own_inputs(ws):
    """The float reference of every unit, fed the float model's inputs, gives its outputs."""
    spec = I.parse_input(ws, "batch:test:0-7")
    acts = capture_activations(ws, "keras", spec)
    t = dict(acts.tensors)
    layers = layer_map(ws)
    by_name = {x.name: x for x in layers}
    wf = ISO._weights(ws, "onnx", ISO.V.VariantOptions())
    t[ISO.LOGITS] = ISO.float_dense(t["flatten"], wf[("dense", "kernel")], wf[("dense", "bias")])
    for u in ISO.model_units(layers):
        t2 = {**t, f"{u.name}@in": t[u.inputs[0]]}
        s = ISO._unit_sums(u, t2, wf, wf, by_name)
        assert s.total.finish().sqnr_db > FLOAT_SELF_DB, u.name
        assert s.weight.finish().sqnr_db == math.inf, u.name


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["onnx-int8", "torch-int8"])
def test_isolated_on_the_real_int8_variants(ws, variant):
    spec = I.parse_input(ws, SPEC)
    rep = ISO.isolated_errors(ws, variant, spec)
    units = ISO.model_units(layer_map(ws))
    assert [r.name for r in rep.layers] == [u.name for u in units]
    assert rep.ties is not None and rep.ties.n == len(spec)
    for r in rep.layers:
        assert 15 < r.diff.sqnr_db < 60, (r.name, r.diff)
        if r.kind in ("add", "pool", "softmax"):  # no weights: the error is all requant
            assert r.weight_sqnr_db == math.inf
            assert r.requant_sqnr_db == r.diff.sqnr_db
        else:
            assert 25 < r.weight_sqnr_db < 70, (r.name, r.weight_sqnr_db)
    acc = C.compare_activations(ws, "keras", variant, spec, error="both")
    rows = {r.name: r for r in acc.layers}
    # the error a deep layer adds by itself is far below what has accumulated by then
    # (not so the pooling: requantized on its input's scale, it adds most of its own error)
    for name in ("batch_normalization_6", "activation_6"):
        assert rows[name].isolated is not None
        assert rows[name].isolated.diff.sqnr_db > rows[name].diff.sqnr_db + 3, name
    assert ISO.LOGITS in rows and rows[ISO.LOGITS].isolated is not None
    assert acc.ort_optimization == (None if variant == "torch-int8" else ISO.ORT_OPTIMIZATION)


def test_bad_isolated_input(ws):
    spec = I.parse_input(ws, "test:0")
    with pytest.raises(UsageError, match="needs an int8 side"):
        C.compare_activations(ws, "keras", "onnx", spec, error="isolated")
    with pytest.raises(UsageError, match="int8 variant"):
        ISO.isolated_errors(ws, "torch", spec)
    with pytest.raises(UsageError, match="unknown layer 'nope'; use one of input_1, conv2d"):
        C.check_row_name(ws, "nope", 13)


def test_cli_bad_input(cache_dir, tmp_path):
    proc = r8("compare", "--a", "keras", "--b", "torch", "--input", "test:0", "--error",
              "both", cache_dir=cache_dir)
    assert_one_line_error(proc, "needs an int8 side", "--b")
    proc = r8("compare", "--a", "keras", "--b", "onnx-int8", "--input", "test:0", "--error",
              "isolated", "--layer", "conv9", cache_dir=cache_dir)
    assert_one_line_error(proc, "unknown layer 'conv9'", "activation_6", ISO.LOGITS)
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(0, np.int64))
    proc = r8("compare", "--a", "keras", "--b", "onnx-int8", "--input", f"indices:{empty}",
              "--error", "isolated", cache_dir=cache_dir)
    assert_one_line_error(proc, "empty")


@pytest.mark.slow
def test_cli_json_keeps_accumulated_fields_and_adds_isolated(cache_dir):
    proc = r8("compare", "--a", "onnx", "--b", "onnx-int8", "--input", "batch:test:0-3",
              "--error", "both", "--json", cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["ort_optimization"] == "ORT_ENABLE_ALL"
    assert set(d["ties"]) == {"onnx-int8", "onnx"}
    rows = {r["name"]: r for r in d["layers"]}
    act = rows["activation_1"]
    assert {"sqnr_db", "cosine", "mse", "max_abs_diff", "exact", "b"} <= set(act)
    assert {"sqnr_db", "cosine", "mse", "max_abs_diff", "weight_sqnr_db",
            "requant_sqnr_db"} <= set(act["isolated"])
    assert rows["input_1"]["isolated"] is None  # the input computes nothing
    assert rows["activation_2"]["isolated"]["weights_exact"]  # an add has no weights
    assert not rows["activation_1"]["isolated"]["weights_exact"]
    assert rows[ISO.LOGITS]["isolated"]["weight_sqnr_db"] < 80


# -- peer: ONNX Runtime's qdq_loss_debug ----------------------------------------------------
def test_accumulated_sqnr_matches_ort_qdq_loss_debug(ws, tmp_path):
    """Same tensors, same optimization level (ORT_DISABLE_ALL, qdq_loss_debug's default):
    xmodel_err equals r8's accumulated SQNR (the same definition: 20 log10 of the norm ratio
    over every value of the set)."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization import qdq_loss_debug as Q

    from engine import activations as A
    from engine import quantize

    spec = I.parse_input(ws, SPEC)
    layers = layer_map(ws)
    qpath, fpath = quantize.onnx_quantized_path(ws, "onnx-int8"), ws.onnx_path()
    name = ort.InferenceSession(str(fpath)).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: spec.images.astype(np.float32)}])

        def get_next(self):  # noqa: ANN201
            return next(self.it, None)

    for src, dst in ((qpath, tmp_path / "q.onnx"), (fpath, tmp_path / "f.onnx")):
        Q.modify_model_output_intermediate_tensors(str(src), str(dst))
    qa = Q.collect_activations(str(tmp_path / "q.onnx"), Reader())
    fa = Q.collect_activations(str(tmp_path / "f.onnx"), Reader())
    peer = Q.compute_activation_error(Q.create_activation_matching(qa, fa))

    # r8's capture path (the functions compare uses) at the peer's optimization level
    targets, qparams = qdq_targets(qpath, layers)
    qcap = A._OnnxCapturer(qpath, targets, "cpu", None, qparams, "ORT_DISABLE_ALL")
    ftargets = {x.name: x.onnx_output for x in layers if x.name in targets and x.onnx_output}
    fcap = A._OnnxCapturer(fpath, ftargets, "cpu", None, None, "ORT_DISABLE_ALL")
    names = tuple(ftargets)
    assert len(spec) <= CAPTURE_BATCH
    tq, _, _ = run_capture(qcap, names, spec.images, "q", None, None)
    tf, _, _ = run_capture(fcap, names, spec.images, "f", None, None)
    checked = 0
    for x in layers:
        if x.name not in ftargets or x.name == layers[0].name:
            continue
        ours = diff_sums(tf[x.name], tq[x.name]).finish().sqnr_db
        theirs = peer[x.onnx_output]["xmodel_err"]
        assert ours == pytest.approx(theirs, abs=PEER_TOL_DB), x.name
        checked += 1
    assert checked >= 15
    # and r8 compare itself (ORT_ENABLE_ALL) agrees on every conv and add output; where
    # ORT fuses QLinearAveragePool / QLinearSoftmax the deployed tensors differ
    rep = C.compare_activations(ws, "onnx", "onnx-int8", spec)
    for r in rep.layers:
        if r.name.startswith(("activation", "batch_normalization", "conv2d")):
            theirs = peer[layers[[x.name for x in layers].index(r.name)].onnx_output]
            assert r.diff.sqnr_db == pytest.approx(theirs["xmodel_err"], abs=PEER_TOL_DB)


def test_diff_sums_unchanged_by_batching():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    whole = diff_sums(a, b).finish()
    parts = sum((diff_sums(a[i:i + 2], b[i:i + 2]) for i in range(0, 6, 2)), DiffSums())
    assert parts.finish().sqnr_db == pytest.approx(whole.sqnr_db)


# -- peer: PyTorch's FX Numeric Suite --------------------------------------------------------
NS_TOL_DB = 0.1
"""r8 and torch.ao.ns._numeric_suite_fx must agree within this."""


def _ns_keras_names(qm, layers):
    """FX node name of the int8 model -> Keras layer r8 reports it under."""
    from engine.layers import torch_int8_targets

    inv = {t: k for k, t in torch_int8_targets(qm, layers).items()}
    out = {}
    for n in qm.graph.nodes:
        if n.op == "call_module" and n.target in inv:
            out[n.name] = inv[n.target]
        for u in n.users:  # a functional add_relu is read at its consumer's input
            if n.op == "call_function" and u.op == "call_module" and u.target + "@in" in inv:
                out[n.name] = inv[u.target + "@in"]
    return out


@pytest.mark.slow
def test_torch_numeric_suite_agrees_with_accumulated_and_isolated(ws):
    """add_loggers (float and int8 models side by side) gives r8's accumulated SQNR of torch
    against torch-int8; add_shadow_loggers (the float layer fed the int8 layer's dequantized
    input) gives r8's isolated SQNR on every conv. The suite cannot shadow the adds, the
    pooling, the matmul or the quantized softmax (it skips or fails on them); r8 covers them."""
    import torch
    import torch.ao.ns._numeric_suite_fx as ns
    from torch.ao.ns.fx.mappings import get_unmatchable_types_map
    from torch.ao.ns.fx.utils import compute_sqnr

    from engine import convert, quantize

    spec = I.parse_input(ws, SPEC)
    layers = layer_map(ws)
    x = torch.from_numpy(spec.images.astype(np.float32))
    qm = quantize.torch_quantized_module(ws)
    keras_of = _ns_keras_names(qm, layers)

    def sqnrs(results):
        ns.extend_logger_results_with_comparison(results, "fp32", "int8", compute_sqnr, "sqnr")
        out = {}
        for v in results.values():
            o = v["node_output"]["int8"][0]
            name = keras_of.get(o["prev_node_name"])
            if name is not None:
                out[name] = float(o["sqnr"][0])
        return out

    fa, qa = ns.add_loggers("fp32", convert.onnx_to_torch(ws.onnx_path()).eval(), "int8", qm,
                            ns.OutputLogger)
    with torch.inference_mode():
        fa(x)
        qa(x)
    logged = sqnrs(ns.extract_logger_info(fa, qa, ns.OutputLogger, "int8"))
    acc = {r.name: r.diff.sqnr_db for r in C.compare_activations(ws, "torch", "torch-int8",
                                                                  spec).layers}
    assert len(logged) >= 13
    for name, theirs in logged.items():
        assert acc[name] == pytest.approx(theirs, abs=NS_TOL_DB), name

    unmatchable = get_unmatchable_types_map()
    unmatchable["mods_unmatchable"] |= {torch.nn.Softmax, torch.ao.nn.quantized.Softmax}
    shadow = ns.add_shadow_loggers(
        "fp32", convert.onnx_to_torch(ws.onnx_path()).eval(), "int8",
        quantize.torch_quantized_module(ws), ns.OutputLogger, unmatchable_types_map=unmatchable)
    with torch.inference_mode():
        shadow(x)
    shadowed = sqnrs(ns.extract_shadow_logger_info(shadow, ns.OutputLogger, "int8"))
    iso = {r.name: r for r in ISO.isolated_errors(ws, "torch-int8", spec).layers}
    convs = {r.name for r in iso.values() if r.kind == "conv"}
    assert set(shadowed) == convs
    for name, theirs in shadowed.items():
        assert iso[name].diff.sqnr_db == pytest.approx(theirs, abs=NS_TOL_DB), name
