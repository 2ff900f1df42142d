"""Reliability of the cache and the engine's inputs (issue 15 §3-§5): damaged entries are
recomputed with a warning, unreadable ones are never deleted, a full disk or a read-only
cache keeps the computed result, leftovers of dead writers are tidied, bad inputs are one
UsageError/DataError/ModelError line. Permission cases run in a child process as an
unprivileged user when the suite runs as root (root reads everything)."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine import activations, data, evaluate, quantize
from engine.cache import Cache, umask
from engine.errors import CacheError, DataError, ModelError, UsageError
from engine.export import ExistsError, write_csv
from engine.inputs import parse_input
from engine.subsets import select_subset
from engine.variants import VariantOptions
from engine.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def _cache(tmp_path: Path) -> Cache:
    c = Cache(tmp_path / "c")
    c.save("s", "k", {"a": np.arange(5.0)}, {"what": 1})
    return c


# --- §4 content hashes ------------------------------------------------------------------------


def test_bit_flipped_artifact_is_recomputed_with_warning(tmp_path, caplog):
    c = Cache(tmp_path)
    path = c.save_artifact("s", "k", ".onnx", lambda p: p.write_bytes(bytes(range(256)) * 8), {})
    assert c.artifact("s", "k", ".onnx") == path
    raw = bytearray(path.read_bytes())
    raw[100:108] = bytes(b ^ 0xFF for b in raw[100:108])  # same size, 8 bytes flipped
    path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.artifact("s", "k", ".onnx") is None
    assert "content hash" in caplog.text
    assert not path.exists()


def test_edited_sidecar_is_recomputed(tmp_path, caplog):
    c = Cache(tmp_path)
    assert c.json_result("s", "k", lambda: {"acc": 0.87}, dict, dict) == {"acc": 0.87}
    side = c.path("s", "k", ".json")
    meta = json.loads(side.read_text())
    meta["result"]["acc"] = 0.99  # a plausible edit, hash left as it was
    side.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.json_result("s", "k", lambda: {"acc": 0.87}, dict, dict) == {"acc": 0.87}
    assert "content hash" in caplog.text


@pytest.mark.parametrize("sidecar", ["[1, 2]", "null", '{"details": "oops"}',
                                     '{"quantized": [1]}', "not json", '"text"'])
def test_sidecar_of_the_wrong_shape(tmp_path, caplog, sidecar):
    c = _cache(tmp_path)
    c.path("s", "k", ".json").write_text(sidecar)
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.load("s", "k") is None
    assert "corrupt" in caplog.text
    c.save("s", "k2", {"a": np.zeros(1)}, {})
    c.path("s", "k2", ".json").write_text(sidecar)
    listed = {e.key: e for e in c.entries()}  # listing never raises
    assert listed["k2"].problem and listed["k2"].meta == {}


def test_entry_path_that_is_a_folder(tmp_path, caplog):
    c = Cache(tmp_path)
    c.path("s", "k").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.load("s", "k") is None
        assert c.save("s", "k", {"a": np.zeros(1)}, {}) is None  # kept uncached, no raise
    assert "folder" in caplog.text
    assert [e.problem for e in c.entries()] == ["a folder, not a cache file"]
    with pytest.raises(CacheError, match="is a folder"):
        c.save_artifact("s", "k", ".npz", lambda p: p.write_bytes(b"x"), {})
    assert c.path("s", "k").is_dir()


def test_nan_predictions_are_recomputed(ws: Workspace, caplog):
    ds = data.first(ws.test_set, 40)
    good = evaluate.predictions(ws, "onnx", ds)
    key = next(e.key for e in ws.cache.entries()
               if e.stage == "predictions" and e.meta.get("dataset") == ds.name
               and e.meta.get("variant") == "onnx")
    bad = good.probs.copy()
    bad[3, :] = np.nan
    ws.cache.save("predictions", key, {"probs": bad}, {"variant": "onnx", "dataset": ds.name})
    with caplog.at_level(logging.WARNING):
        again = evaluate.predictions(ws, "onnx", ds)
    assert "malformed" in caplog.text
    assert not again.cached and np.isfinite(again.probs).all()
    np.testing.assert_allclose(again.probs, good.probs, atol=1e-6)


def test_truncated_float_onnx_is_reconverted(tmp_path):
    ws = Workspace.open(cache_dir=str(tmp_path), download=False)
    path = ws.onnx_path()
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    again = ws.onnx_path()  # re-converted (tf2onnx output differs by a few bytes per run)
    assert abs(again.stat().st_size - size) < 100 and quantize._onnx_ok(again)
    probs = evaluate.predictions(ws, "onnx", data.first(ws.test_set, 200)).probs
    assert (probs.argmax(1) == ws.test_set.labels[:200]).mean() > 0.8


# --- §3 disk full, read-only, permissions, concurrent clear ------------------------------------


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_names_the_folder_and_leaves_nothing(tmp_path, monkeypatch, caplog):
    c = Cache(tmp_path)
    monkeypatch.setattr("engine.cache.os.fsync", _enospc)  # the real write path, then ENOSPC
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.save("s", "k", {"a": np.zeros(10)}, {}) is None
    assert "full" in caplog.text and str(tmp_path / "s") in caplog.text
    with pytest.raises(CacheError, match=f"cache folder {tmp_path / 's'} is full"):
        c.save_artifact("s", "k2", ".onnx", lambda p: p.write_bytes(b"x" * 100), {})
    assert list((tmp_path / "s").iterdir()) == []  # no partial file, no orphaned sidecar


def test_full_disk_keeps_the_computed_result(ws: Workspace, tmp_path, monkeypatch):
    ds = data.first(ws.test_set, 30)
    want = evaluate.predictions(ws, "onnx", ds).probs
    small = Workspace.open(model=str(ws.model_path), data_dir=str(ws.data_dir),
                           cache_dir=str(tmp_path / "full"), download=False)
    small.onnx_path()
    monkeypatch.setattr("engine.cache.os.fsync", _enospc)
    got = evaluate.predictions(small, "onnx", ds)
    np.testing.assert_allclose(got.probs, want, atol=1e-6)
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "full").rglob("*"))


def test_entries_get_the_normal_file_mode(tmp_path):
    c = _cache(tmp_path)
    mode = 0o666 & ~umask()
    for p in (c.path("s", "k"), c.path("s", "k", ".json")):
        assert p.stat().st_mode & 0o777 == mode


def test_stale_temps_and_orphans_are_tidied_but_a_live_writers_kept(tmp_path):
    c = _cache(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = c.path("s", "x").with_name(f".tmp-{dead}-abc.npz")
    live = c.path("s", "x").with_name(f".tmp-{os.getpid()}-abc.npz")
    orphan = c.path("s", "gone", ".json")
    for p in (stale, live, orphan):
        p.write_bytes(b"x" * 1000)
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    fresh_orphan = c.path("s", "writing", ".json")
    fresh_orphan.write_text("{}")
    reopened = Cache(c.root)
    assert set(reopened.tidied.stale_temps) == {stale}
    assert set(reopened.tidied.orphans) == {orphan}
    assert not stale.exists() and not orphan.exists()
    assert live.exists() and fresh_orphan.exists() and c.path("s", "k").exists()
    assert reopened.tidy().live_temps == (live,)


def test_clear_racing_writers_and_readers(tmp_path):
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        c = Cache(tmp_path)
        i = 0
        while not stop.is_set():
            try:
                c.save(f"s{i % 3}", f"k{n}-{i % 5}", {"a": np.arange(100)}, {"i": i})
                c.load(f"s{i % 3}", f"k{n}-{i % 5}")
                c.entries()
                c.json_result("j", f"r{n}", lambda: 1, int, int)
            except CacheError:
                pass  # "cleared meanwhile; run again" is the one-line answer when it happens
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            i += 1

    def clearer() -> None:
        c = Cache(tmp_path)
        while not stop.is_set():
            try:
                c.clear()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    threads.append(threading.Thread(target=clearer))
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []


DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]
"""Run a child as root without the capabilities that let root ignore permission bits."""


def _unprivileged(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a child that lacks the permissions chmod took away (root ignores
    permission bits, so a root suite drops CAP_DAC_OVERRIDE/READ_SEARCH in the child)."""
    prefix = DROP_DAC if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)


@pytest.fixture
def shared_dir():
    """A folder an unprivileged child can reach (pytest's tmp_path is 0700 under root)."""
    d = Path(tempfile.mkdtemp(prefix="r8-perm-"))
    os.chmod(d, 0o755)
    yield d
    for p in d.rglob("*"):
        try:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        except OSError:
            pass
    shutil.rmtree(d, ignore_errors=True)


def test_read_only_warm_cache_serves_reads(shared_dir):
    c = _cache(shared_dir)
    os.chmod(c.root / "s", 0o555)
    os.chmod(c.root, 0o555)
    code = (
        "import logging, numpy as np\n"
        "from engine.cache import Cache\n"
        "logging.basicConfig()\n"
        f"c = Cache(__import__('pathlib').Path({str(c.root)!r}))\n"
        "assert not c.writable\n"
        "arrays, meta = c.load('s', 'k')\n"
        "assert meta == {'what': 1} and arrays['a'].tolist() == [0, 1, 2, 3, 4]\n"
        "assert c.save('s', 'new', {'a': np.zeros(1)}, {}) is None\n"
        "print('OK')\n")
    proc = _unprivileged(code)
    assert proc.stdout.strip() == "OK", proc.stderr
    assert "read-only" in proc.stderr and "not cached" in proc.stderr


def test_unreadable_entry_is_never_deleted(shared_dir):
    c = _cache(shared_dir)
    npz = c.path("s", "k")
    os.chmod(npz, 0o000)
    code = (
        "from pathlib import Path\n"
        "from engine.cache import Cache\n"
        "from engine.errors import CacheError\n"
        f"c = Cache(Path({str(c.root)!r}))\n"
        "try:\n    c.load('s', 'k')\nexcept CacheError as e:\n    print('ERR', e)\n")
    proc = _unprivileged(code)
    assert proc.stdout.startswith("ERR") and "cannot be read" in proc.stdout, proc.stderr
    assert "chmod" in proc.stdout
    assert npz.exists() and c.path("s", "k", ".json").exists()


def test_unreadable_stage_folder_is_one_error(shared_dir):
    c = _cache(shared_dir)
    os.chmod(c.root / "s", 0o000)
    code = (
        "from pathlib import Path\n"
        "from engine.cache import Cache\n"
        "from engine.errors import CacheError\n"
        f"c = Cache(Path({str(c.root)!r}))\n"
        "for f in (lambda: c.load('s', 'k'), c.entries):\n"
        "    try:\n        f()\n    except CacheError as e:\n        print('ERR', e)\n")
    proc = _unprivileged(code)
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all("cannot be read" in ln for ln in lines), proc.stderr
    os.chmod(c.root / "s", 0o755)
    assert c.path("s", "k").exists()


# --- §3/§4 bad inputs ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["random:-1", "random:99999999999999999999"])
def test_negative_or_huge_random_seed(ws, spec):
    with pytest.raises(UsageError, match="seed"):
        parse_input(ws, spec)


def test_negative_stratified_seed(ws):
    with pytest.raises(UsageError, match="seed -1"):
        select_subset(ws, "stratified:10:-1")


def test_negative_calibration_seed():
    with pytest.raises(UsageError, match="--calib-seed"):
        quantize.settings("onnx-int8", {"calib_seed": -1})


def test_index_file_npz(ws, tmp_path):
    f = tmp_path / "idx.npz"
    np.savez(f, a=np.arange(3))
    for call in (lambda: parse_input(ws, f"indices:{f}"),
                 lambda: select_subset(ws, f"indices:{f}")):
        with pytest.raises(DataError, match="npz archive.*numpy.save"):
            call()


def test_index_file_beyond_the_test_set(ws, tmp_path):
    f = tmp_path / "idx.npy"
    np.save(f, np.array([1, 12000]))
    with pytest.raises(DataError, match="12000.*0-9999"):
        select_subset(ws, f"indices:{f}")


def _test_batch(tmp_path: Path, extra: dict) -> Path:
    d = {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 2], **extra}
    import pickle

    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(d, f, 2)
    return tmp_path


def test_float_labels_are_refused(tmp_path):
    with pytest.raises(DataError, match="labels as float64.*official"):
        data.load_cifar10(_test_batch(tmp_path, {b"labels": [0.0, 1.7, 2.0]}))


@pytest.mark.parametrize("idx,fragment", [([0, 1, 10000], "10000, outside 0-9999"),
                                          ([0, -1, 2], "-1, outside"),
                                          ([0, 1, 1], "repeats")])
def test_bad_official_indices_are_refused(tmp_path, idx, fragment):
    with pytest.raises(DataError, match=fragment):
        data.load_cifar10(_test_batch(tmp_path, {b"indices": idx}))


def test_nan_weights_are_refused_naming_the_layer(ws, tmp_path):
    bad = tmp_path / "nan.h5"
    shutil.copy(ws.model_path, bad)
    with h5py.File(bad, "r+") as f:
        names: list[str] = []
        f["model_weights"].visititems(
            lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        target = next(n for n in names if "conv2d_3" in n and "kernel" in n)
        ds = f["model_weights"][target]
        arr = ds[()]
        arr.flat[7] = np.inf
        ds[...] = arr
    with pytest.raises(ModelError, match="layer 'conv2d_3' has NaN or Inf"):
        _ = Workspace.open(model=str(bad), cache_dir=str(tmp_path / "c"), download=False).model_sha


# --- §5 capture limit, CSV overwrite ---------------------------------------------------------


def test_capture_of_the_whole_test_set_is_refused_with_the_limit(ws):
    spec = parse_input(ws, "batch:test:0-9999")
    per_image, most = activations.capture_limit(activations.layer_map(ws))
    assert 0 < most < 10_000
    with pytest.raises(UsageError, match=f"at most {most} images.*batch:test:0-{most - 1}"):
        activations.capture_activations(ws, "onnx", spec)


def test_csv_refuses_to_overwrite_a_file_or_symlink(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("keep me")
    with pytest.raises(ExistsError, match="already exists.*--force"):
        write_csv(target, ["a"], [[1]])
    assert target.read_text() == "keep me"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "l.csv"
    link.symlink_to(victim)
    with pytest.raises(ExistsError, match="symlink"):
        write_csv(link, ["a"], [[1]])
    write_csv(link, ["a"], [[1]], force=True)  # replaces the link, never writes through it
    assert victim.read_text() == "precious" and not link.is_symlink()
    assert write_csv(target, ["a"], [[2]], force=True).read_text().splitlines() == ["a", "2"]


# --- §4 torch-int8 recalibration after a failed load ------------------------------------------


@pytest.mark.slow
def test_failed_observer_load_rebuilds_the_module(ws: Workspace):
    opts = VariantOptions(quant={"calib": "train:100"})
    s = quantize.settings("torch-int8", opts.quant)
    key, _ = quantize._key(ws, s, opts.opset)
    fresh = quantize.torch_quantized_module(ws, opts).state_dict()
    arrays, meta = ws.cache.load(quantize.STAGE, key)
    # a valid entry whose last tensor has the wrong shape: load_state_dict copies every
    # matching tensor, then raises
    last = f"t{len(meta['names']) - 1}"
    arrays[last] = np.zeros((7, 7), np.float32)
    ws.cache.save(quantize.STAGE, key, arrays, meta)
    module = quantize.torch_quantized_module(ws, opts)
    again = module.state_dict()
    assert set(again) == set(fresh)
    differ = [k for k in fresh if hasattr(fresh[k], "shape")
              and not (fresh[k].dequantize() if fresh[k].is_quantized else fresh[k]).equal(
                  again[k].dequantize() if again[k].is_quantized else again[k])]
    assert differ == []
    reloaded = ws.cache.load(quantize.STAGE, key)
    assert reloaded is not None and reloaded[0][last].shape != (7, 7)
