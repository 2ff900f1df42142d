"""variants_report on the real model and data."""

from __future__ import annotations

import pytest

from engine import data, report
from engine.types import CLASS_NAMES
from engine.variants import VariantOptions
from engine.workspace import Workspace

MAX_INT8_DROP_POINTS = 2.0
"""An int8 variant may lose at most this much against keras on the sample."""
MIN_AGREEMENT = 0.95


@pytest.fixture(scope="module")
def rep(ws: Workspace) -> report.VariantsReport:
    sample = data.stratified(ws.test_set, 1000, 0)
    return report.variants_report(ws, ["onnx", "onnx-int8", "torch-int8", "tflite-int8"],
                                  sample, VariantOptions())


def test_rows_baseline_first_with_deltas(rep: report.VariantsReport) -> None:
    names = [r.variant for r in rep.rows]
    assert names == ["keras", "onnx", "onnx-int8", "torch-int8", "tflite-int8"]
    base = rep.rows[0]
    assert base.delta_points == 0 and base.agreement_with_float == 1.0
    assert not base.float_right_variant_wrong and not base.float_wrong_variant_right
    for r in rep.rows:
        assert r.correct == rep.reports[r.variant].correct and r.total == rep.size == 1000
        assert r.delta_points == pytest.approx((r.accuracy - base.accuracy) * 100)
        assert len(r.per_class_delta) == len(CLASS_NAMES)
        assert r.size_bytes is not None and r.size_bytes > 0


def test_flips_explain_the_delta(rep: report.VariantsReport) -> None:
    base = rep.rows[0]
    for r in rep.rows[1:]:
        assert r.correct - base.correct == (len(r.float_wrong_variant_right)
                                            - len(r.float_right_variant_wrong))
        assert r.agreement_with_float >= MIN_AGREEMENT
        assert abs(r.delta_points) <= MAX_INT8_DROP_POINTS
        assert not set(r.float_right_variant_wrong) & set(r.float_wrong_variant_right)


def test_int8_models_are_smaller_and_carry_their_settings(rep: report.VariantsReport) -> None:
    rows = {r.variant: r for r in rep.rows}
    assert rows["onnx-int8"].size_bytes < rows["onnx"].size_bytes / 2
    assert rows["torch-int8"].size_bytes < rows["onnx"].size_bytes / 2
    q = rows["onnx-int8"].details["quant"]
    assert q["calib"] == "train:1000" and q["reduce_range_reason"].startswith("auto")
    assert "quant" not in rows["tflite-int8"].details
    # no target verdicts on a 1,000-image sample
    assert not any("target" in n for n in rep.notes)
