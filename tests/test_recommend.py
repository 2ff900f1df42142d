"""The settings search: a validation split disjoint from calibration, a choice that never
reads test labels, the saved `VARIANT@recommended` name, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine import calibration, data
from engine import quantize as Q
from engine import recommend as RC
from engine import variants as V
from engine.errors import UsageError
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def test_validation_split_is_disjoint_from_every_calibration_set(ws: Workspace) -> None:
    s = Q.settings("torch-int8")
    val, excluded = RC.validation_split(ws, s, 2000)
    assert len(val) == 2000 and val.name.startswith("train[validation:2000")
    seen = set(val.indices.tolist())
    for spec in ("default", *(f"train:{n}" for n in RC.CALIB_SIZES)):
        calib = data.stratified(ws.train_set, int(calibration.normalize_spec(spec)[6:]),
                                s.calib_seed)
        assert not seen & set(calib.indices.tolist()), spec
    assert excluded >= max(RC.CALIB_SIZES)
    assert np.bincount(val.labels, minlength=10).tolist() == [200] * 10  # stratified


@pytest.mark.slow
def test_choice_ignores_test_labels(ws: Workspace) -> None:
    """The same choice (and the same validation steps) with the test labels shuffled; only
    the test figures, computed after the choice, move."""
    test = data.stratified(ws.test_set, 500, 3)
    rng = np.random.default_rng(0)
    shuffled = data.make_dataset(test.name + "[shuffled labels]", test.images,
                                 rng.permutation(test.labels), test.indices, test.source)
    kw = dict(target_delta=0.0, max_float_layers=1, validation_size=1000, calib_search=False)
    a = RC.recommend(ws, "onnx-uint8", test, **kw)
    b = RC.recommend(ws, "onnx-uint8", shuffled, **kw)
    assert a.chosen == b.chosen
    assert a.steps == b.steps
    assert a.test["chosen"]["accuracy"] != b.test["chosen"]["accuracy"]
    assert b.test["float"]["accuracy"] < 0.3  # shuffled labels: the test set was really read
    assert RC.saved_quant(ws, "onnx-uint8@recommended", V.VariantOptions()) == b.chosen.quant
    name, opts = RC.resolve(ws, "onnx-uint8@recommended", V.VariantOptions())
    assert name == "onnx-uint8" and opts.quant == V.QuantSettings.parse(b.chosen.quant)


def test_saved_name_without_a_search_names_the_command(tmp_path: Path) -> None:
    ws = Workspace.open(cache_dir=str(tmp_path), download=False)
    with pytest.raises(UsageError, match="run `r8 quantize --recommend --variant torch-int8`"):
        RC.saved_quant(ws, "torch-int8@recommended", V.VariantOptions())
    assert V.parse_variants("keras,torch-int8@recommended") == ["keras",
                                                                "torch-int8@recommended"]
    with pytest.raises(UsageError, match="unknown variant 'torch@recommended'"):
        V.parse_variants("torch@recommended")


def test_recommend_refuses_layer_settings(ws: Workspace) -> None:
    opts = replace(V.VariantOptions(), quant={"bias_correction": True})
    with pytest.raises(UsageError, match="drop --float-layers and --bias-correction"):
        RC.check_request(ws, "torch-int8", 0.05, 2, opts)


@pytest.mark.parametrize(("argv", "fragment"), [
    (("--variant", "torch"), "'torch' is a float variant; use --variant onnx-int8"),
    (("--variant", "torch-int8", "--target-delta", "-1"), "--target-delta -1.0 is negative"),
    (("--variant", "torch-int8", "--max-float-layers", "99"),
     "--max-float-layers 99 is out of range; the model has 14 quantizable layers, use 0..14"),
    (("--variant", "torch-int8", "--float-layers", "dens"),
     "unknown layer 'dens' for --float-layers; use one or more of conv2d"),
    (("--variant", "torch", "--float-layers", "dense"),
     "--float-layers applies to int8 variants only, not torch"),
    ((), "--recommend needs --variant"),
])
def test_cli_bad_input_is_one_line(cache_dir: Path, argv, fragment: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "--cache-dir", str(cache_dir), "--no-download",
         "quantize", "--recommend", *argv],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"},
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("r8: error: ") and proc.stderr.count("\n") == 1
    assert fragment in proc.stderr, proc.stderr


def test_saved_recommendation_is_registered_as_a_variant(tmp_path: Path) -> None:
    """`VARIANT@recommended` becomes one registry entry built as VARIANT with the saved
    settings (its own identity and cache key); the settings flags do not reach it."""
    ws = Workspace.open(cache_dir=str(tmp_path), download=False)
    opts = V.VariantOptions()
    saved = {"calib": "train:2000", "bias_correction": True}
    ws.cache.save(RC.STAGE, RC._save_key(ws, "torch-int8", opts), {},
                  {"variant": "torch-int8", "recommendation": {"chosen": {"quant": saved}}})
    name = "torch-int8@recommended"
    try:
        RC.register_requested(ws, V.parse_variants(f"keras,{name}"), opts)
        v = V.get(name)
        assert isinstance(v, V.QuantizedVariant) and v.base == "torch-int8"
        assert name in V.names(kind="quantized")
        other = replace(opts, quant={"calib": "train:500"})  # flags for the other variants
        s = v.settings(other)
        assert (s.calib, s.bias_correction, s.variant) == ("train:2000", True, "torch-int8")
        want = V.identity(ws, "torch-int8", replace(opts, quant=saved))["quant"]["key"]
        assert V.identity(ws, name, other)["quant"]["key"] == want
        assert want != V.identity(ws, "torch-int8", opts)["quant"]["key"]
    finally:
        V.unregister(name)
