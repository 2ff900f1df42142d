"""`VARIANT@recommended` (settings saved by `r8 quantize --recommend`) is usable like any
variant in `r8 compare` (accumulated and isolated error), `r8 activations --quant` and
`r8 sensitivity`, with its saved settings, not the command line's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import main
from engine import data
from engine import recommend as RC
from engine import sensitivity as S
from engine import variants as V
from engine.errors import UsageError
from engine.workspace import Workspace

NAME = "torch-int8@recommended"
SAVED = {"float_layers": "dense"}
"""Saved settings of the hand-made recommendation: what `r8 quantize --recommend` would
save (the search itself is tested in test_recommend.py); dense float is cheap to build."""


@pytest.fixture()
def saved(ws: Workspace, cache_dir: Path) -> Iterator[Workspace]:
    """A recommendation for torch-int8 saved in the test cache, removed afterwards (the
    test cache is shared; a search saved there before is put back)."""
    key = RC._save_key(ws, "torch-int8", V.VariantOptions())
    before = ws.cache.load(RC.STAGE, key)
    ws.cache.save(RC.STAGE, key, {}, {"variant": "torch-int8",
                                      "recommendation": {"chosen": {"quant": SAVED}}})
    try:
        yield ws
    finally:
        ws.cache.remove(RC.STAGE, key)
        if before is not None:
            ws.cache.save(RC.STAGE, key, before[0], before[1])
        V.unregister(NAME)


def _r8(capsys: pytest.CaptureFixture[str], cache_dir: Path, *argv: str) -> dict:
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), *argv, "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_compare_with_error_both(saved: Workspace, capsys, cache_dir: Path) -> None:
    rec = _r8(capsys, cache_dir, "compare", "--a", "onnx", "--b", NAME,
              "--input", "batch:test:0-49", "--error", "both",
              "--float-layers", "conv2d")  # the flags do not reach the saved settings
    plain = _r8(capsys, cache_dir, "compare", "--a", "onnx", "--b", "torch-int8",
                "--input", "batch:test:0-49", "--error", "both")
    assert rec["b"] == NAME and rec["isolated_variant"] == NAME
    rows = {r["name"]: r for r in rec["layers"]}
    plain_rows = {r["name"]: r for r in plain["layers"]}
    # dense is float in the saved settings: it adds no error of its own (no isolated row
    # for its logits or softmax); the first conv (row `activation`, after its ReLU) is int8
    # and the same as plain torch-int8's
    assert "dense:logits" in plain_rows and "dense:logits" not in rows
    assert plain_rows["dense"]["isolated"]["sqnr_db"] < 60
    assert rows["dense"]["isolated"]["sqnr_db"] > 100  # float softmax: float rounding only
    assert rows["activation"]["isolated"]["sqnr_db"] < 60
    assert rows["activation"]["isolated"] == plain_rows["activation"]["isolated"]
    assert rows["activation"]["sqnr_db"] == plain_rows["activation"]["sqnr_db"]
    assert rows["dense"]["sqnr_db"] != plain_rows["dense"]["sqnr_db"]


def test_activations_with_quant(saved: Workspace, capsys, cache_dir: Path) -> None:
    rec = _r8(capsys, cache_dir, "activations", "--variant", NAME, "--input", "test:3")
    plain = _r8(capsys, cache_dir, "activations", "--variant", "torch-int8",
                "--input", "test:3")
    assert rec["variant"] == NAME
    by = {r["name"]: r for r in rec["layers"]}
    by_plain = {r["name"]: r for r in plain["layers"]}
    assert by["activation"]["mean"] == by_plain["activation"]["mean"]  # same int8 conv2d
    assert by["dense"]["mean"] != by_plain["dense"]["mean"]  # float dense head
    q = _r8(capsys, cache_dir, "activations", "--variant", NAME, "--input", "test:3",
            "--quant")
    q_plain = _r8(capsys, cache_dir, "activations", "--variant", "torch-int8",
                  "--input", "test:3", "--quant")
    assert q["variant"] == NAME
    rows = {r["name"]: r for r in q["quant"]}
    rows_plain = {r["name"]: r for r in q_plain["quant"]}
    assert rows["activation"] == rows_plain["activation"]  # one calibration, same conv
    assert "dense" in rows_plain and "dense" not in rows  # float: no quantization params


def test_sensitivity_starts_from_the_saved_settings(saved: Workspace) -> None:
    ws = saved
    RC.register_requested(ws, [NAME], V.VariantOptions())
    sample = data.stratified(ws.test_set, 200, 5)
    rep = S.sensitivity(ws, NAME, sample, layers=("conv2d",), noise_seeds=(0,))
    assert "float: dense" in rep.variant and rep.baseline == rep.variant
    plain = S.sensitivity(ws, "torch-int8", sample, layers=("conv2d",), noise_seeds=(0,))
    # the row floats conv2d on top of the saved float dense: its own cached point
    from engine import evaluate
    both = evaluate.predictions(ws, "torch-int8", sample, V.VariantOptions(
        quant={"float_layers": "conv2d,dense"}))
    assert rep.layers[0].correct == int((both.probs.argmax(1) == sample.labels).sum())
    given = evaluate.predictions(ws, NAME, sample)
    assert rep.int8_accuracy == float((given.probs.argmax(1) == sample.labels).mean())
    assert plain.int8_accuracy != rep.int8_accuracy or plain.layers[0] != rep.layers[0]
    with pytest.raises(UsageError, match="no layer left to measure"):
        S.sensitivity(ws, NAME, sample, layers=("dense",), noise_seeds=(0,))


def test_cli_sensitivity_names_the_recommended_variant(saved: Workspace, capsys,
                                                       cache_dir: Path) -> None:
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), "sensitivity", "--variant", NAME,
               "--layers", "dense", "--subset", "first:100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no layer left to measure" in err[0], err
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), "sensitivity", "--variant",
               "onnx-int8@recommended", "--subset", "first:100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "r8 quantize --recommend --variant onnx-int8" in err[0]
