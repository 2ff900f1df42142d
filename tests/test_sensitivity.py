"""Per-layer sensitivity: the sign test by hand, a real run on a subset (consistency,
model order, one calibration, resuming after a cancel) and the CLI's bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine import data
from engine import sensitivity as S
from engine.errors import CancelledError, UsageError
from engine.variants import VariantOptions
from engine.workspace import Workspace


def test_sign_test_by_hand() -> None:
    assert S.sign_test_p(0, 0) == 1.0
    assert S.sign_test_p(3, 3) == 1.0
    assert S.sign_test_p(5, 0) == pytest.approx(2 / 32)  # 2 * (1/2)^5
    assert S.sign_test_p(1, 9) == pytest.approx(2 * 11 / 1024)  # 2 * (C(10,0)+C(10,1))/2^10


@pytest.fixture(scope="module")
def sample(ws: Workspace) -> data.Dataset:
    return data.stratified(ws.test_set, 300, 7)


def _fresh_workspace(ws: Workspace, tmp: Path) -> Workspace:
    """A workspace with an empty prediction cache, seeded with the float conversion, layer
    map and ORT calibration ranges of ``ws`` (so nothing of the run under test is cached)."""
    from engine import quantize as Q
    from engine.layers import layer_map

    layer_map(ws)
    Q.onnx_ranges_path(ws, Q.settings("onnx-int8"), 13)
    for stage in ("onnx", "quant-pre", "quant-ranges", "layers"):
        shutil.copytree(ws.cache_dir / stage, tmp / stage)
    return Workspace.open(cache_dir=str(tmp), download=False)


@pytest.mark.slow
def test_float_one_rows_are_consistent_and_resume_after_cancel(
        ws: Workspace, sample: data.Dataset, tmp_path: Path) -> None:
    ws = _fresh_workspace(ws, tmp_path)
    cancel = threading.Event()
    seen: list[str] = []

    def on_progress(done: int, total: int, what: str) -> None:
        seen.append(what)
        if what.endswith(": conv2d"):  # the first layer has finished: interrupt
            cancel.set()

    with pytest.raises(CancelledError):
        S.sensitivity(ws, "onnx-int8", sample, "float-one", layers=("dense", "conv2d"),
                      noise_seeds=(0, 1), on_progress=on_progress, cancel=cancel)
    assert not any(w.endswith(": dense") for w in seen)
    rep = S.sensitivity(ws, "onnx-int8", sample, "float-one", layers=("dense", "conv2d"),
                        noise_seeds=(0, 1))
    assert [r.layer for r in rep.layers] == ["conv2d", "dense"]  # model order
    assert rep.layers[0].cached  # kept from the interrupted run
    base = round(rep.baseline_accuracy * rep.size)
    for r in rep.layers:
        assert r.correct - base == r.gained - r.lost
        assert r.delta_points == pytest.approx(100 * (r.accuracy - rep.baseline_accuracy))
        assert 0 < r.p_value <= 1
    assert rep.noise_accuracies[0] == rep.baseline_accuracy  # seed 0 is the default
    assert rep.noise_floor_points == pytest.approx(
        100 * abs(rep.noise_accuracies[0] - rep.noise_accuracies[1]))
    assert rep.variant == "onnx-int8" and rep.baseline == "onnx-int8"


@pytest.mark.slow
def test_int8_one_is_measured_against_float(ws: Workspace, sample: data.Dataset) -> None:
    rep = S.sensitivity(ws, "torch-int8", sample, "int8-one", layers=("dense",),
                        noise_seeds=(0,))
    assert rep.baseline_accuracy == rep.float_accuracy
    (row,) = rep.layers
    assert row.correct - round(rep.float_accuracy * rep.size) == row.gained - row.lost


def test_bad_requests_name_the_fix(ws: Workspace, sample: data.Dataset) -> None:
    with pytest.raises(UsageError, match="'torch' is a float variant; use --variant"):
        S.check_request(ws, "torch", "float-one", sample, None, VariantOptions())
    with pytest.raises(UsageError, match="unknown layer 'dens' for --layers.*average_pooling2d"):
        S.check_request(ws, "onnx-int8", "float-one", sample, ("dens",), VariantOptions())
    empty = data.by_class(sample, "cat")
    empty = data.Dataset("none", empty.images[:0], empty.labels[:0], empty.indices[:0], "x")
    with pytest.raises(UsageError, match="holds no images"):
        S.check_request(ws, "onnx-int8", "float-one", empty, None, VariantOptions())
    with pytest.raises(UsageError, match="drop --float-layers"):
        S.check_request(ws, "onnx-int8", "int8-one", sample, None,
                        VariantOptions(quant={"float_layers": "dense"}))


ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, cache_dir: Path, *argv: str) -> tuple[int, str, str]:
    """`r8 ARGV` in a fresh process from this checkout (in process, pytest's rootdir on
    sys.path lets tests/tui shadow the tui package, so an editable install's tui.cli from
    another checkout could answer instead)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "cli", "--cache-dir", str(cache_dir),
                           "--no-download", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(("argv", "fragment"), [
    (("--variant", "keras"), "'keras' is a float variant"),
    (("--variant", "torch-int8", "--layers", "nope"), "unknown layer 'nope' for --layers"),
    (("--variant", "torch-int8", "--subset", "first:0"), "first:0 selects nothing"),
])
def test_cli_bad_input_is_one_line(capsys, cache_dir: Path, argv, fragment: str) -> None:
    code, out, err = _run(capsys, cache_dir, "sensitivity", *argv)
    assert code == 2 and out == ""
    assert err.startswith("r8: error: ") and fragment in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_json_and_csv(capsys, cache_dir: Path, tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    code, out, _ = _run(capsys, cache_dir, "sensitivity", "--variant", "onnx-int8",
                        "--subset", "stratified:300:7", "--layers", "dense,conv2d", "--json",
                        "--csv", str(csv))
    assert code == 0
    d = json.loads(out)
    assert {"baseline_accuracy", "noise_floor_points", "layers"} <= set(d)
    assert [r["layer"] for r in d["layers"]] == ["conv2d", "dense"]
    assert {"layer", "accuracy", "delta_points", "gained", "lost"} <= set(d["layers"][0])
    assert csv.read_text().splitlines()[0].startswith("layer,accuracy,correct,delta_points")
