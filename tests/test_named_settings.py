"""Layer settings in a variant's name (engine.named_settings): several settings of one int8
variant side by side in `r8 report`, each the same model as the flags would build."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cli import main
from engine import named_settings as N
from engine import quantize
from engine import variants as V
from engine.errors import UsageError
from engine.types import QuantSettings
from engine.workspace import Workspace


def test_parse_names_the_settings() -> None:
    assert N.parts("torch-int8@bias-correction") == ("torch-int8", {"bias_correction": True})
    assert N.parts("onnx-int8@float=dense+conv2d_1@bias-correction") == (
        "onnx-int8", {"float_layers": ("dense", "conv2d_1"), "bias_correction": True})
    assert N.parts("onnx-int8@calib=train:500@seed=3@method=entropy@per-tensor@full-range") \
        == ("onnx-int8", {"calib": "train:500", "calib_seed": "3", "method": "entropy",
                          "per_channel": False, "reduce_range": False})
    assert N.parts("onnx-int8@float=none@no-bias-correction@per-channel@reduce-range") == (
        "onnx-int8", {"float_layers": (), "bias_correction": False, "per_channel": True,
                      "reduce_range": True})
    assert N.is_named("onnx-int8@float=dense") and not N.is_named("onnx-int8@recommended")
    assert not N.is_named("onnx-int8")
    assert V.parse_variants("onnx-int8,onnx-int8@float=dense") == ["onnx-int8",
                                                                   "onnx-int8@float=dense"]
    with pytest.raises(UsageError, match="unknown variant 'keras@bias-correction'"):
        V.parse_variants("keras@bias-correction")


@pytest.mark.parametrize("bad, fragment", [
    ("onnx-int8@bias", "cannot read '@bias' in 'onnx-int8@bias'; write VARIANT@PART"),
    ("onnx-int8@float=", "cannot read '@float='"),
    ("onnx-int8@calib", "cannot read '@calib'"),
    ("onnx-int8@colour=red", "cannot read '@colour=red'"),
    ("onnx-int8@float=a@float=b", "sets float_layers a second time"),
    ("onnx-int8@bias-correction@no-bias-correction", "sets bias_correction a second time"),
    ("onnx-int8@per-tensor@per-channel", "sets per_channel a second time"),
    ("onnx-int8@seed=x", "seed 'x' in 'onnx-int8@seed=x' is not a whole number"),
    ("onnx-int8@seed=-1", "seed '-1'"),
    ("onnx-int8@calib=train:0", "calibration size 0 in 'train:0' selects nothing"),
    ("onnx-int8@calib=tests", "unknown calibration set 'tests'"),
    ("torch-int8@method=entropy", "'entropy' is not available for torch-int8; torch supports"),
    ("onnx-int8@method=histo", "'histo' is not available for onnx-int8; use one of"),
    ("onnx@bias-correction", "settings in 'onnx@bias-correction' need an int8 variant"),
])
def test_bad_parts_are_one_usage_error(bad: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        N.parse(bad)
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)


def _same_model(recipe: str, a: QuantSettings, b: QuantSettings) -> None:
    """The same cache key: the same quantized model (the reduce_range reason is no part)."""
    assert quantize.settings(recipe, a).key_parts() == quantize.settings(recipe, b).key_parts()


BASES = [QuantSettings(), QuantSettings.parse({"calib": "train:500", "float_layers": "add",
                                               "bias_correction": True, "method": "minmax",
                                               "per_channel": False, "reduce_range": True})]
"""r8's defaults, and a command with every setting changed."""
CHANGES: list[dict[str, Any]] = [
    {"float_layers": "dense"}, {"float_layers": "conv2d_1,dense,add"}, {"float_layers": ""},
    {"bias_correction": True}, {"bias_correction": False}, {"calib": "train:200"},
    {"calib": "mlperf"}, {"calib": "random:64"}, {"calib_seed": 3}, {"method": "entropy"},
    {"method": "percentile"}, {"method": "histogram"}, {"method": "minmax"},
    {"per_channel": False}, {"per_channel": True}, {"reduce_range": False},
    {"reduce_range": True},
    {"float_layers": "dense", "bias_correction": True, "calib": "train:500", "calib_seed": 7,
     "method": "entropy", "per_channel": False, "reduce_range": False},
]


@pytest.mark.parametrize("recipe", V.QUANT_VARIANTS)
@pytest.mark.parametrize("base_index", range(len(BASES)))
def test_format_and_parse_round_trip(recipe: str, base_index: int) -> None:
    base = BASES[base_index]
    assert N.format(recipe, base, base) == recipe  # nothing differs: the recipe's own name
    backend = quantize.VARIANT_BACKEND[recipe]
    allowed = quantize.ONNX_METHODS if backend == "onnx" else quantize.TORCH_METHODS
    seen: dict[str, Any] = {}
    for change in CHANGES:
        if change.get("method", allowed[0]) not in allowed:
            continue
        quant = QuantSettings.parse({**base.to_mapping(), **change}, base.cpu)
        name = N.format(recipe, quant, base)
        assert "," not in name and " " not in name, name
        back_recipe, back = N.parse(name, base)
        assert back_recipe == recipe
        _same_model(recipe, back, quant)
        if name != recipe:  # a name names one model: two different models, two names
            resolved = quantize.settings(recipe, quant).key_parts()
            assert seen.setdefault(name, resolved) == resolved, name
        assert N.format(recipe, back, base) == name  # and the name it gives is the same
    quant = QuantSettings.parse({**base.to_mapping(), **CHANGES[-1], "method": allowed[-1]},
                                base.cpu)
    assert N.format(recipe, quant) == N.format(recipe, quant, QuantSettings())


def test_format_writes_the_documented_parts() -> None:
    q = QuantSettings.parse({"float_layers": "dense,conv2d_1", "bias_correction": True,
                             "calib": "train:500", "calib_seed": 3, "method": "entropy",
                             "per_channel": False, "reduce_range": False})
    auto_rr = quantize.settings("onnx-int8", QuantSettings()).reduce_range
    expected = ("onnx-int8@float=conv2d_1+dense@bias-correction@calib=train:500@seed=3"
                "@method=entropy@per-tensor" + ("@full-range" if auto_rr else ""))
    assert N.format("onnx-int8", q) == expected
    base = QuantSettings.parse({"float_layers": "dense", "bias_correction": True})
    assert N.format("onnx-int8", QuantSettings(), base) == \
        "onnx-int8@float=none@no-bias-correction"
    # a method equal to the backend's default is no change of settings
    assert N.format("torch-int8", replace(q, method="histogram"), replace(q, method=None)) == \
        "torch-int8"
    with pytest.raises(UsageError, match="'onnx' is not an int8 recipe"):
        N.format("onnx", q)


def test_registered_name_has_the_flags_identity(ws: Workspace) -> None:
    name = "onnx-int8@float=dense@bias-correction"
    opts = V.VariantOptions(quant={"calib": "train:500"})
    try:
        N.register(ws, name, opts)
        flags = V.VariantOptions(quant={"calib": "train:500", "float_layers": "dense",
                                        "bias_correction": True})
        assert V.identity(ws, name, opts)["quant"] == V.identity(ws, "onnx-int8", flags)["quant"]
        assert V.identity(ws, name, opts)["quant"] != V.identity(ws, "onnx-int8", opts)["quant"]
    finally:
        V.unregister(name)
    with pytest.raises(UsageError, match="unknown layer 'convX' for @float= in .*conv2d, "):
        N.register(ws, "onnx-int8@float=convX", opts)


@pytest.mark.slow
def test_report_shows_settings_side_by_side(capsys, cache_dir: Path) -> None:
    named = "onnx-int8@float=dense"
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), "report", "--variant",
               f"onnx,onnx-int8,{named}", "--subset", "first:300", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    rep = json.loads(out.out)["variants"]
    assert list(rep)[-3:] == ["onnx", "onnx-int8", named]  # after the keras baseline
    assert rep[named]["details"]["quant"]["float_layers"] == ["dense"]
    assert rep["onnx-int8"]["details"]["quant"]["float_layers"] == []
    rc = main(["--cache-dir", str(cache_dir), "eval", "--variant", "onnx-int8",
               "--float-layers", "dense", "--subset", "first:300", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    flags = json.loads(out.out)["variants"]["onnx-int8"]
    assert flags["correct"] == rep[named]["correct"]  # the same model as the flags build
    V.unregister(named)


@pytest.mark.parametrize("variant, fragment", [
    ("onnx-int8@float=convX", "unknown layer 'convX' for @float="),
    ("onnx-int8@bias", "cannot read '@bias' in 'onnx-int8@bias'; write VARIANT@PART"),
    ("onnx@float=dense", "unknown variant 'onnx@float=dense'"),
])
def test_cli_bad_names_are_one_line(capsys, cache_dir: Path, variant: str,
                                    fragment: str) -> None:
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), "report", "--variant", f"onnx,{variant}",
               "--subset", "first:10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and fragment in err[0], err
