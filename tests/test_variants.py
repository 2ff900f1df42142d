"""The variant registry: run-time registration, memoized identities, typed settings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine import cache, data, evaluate, quantize
from engine import variants as V
from engine.errors import UsageError
from engine.types import QuantSettings, VariantOptions
from engine.workspace import Workspace


def test_every_builtin_name_is_registered_once_with_its_family() -> None:
    assert V.names() == V.ALL_VARIANTS
    assert V.names("quantized") == V.QUANT_VARIANTS
    assert V.names(capture=True) == V.FLOAT_VARIANTS + V.QUANT_VARIANTS
    families = {n: V.get(n).family for n in V.names()}
    assert set(families.values()) == {"keras", "onnx", "torch", "tflite", "onnx_qdq", "torch_fx"}
    with pytest.raises(UsageError, match="unknown variant 'nope'"):
        V.get("nope")
    with pytest.raises(UsageError, match="already registered"):
        V.register(V.get("keras"))


def test_library_lists_are_per_family() -> None:
    # upgrading torch must not invalidate Keras predictions, nor TensorFlow the ONNX ones
    assert "torch" not in V.libraries("keras") and "onnxruntime" not in V.libraries("keras")
    assert "tensorflow" in V.libraries("keras")
    assert "torch" not in V.libraries("onnx") and "torch" not in V.libraries("onnx-int8")
    assert "torch" in V.libraries("torch-int8") and "onnxruntime" not in V.libraries("torch")
    assert all("torchao" not in V.libraries(n) for n in V.names())


def _train_hashes(ws: Workspace) -> list[tuple]:
    train = {str((ws.data_dir / f).resolve()) for f in data.TRAIN_FILES}
    return [k for k in ws._memo if isinstance(k, tuple) and k[0] == "sha256" and k[1] in train]


def test_identity_is_memoized_per_workspace_and_a_copy(ws: Workspace) -> None:
    fresh = Workspace.open(cache_dir=str(ws.cache_dir), download=False)
    first = V.identity(fresh, "onnx-uint8")
    V.identity(fresh, "torch-int8")  # the same calibration set: its files are not read again
    assert len(_train_hashes(fresh)) == len(data.TRAIN_FILES)
    first["mutated"] = True
    again = V.identity(fresh, "onnx-uint8")
    assert "mutated" not in again
    assert again["quant"] == quantize.identity(fresh, "onnx-uint8", VariantOptions())
    # the hashes are kept in the cache: another process's workspace reads them back
    kept = {e.meta.get("path") for e in fresh.cache.entries() if e.stage == "file-sha256"}
    assert {k[1] for k in _train_hashes(fresh)} <= kept


def test_quant_settings_parse_once_and_refuse_unknown_keys() -> None:
    q = QuantSettings.parse({"calib": "default", "per_channel": "false", "reduce_range": "1"})
    assert (q.calib, q.per_channel, q.reduce_range) == ("train:1000", False, True)
    assert VariantOptions(quant={"calib": "default"}).quant == QuantSettings()
    with pytest.raises(UsageError, match="unknown quantization setting colour"):
        QuantSettings.parse({"colour": 1})
    with pytest.raises(UsageError, match="not a whole number"):
        QuantSettings.parse({"calib_seed": "x"})


def test_repair_settings_join_the_key_only_when_set(ws: Workspace) -> None:
    plain = quantize.settings("onnx-int8", QuantSettings())
    assert "float_layers" not in plain.key_parts() and "bias_correction" not in plain.key_parts()
    kept = quantize.settings("onnx-int8", QuantSettings(float_layers=("conv2d",)))
    assert kept.key_parts()["float_layers"] == ["conv2d"]
    a = V.identity(ws, "onnx-int8")
    b = V.identity(ws, "onnx-int8", VariantOptions(quant=QuantSettings(bias_correction=True)))
    assert a["quant"]["key"] != b["quant"]["key"]
    corrected = quantize.settings("onnx-int8", QuantSettings(bias_correction=True))
    assert corrected.describe().endswith(", bias correction")  # implemented, no refusal


def test_a_variant_registered_at_run_time_is_one_registration(ws: Workspace) -> None:
    own = QuantSettings(calib="train:200")
    name = "torch-int8@train200"
    V.register(replace(V.get("torch-int8"), name=name, recipe="torch-int8", quant=own))
    try:
        assert name in V.parse_variants(f"keras,{name}")
        sample = data.stratified(ws.test_set, 300, 1)
        mine = evaluate.predictions(ws, name, sample)
        same = evaluate.predictions(ws, "torch-int8", sample, VariantOptions(quant=own))
        default = evaluate.predictions(ws, "torch-int8", sample)
        np.testing.assert_array_equal(mine.probs, same.probs)
        assert not np.array_equal(mine.probs, default.probs)  # its own settings were used
        assert V.identity(ws, name)["variant"] == name
        key = cache.make_key("x", V.identity(ws, name))
        assert key != cache.make_key("x", V.identity(ws, "torch-int8", VariantOptions(quant=own)))
    finally:
        V.unregister(name)
    with pytest.raises(UsageError):
        V.get(name)


@pytest.mark.slow
def test_a_warm_report_of_every_variant_imports_no_framework(ws: Workspace) -> None:
    import subprocess
    import sys

    from engine import report
    from engine.subsets import select_subset

    report.variants_report(ws, list(V.ALL_VARIANTS), select_subset(ws, "first:200"))  # fill
    code = (
        "import sys\n"
        "from engine import report, variants as V\n"
        "from engine.subsets import select_subset\n"
        "from engine.workspace import Workspace\n"
        f"ws = Workspace.open(cache_dir={str(ws.cache_dir)!r}, download=False)\n"
        "rep = report.variants_report(ws, list(V.ALL_VARIANTS), select_subset(ws, 'first:200'))\n"
        "assert all(r.size_bytes for r in rep.rows), rep.rows\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'tensorflow', 'onnx', 'onnxruntime', 'onnx2torch', 'torchvision')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "", out.stdout[:300]
