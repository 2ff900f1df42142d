"""Layer settings in a variant's name (engine.named_settings): several settings of one int8
variant side by side in `r8 report`, each the same model as the flags would build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from engine import named_settings as N
from engine import variants as V
from engine.errors import UsageError
from engine.workspace import Workspace


def test_parse_names_the_settings() -> None:
    assert N.parse("torch-int8@bias-correction") == (
        "torch-int8", {"float_layers": "", "bias_correction": True})
    assert N.parse("onnx-int8@float=dense+conv2d_1@bias-correction") == (
        "onnx-int8", {"float_layers": "dense,conv2d_1", "bias_correction": True})
    assert N.is_named("onnx-int8@float=dense") and not N.is_named("onnx-int8@recommended")
    assert not N.is_named("onnx-int8")
    for bad in ("onnx-int8@bias", "onnx-int8@float=", "onnx-int8@float=a@float=b",
                "onnx-int8@bias-correction@bias-correction"):
        with pytest.raises(UsageError, match="write VARIANT@bias-correction"):
            N.parse(bad)
    with pytest.raises(UsageError, match="need an int8 variant"):
        N.parse("onnx@bias-correction")
    assert V.parse_variants("onnx-int8,onnx-int8@float=dense") == ["onnx-int8",
                                                                   "onnx-int8@float=dense"]
    with pytest.raises(UsageError, match="unknown variant 'keras@bias-correction'"):
        V.parse_variants("keras@bias-correction")


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
    ("onnx-int8@bias", "cannot read '@bias' in 'onnx-int8@bias'; write VARIANT@"),
    ("onnx@float=dense", "unknown variant 'onnx@float=dense'"),
])
def test_cli_bad_names_are_one_line(capsys, cache_dir: Path, variant: str,
                                    fragment: str) -> None:
    capsys.readouterr()
    rc = main(["--cache-dir", str(cache_dir), "report", "--variant", f"onnx,{variant}",
               "--subset", "first:10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and fragment in err[0], err
