"""`r8` under issue 15: every user mistake is one `r8: error:` line, --json is one JSON object
on stdout whatever a library prints, a full disk still prints the result, CSV files are not
overwritten without --force."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import assert_one_line_error, r8
from tests.test_reliability import DROP_DAC

JSON_COMMANDS = {
    "info": ["info", "--no-cuda-check"],
    "convert": ["convert"],
    "verify": ["verify", "--real", "20", "--random", "2"],
    "eval": ["eval", "--variant", "onnx", "--subset", "first:100"],
    "cache-ls": ["cache", "ls"],
    "report": ["report", "--variant", "onnx", "--subset", "first:100"],
    "layers": ["layers", "--float-only"],
    "weights": ["weights", "--variant", "onnx"],
    "activations": ["activations", "--variant", "onnx", "--input", "test:0"],
    "compare": ["compare", "--a", "keras", "--b", "onnx", "--input", "test:0"],
    # entropy calibration makes ONNX Runtime print its progress on stdout
    "quantize-entropy": ["quantize", "--backend", "onnx", "--calib", "train:100",
                         "--calib-method", "entropy"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(JSON_COMMANDS))
def test_every_json_is_one_object_on_stdout(cache_dir, name):
    proc = r8(*JSON_COMMANDS[name], "--json", cache_dir=cache_dir)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), dict), proc.stdout[:300]


def test_cache_clear_json(tmp_path):
    proc = r8("cache", "clear", "--json", cache_dir=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["removed_entries"] == 0


def test_json_keeps_fd1_chatter_off_stdout(tmp_path):
    """The mechanism itself: C code (fd 1) and print() writing during a --json command."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "import cli.info as info\n"
        "real = info.run\n"
        "def chatty(args):\n"
        "    os.write(1, b'Collecting tensor data and making histogram ...\\n')\n"
        "    print('library print')\n"
        "    return real(args)\n"
        "info.run = chatty\n"
        "from cli import main\n"
        f"sys.exit(main(['--cache-dir', {str(tmp_path)!r}, '--no-download', 'info', "
        "'--no-cuda-check', '--json']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(json.loads(proc.stdout), dict)
    assert "Collecting tensor data" in proc.stderr and "library print" in proc.stderr


@pytest.mark.parametrize("args,words", [
    (["activations", "--variant", "onnx", "--input", "random:-1"], ["seed -1"]),
    (["eval", "--variant", "onnx", "--subset", "stratified:10:-1"], ["seed -1"]),
    (["quantize", "--backend", "onnx", "--calib-seed", "-1"], ["--calib-seed 0 or more"]),
    (["activations", "--variant", "onnx", "--input", "batch:test:0-9999"],
     ["a capture keeps every layer", "at most"]),
])
def test_bad_arguments_are_one_line(cache_dir, args, words):
    assert_one_line_error(r8(*args, cache_dir=cache_dir), *words)


def test_index_file_npz_is_one_line(cache_dir, tmp_path):
    f = tmp_path / "idx.npz"
    np.savez(f, a=np.arange(3))
    for args in (["activations", "--variant", "onnx", "--input", f"indices:{f}"],
                 ["eval", "--variant", "onnx", "--subset", f"indices:{f}"]):
        assert_one_line_error(r8(*args, cache_dir=cache_dir), ".npz archive", "numpy.save")


def test_float_labels_are_one_line(cache_dir, tmp_path, test_set):
    d = tmp_path / "data"
    d.mkdir()
    raw = pickle.loads((Path(test_set.source) / "test_batch").read_bytes(), encoding="bytes")
    raw[b"labels"] = [float(x) for x in raw[b"labels"]]
    with open(d / "test_batch", "wb") as f:
        pickle.dump(raw, f, 2)
    assert_one_line_error(r8("--data-dir", str(d), "eval", "--variant", "onnx",
                             cache_dir=cache_dir), "labels as float64", "official file")


def test_csv_is_not_overwritten_without_force(cache_dir, tmp_path):
    args = ["eval", "--variant", "onnx", "--subset", "first:50", "--csv", str(tmp_path)]
    assert r8(*args, cache_dir=cache_dir).returncode == 0
    (tmp_path / "accuracy.csv").write_text("mine")
    assert_one_line_error(r8(*args, cache_dir=cache_dir), "already exists", "--force")
    assert (tmp_path / "accuracy.csv").read_text() == "mine"
    assert r8(*args, "--force", cache_dir=cache_dir).returncode == 0
    assert (tmp_path / "accuracy.csv").read_text().startswith("variant,accuracy")


def test_full_disk_prints_the_result_and_names_the_folder(cache_dir, tmp_path):
    """ENOSPC raised from the cache's real write path (fsync of the written temp file)."""
    import subprocess
    import sys

    cdir = tmp_path / "c"
    shutil.copytree(Path(cache_dir) / "onnx", cdir / "onnx")  # the converted model is there
    code = (
        "import errno, sys\n"
        "import engine.cache\n"
        "def enospc(*_a, **_k):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "engine.cache.os.fsync = enospc\n"
        "from cli import main\n"
        f"sys.exit(main(['--cache-dir', {str(cdir)!r}, '--no-download', 'eval', '--variant', "
        "'onnx', '--subset', 'first:100', '--json']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parent.parent,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["variants"]["onnx"]["total"] == 100
    warnings = [ln for ln in proc.stderr.splitlines() if "is full" in ln]
    # said once, naming the first folder that could not be written (every later write fails too)
    assert len(warnings) == 1 and f"cache folder {cdir}{os.sep}" in warnings[0], warnings
    assert not (cdir / "predictions").exists() or not any((cdir / "predictions").iterdir())


def test_unreadable_cache_entry_is_one_line_and_kept(cache_dir, tmp_path):
    import subprocess
    import sys

    cdir = tmp_path / "c"
    proc = r8("eval", "--variant", "onnx", "--subset", "first:60", cache_dir=cdir)
    assert proc.returncode == 0, proc.stderr
    preds = next((cdir / "predictions").glob("*.npz"))
    os.chmod(preds, 0)
    prefix = DROP_DAC if os.geteuid() == 0 else []
    cmd = [*prefix, sys.executable, "-m", "cli", "--cache-dir", str(cdir), "--no-download",
           "eval", "--variant", "onnx", "--subset", "first:60"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parent.parent)
    assert_one_line_error(done, "cannot be read", "chmod")
    assert preds.exists()


def test_cache_ls_with_damaged_entries(tmp_path):
    from engine.cache import Cache

    c = Cache(tmp_path)
    for n, text in enumerate(["[1, 2]", "null", '{"details": "oops"}', '{"quantized": [1]}']):
        c.save("predictions", f"k{n}", {"probs": np.zeros((2, 10))}, {"variant": "onnx"})
        c.path("predictions", f"k{n}", ".json").write_text(text)
    c.save("layers", "good", {}, {"result": [1]})
    c.path("layers", "dir").mkdir()  # <root>/layers/dir.npz is a folder
    for args in (["cache", "ls"], ["cache", "ls", "--json"]):
        proc = r8(*args, cache_dir=tmp_path)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    listed = {e["key"]: e for e in json.loads(proc.stdout)["entries"]}
    assert listed["good"]["problem"] == ""
    assert all(listed[f"k{n}"]["problem"] for n in range(4))
    assert listed["dir"]["problem"] == "a folder, not a cache file"
