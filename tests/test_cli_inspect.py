"""`r8 layers/weights/activations/compare` end to end on the real model and data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cli import main

REQUIRED = {"name", "shape", "min", "max", "mean", "std", "zeros_fraction"}


def r8(cache_dir: Path, *args: str) -> int:
    return main(["--cache-dir", str(cache_dir), "--no-download", *args])


def test_activations_json_and_csv(cache_dir: Path, tmp_path: Path, capsys) -> None:
    out_csv = tmp_path / "acts.csv"
    assert r8(cache_dir, "activations", "--input", "test:3", "--json", "--csv", str(out_csv)) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layout"] == "NHWC" and len(d["layers"]) == 30
    assert d["layers"][0]["name"] == "input_1"
    materialised = [x for x in d["layers"] if x["materialised"]]
    assert all(REQUIRED <= set(x) for x in d["layers"]) and len(materialised) == 23
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 30 and rows[2]["name"] == "batch_normalization"


def test_compare_json(cache_dir: Path, tmp_path: Path, capsys) -> None:
    out_csv = tmp_path / "cmp.csv"
    assert r8(cache_dir, "compare", "--a", "torch", "--b", "onnx", "--input", "test:3",
              "--json", "--csv", str(out_csv)) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["first_divergence"] is None
    for x in d["layers"]:
        assert REQUIRED | {"sqnr_db", "cosine", "mse", "max_abs_diff"} <= set(x)
        assert x["exact"] or x["sqnr_db"] > 80
    assert len(list(csv.DictReader(out_csv.open()))) == len(d["layers"])


def test_layers_and_weights_json(cache_dir: Path, capsys) -> None:
    assert r8(cache_dir, "layers", "--float-only", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert [x["name"] for x in d["layers"]][:3] == ["input_1", "conv2d", "batch_normalization"]
    assert r8(cache_dir, "weights", "--layer", "dense", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert [p["param"] for p in d["params"]] == ["kernel", "bias"]


@pytest.mark.parametrize("args, message", [
    (("activations", "--input", "test:722"), "test image 722"),
    (("activations", "--input", "pic:1"), "malformed input"),
    (("activations", "--input", "test:1", "--variant", "tflite"), "use one of keras"),
    (("weights", "--layer", "nope"), "unknown layer 'nope'; use one of"),
    (("compare", "--a", "torch", "--b", "onnx9", "--input", "test:1"), "variant 'onnx9'; use one of"),
    (("activations", "--input", "class:zebra:1"), "unknown class 'zebra'"),
])
def test_bad_input_is_one_line(cache_dir: Path, capsys, args: tuple[str, ...],
                               message: str) -> None:
    assert r8(cache_dir, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("r8: error:") and message in err and "\n" not in err
