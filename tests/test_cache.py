"""Cache: keys, atomic writes, corrupt entries recomputed, listing and clearing."""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import pytest

from engine.cache import CACHE_VERSION, Cache, make_key
from engine.errors import CacheError


def test_roundtrip(tmp_path):
    c = Cache(tmp_path)
    c.save("s", "k", {"a": np.arange(3)}, {"what": 1})
    arrays, meta = c.load("s", "k")
    np.testing.assert_array_equal(arrays["a"], np.arange(3))
    assert meta == {"what": 1}
    assert [e.key for e in c.entries()] == ["k"]


def test_key_changes_with_every_part():
    base = make_key("s", {"model": "abc", "n": 1})
    assert make_key("s", {"model": "abc", "n": 1}) == base
    assert make_key("s", {"model": "abd", "n": 1}) != base
    assert make_key("s", {"model": "abc", "n": 2}) != base
    assert make_key("t", {"model": "abc", "n": 1}) != base
    assert make_key("s", {"model": "abc", "n": 1}, ("numpy", "onnx")) != base
    assert isinstance(CACHE_VERSION, int)


def test_truncated_entry_is_recomputed_with_warning(tmp_path, caplog):
    c = Cache(tmp_path)
    path = c.save("s", "k", {"a": np.arange(1000)}, {})
    path.write_bytes(path.read_bytes()[:50])
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.load("s", "k") is None
    assert "corrupt" in caplog.text
    assert not path.exists()


def test_pickled_object_array_is_not_loaded(tmp_path):
    c = Cache(tmp_path)
    path = c.path("s", "k")
    path.parent.mkdir(parents=True)
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    assert c.load("s", "k") is None  # allow_pickle=False refuses it; entry dropped


def test_failed_write_leaves_nothing(tmp_path):
    c = Cache(tmp_path)

    def boom(_tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        c.save_artifact("s", "k", ".onnx", boom, {})
    assert [p.name for p in (tmp_path / "s").iterdir() if not p.name.endswith(".json")] == []


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError, match="not writable.*--cache-dir"):
        Cache(blocker / "sub")


def test_clear(tmp_path):
    c = Cache(tmp_path)
    c.save("a", "k1", {"x": np.zeros(1)}, {})
    c.save("b", "k2", {"x": np.zeros(1)}, {})
    assert c.clear() == 2
    assert c.entries() == []
    assert not any(p.name.startswith(".tmp") for p in tmp_path.rglob("*"))
    assert os.listdir(tmp_path) == []


def test_json_result_computes_once_then_decodes(tmp_path):
    c = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return (1, 2)

    assert c.json_result("s", "k", compute, list, tuple, {"what": "x"}) == (1, 2)
    assert c.json_result("s", "k", compute, list, tuple) == (1, 2)
    assert len(calls) == 1
    assert c.entries()[0].meta["what"] == "x"


def test_json_result_with_a_damaged_sidecar_is_recomputed(tmp_path, caplog):
    c = Cache(tmp_path)
    encode, decode = (lambda v: {"a": v}), (lambda d: d["a"])
    assert c.json_result("s", "k", lambda: 1, encode, decode) == 1
    # a sidecar whose result no longer decodes (older format, hand-edited)
    c.path("s", "k", ".json").write_text('{"result": {"b": 2}}')
    with caplog.at_level(logging.WARNING, logger="engine.cache"):
        assert c.json_result("s", "k", lambda: 3, encode, decode) == 3
    assert "corrupt" in caplog.text


def test_cached_only_reads_what_is_cached_and_never_computes(tmp_path) -> None:
    from engine.cache import NotCached, cached_only

    c = Cache(tmp_path / "c")
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 5

    with cached_only(), pytest.raises(NotCached):
        c.json_result("s", "k", compute, int, int)
    with cached_only(), pytest.raises(NotCached):
        c.save_artifact("a", "k", ".bin", lambda p: p.write_bytes(b"x"), {})
    assert calls == [] and [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []
    assert c.json_result("s", "k", compute, int, int) == 5 and calls == [1]
    with cached_only():
        assert c.json_result("s", "k", compute, int, int) == 5  # read, not computed
        # another thread is not held to it
        done: list[int] = []
        t = threading.Thread(target=lambda: done.append(
            c.json_result("s", "k2", compute, int, int)))
        t.start()
        t.join()
    assert done == [5] and calls == [1, 1]


def test_library_versions_are_what_importlib_metadata_says() -> None:
    """Cache keys hold these: the quick read of the Version header must agree."""
    from importlib import metadata

    from engine.cache import library_versions

    names = ["numpy", "onnx", "onnxruntime", "torch", "textual", "no-such-distribution"]
    want = {}
    for name in names:
        try:
            want[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            want[name] = "missing"
    assert library_versions(names) == want
    assert want["no-such-distribution"] == "missing" and want["numpy"] != "missing"
