"""Evaluation on the full real test set in every float framework, checked independently."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine import evaluate, frameworks
from engine import variants as V
from engine.errors import CancelledError, UsageError
from engine.runners import choose_ort_providers, choose_torch_device
from engine.types import CLASS_NAMES

# The published 87.19 % on all 10,000 images; on the shared copy (9,979 rows) the spec says
# 8,702 correct for every float variant. Frameworks must agree exactly.
EXPECTED_CORRECT = {9_979: 8702, 10_000: 8719}
"""Correct float predictions on the shared copy (9,979 images) and on the full official test
set (the published 87.19 %); any other size is not a test set these tests know."""


@pytest.fixture(scope="module")
def float_eval(ws, test_set):
    return evaluate.evaluate(ws, list(V.FLOAT_VARIANTS), test_set)


def test_every_float_variant_scores_the_same(float_eval, test_set):
    for name, rep in float_eval.reports.items():
        assert rep.total == len(test_set)
        assert len(test_set) in EXPECTED_CORRECT, len(test_set)
        assert rep.correct == EXPECTED_CORRECT[len(test_set)], name
        assert 0.865 < rep.accuracy < 0.875, name
    assert len({r.correct for r in float_eval.reports.values()}) == 1


def test_full_agreement(float_eval):
    assert len(float_eval.agreements) == 3
    for g in float_eval.agreements:
        assert g.argmax_agreement == 1.0 and g.disagree_indices == ()
        assert g.max_abs_diff < 1e-4


def test_per_class_and_confusion_independently(float_eval, test_set):
    probs = float_eval.probs["onnx"]
    rep = float_eval.reports["onnx"]
    pred = probs.argmax(1)
    # independent computation with explicit loops
    conf = np.zeros((10, 10), int)
    for t, p in zip(test_set.labels, pred, strict=True):
        conf[t, p] += 1
    assert np.array_equal(conf, np.array(rep.confusion))
    for c in range(len(CLASS_NAMES)):
        mask = test_set.labels == c
        assert rep.per_class_total[c] == mask.sum()
        assert rep.per_class_correct[c] == (pred[mask] == c).sum()
    assert rep.correct == (pred == test_set.labels).sum()


def test_predictions_are_cached(ws, test_set, float_eval):
    p = evaluate.predictions(ws, "onnx", test_set)
    assert p.cached
    np.testing.assert_array_equal(p.probs, float_eval.probs["onnx"])


def test_different_data_is_not_served_stale(ws, test_set):
    """Same variant, same name and size, other images: the second set's result is its own
    (the key hashes the pixels, not the subset's name), also when the first is cached."""
    import numpy as np

    from engine.data import make_dataset

    a = make_dataset("same-name", test_set.images[:7], test_set.labels[:7],
                     test_set.indices[:7], test_set.source)
    b = make_dataset("same-name", test_set.images[7:14], test_set.labels[7:14],
                     test_set.indices[:7], test_set.source)
    pa = evaluate.predictions(ws, "onnx", a)
    pb = evaluate.predictions(ws, "onnx", b)
    assert pa.probs.shape == pb.probs.shape == (7, 10)
    assert not np.allclose(pa.probs, pb.probs)
    direct = evaluate.predictions(ws, "onnx", make_dataset(
        "other-name", test_set.images[7:14], test_set.labels[7:14], test_set.indices[7:14],
        test_set.source))
    np.testing.assert_allclose(pb.probs, direct.probs, rtol=0, atol=1e-6)


def test_cancel_between_batches(ws, test_set):
    from engine.data import first

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        evaluate.predictions(ws, "torch", first(test_set, 123), batch_size=10, cancel=cancel)


def test_bad_batch_size(ws, test_set):
    runner = V.open_runner(ws, "onnx")
    with pytest.raises(UsageError, match="batch size 0"):
        evaluate.predict(runner, test_set.images[:4], batch_size=0)


def test_unknown_variant():
    with pytest.raises(UsageError, match="unknown variant 'tensorrt'"):
        V.parse_variants("onnx,tensorrt")


def test_cuda_falls_back_to_cpu_with_notice():
    torch_choice = choose_torch_device("cuda")
    providers, ort_choice = choose_ort_providers("cuda")
    import torch

    if torch.cuda.is_available():
        assert torch_choice.device == "cuda" and torch_choice.notice == ""
    else:
        assert torch_choice.device == "cpu" and "falling back to CPU" in torch_choice.notice
    if "CUDAExecutionProvider" in frameworks.onnxruntime().get_available_providers():
        assert ort_choice.device == "cuda" and ort_choice.notice == ""
        assert providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        assert providers == ["CPUExecutionProvider"] and "falling back" in ort_choice.notice
    assert choose_torch_device("auto").notice == ""
    with pytest.raises(UsageError):
        choose_torch_device("tpu")


def test_wrong_input_shape(ws):
    from engine.errors import DataError

    runner = V.open_runner(ws, "onnx")
    with pytest.raises(DataError, match="not NHWC"):
        runner.infer(np.zeros((2, 3, 32, 32), np.float32))


def test_tflite_references(ws):
    from engine.data import first

    ds = first(ws.test_set, 500)
    rep = evaluate.evaluate(ws, ["onnx", "tflite", "tflite-int8"], ds)
    by = {(g.a, g.b): g for g in rep.agreements}
    assert by[("onnx", "tflite")].argmax_agreement == 1.0
    assert by[("onnx", "tflite-int8")].argmax_agreement > 0.95
