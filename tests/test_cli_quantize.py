"""`r8 quantize`, `r8 report` and `r8 eval` with quantized variants, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main


def _run(capsys: pytest.CaptureFixture[str], cache_dir: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--cache-dir", str(cache_dir), "--no-download", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_quantize_json_reports_settings_and_reason(capsys, cache_dir: Path) -> None:
    code, out, _ = _run(capsys, cache_dir, "quantize", "--backend", "all", "--json")
    assert code == 0
    variants = json.loads(out)["variants"]
    assert set(variants) == {"onnx-int8", "onnx-uint8", "torch-int8"}
    for v in variants.values():
        assert v["settings"]["reduce_range_reason"]
        assert v["calibration_size"] == 1000
    assert Path(variants["onnx-int8"]["path"]).is_file()
    assert variants["onnx-int8"]["structure"]["int8_weights"] == 10


def test_quantize_table_says_reduce_range_and_why(capsys, cache_dir: Path) -> None:
    code, out, _ = _run(capsys, cache_dir, "quantize", "--backend", "onnx", "--reduce-range")
    assert code == 0
    assert "onnx-uint8: reduce_range on - set by the user" in out.replace("\n", " ")


def test_eval_accepts_quantized_variants(capsys, cache_dir: Path) -> None:
    code, out, _ = _run(capsys, cache_dir, "eval", "--variant", "onnx-int8,torch-int8",
                        "--subset", "stratified:300", "--calib", "mlperf", "--json")
    assert code == 0
    rep = json.loads(out)
    assert set(rep["variants"]) == {"onnx-int8", "torch-int8"}
    assert all(v["accuracy"] > 0.8 for v in rep["variants"].values())


def test_report_json_and_csv(capsys, cache_dir: Path, tmp_path: Path) -> None:
    code, out, _ = _run(capsys, cache_dir, "report", "--variant", "onnx-uint8,tflite",
                        "--subset", "stratified:300", "--json", "--csv", str(tmp_path))
    assert code == 0
    rep = json.loads(out)
    assert list(rep["variants"]) == ["keras", "onnx-uint8", "tflite"]
    for v in rep["variants"].values():
        assert {"accuracy", "correct", "total", "delta_points", "size_bytes"} <= set(v)
    assert (tmp_path / "variants.csv").read_text().count("\n") == 4


@pytest.mark.parametrize(("argv", "fragment"), [
    (["quantize", "--calib", "train:0"], "selects nothing"),
    (["quantize", "--calib", "train:60000"], "more than the"),
    (["quantize", "--backend", "onnx", "--calib-method", "histogram"], "not available"),
    (["quantize", "--backend", "torch", "--calib-method", "entropy"], "not available"),
    (["eval", "--variant", "onnx-int9"], "unknown variant"),
])
def test_bad_input_is_one_line_error(capsys, cache_dir: Path, argv: list[str],
                                     fragment: str) -> None:
    code, _, err = _run(capsys, cache_dir, *argv)
    assert code == 2
    assert err.startswith("r8: error:") and fragment in err and err.count("\n") == 1


def test_unknown_backend_is_refused_by_the_parser(capsys, cache_dir: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(capsys, cache_dir, "quantize", "--backend", "tensorrt")
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
