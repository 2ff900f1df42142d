"""The `r8` command line: JSON output and one-line errors (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def r8(*args: str, cache_dir: Path | str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "--cache-dir", str(cache_dir), "--no-download", *args],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
        timeout=600,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    error_lines = [ln for ln in lines if ln.startswith("r8: error:")]
    assert len(error_lines) == 1, proc.stderr
    for w in words:
        assert w in error_lines[0], (w, error_lines[0])


def test_verify_json(cache_dir):
    proc = r8("verify", "--json", "--real", "200", "--random", "50", cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["passed"] is True
    assert {(p["inputs"]) for p in out["pairs"]} == {"real", "random"}
    for p in out["pairs"]:
        assert set(p) >= {"a", "b", "inputs", "n", "max_abs_diff", "mean_abs_diff",
                          "argmax_agreement"}
        assert p["argmax_agreement"] == 1.0


def test_eval_json_and_csv(cache_dir, tmp_path):
    proc = r8("eval", "--variant", "onnx,torch", "--subset", "mlperf-perf", "--json",
              "--csv", str(tmp_path), cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dataset"]["size"] == 200
    for name in ("onnx", "torch"):
        v = out["variants"][name]
        assert v["total"] == 200 and len(v["confusion"]) == 10
        assert sum(map(sum, v["confusion"])) == 200
        assert sum(c["total"] for c in v["per_class"].values()) == 200
    assert out["agreement"][0]["argmax_agreement"] == 1.0
    rows = (tmp_path / "accuracy.csv").read_text().splitlines()
    assert rows[0].startswith("variant,accuracy") and len(rows) == 3
    assert (tmp_path / "confusion_torch.csv").exists()


def test_cache_ls_json(cache_dir):
    proc = r8("cache", "ls", "--json", cache_dir=cache_dir)
    assert proc.returncode == 0
    assert any(e["stage"] == "onnx" for e in json.loads(proc.stdout)["entries"])


def test_info_json(cache_dir):
    proc = r8("info", "--json", "--no-cuda-check", cache_dir=cache_dir)
    info = json.loads(proc.stdout)
    assert info["model"].endswith("pretrainedResnet.h5")
    assert info["versions"]["tf2onnx"] == "1.17.0"


@pytest.mark.parametrize(
    "args,words",
    [
        (["eval", "--variant", "tensorrt"], ["unknown variant 'tensorrt'"]),
        (["eval", "--subset", "first:0"], ["first:0"]),
        (["eval", "--subset", "class:unicorn"], ["unknown class 'unicorn'"]),
        (["convert", "--opset", "99"], ["--opset between 13 and 18"]),
        (["--model", "/nonexistent/m.h5", "convert"], ["does not exist", "--model"]),
        (["--data-dir", "/nonexistent", "eval"], ["does not exist", "--data-dir"]),
    ],
)
def test_user_mistakes(cache_dir, args, words):
    assert_one_line_error(r8(*args, cache_dir=cache_dir), *words)


def test_bad_model_file(cache_dir, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert_one_line_error(r8("--model", str(bad), "convert", cache_dir=tmp_path / "c"),
                          "not a loadable Keras model")
    assert not any(p.suffix == ".onnx" for p in (tmp_path / "c").rglob("*"))


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("")
    assert_one_line_error(r8("eval", cache_dir=blocker / "sub"), "not writable", "--cache-dir")


def test_argparse_rejects_bad_batch_size(cache_dir):
    proc = r8("eval", "--batch-size", "0", cache_dir=cache_dir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not positive" in proc.stderr


def test_cuda_request_without_gpu_falls_back(cache_dir):
    proc = r8("eval", "--variant", "torch", "--subset", "first:20", "--device", "cuda",
              "--json", cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    import torch

    details = out["variants"]["torch"]["details"]
    if torch.cuda.is_available():  # a GPU box: it ran there, TF32 off by default, no fallback
        assert details["device"] == "cuda" and details["tf32"] is False, details
        assert not any("falling back" in n for n in out["notes"]), out["notes"]
    else:
        assert details["device"] == "cpu"
        assert any("falling back to CPU" in n for n in out["notes"])
