"""Finding the model and data: flag > env > standard places > download (offline: clear error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import assets
from engine.errors import AssetNotFoundError


def test_shared_copy_is_found_without_flags():
    assert assets.find_model(env={}, download=False).name == "pretrainedResnet.h5"
    assert (assets.find_data_dir(env={}, download=False) / "test_batch").is_file()


def test_flag_beats_env(tmp_path):
    real = assets.find_model(env={}, download=False)
    assert assets.find_model(real, env={"R8_MODEL": str(tmp_path / "x.h5")}) == real


def test_env_is_used(tmp_path):
    real = assets.find_model(env={}, download=False)
    assert assets.find_model(env={"R8_MODEL": str(real)}) == real


def test_missing_flag_file_names_the_flag(tmp_path):
    with pytest.raises(AssetNotFoundError, match="--model"):
        assets.find_model(tmp_path / "missing.h5", env={})
    with pytest.raises(AssetNotFoundError, match="R8_DATA_DIR"):
        assets.find_data_dir(env={"R8_DATA_DIR": str(tmp_path / "none")})


def test_offline_download_fails_with_places(tmp_path, monkeypatch):
    # no standard place has the files and the download source is unreachable
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(assets, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(assets.Path, "home", lambda: tmp_path / "home")
    monkeypatch.setattr(assets, "MODEL_DOWNLOAD",
                        assets.Download("http://127.0.0.1:9/pretrainedResnet.h5", "sha256", "0"))
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    with pytest.raises(AssetNotFoundError) as err:
        assets.find_model(env=env)
    msg = str(err.value)
    assert "\n" not in msg and "--model/R8_MODEL" in msg and "could not be downloaded" in msg
    assert not any(p.name.startswith(".download") for p in (tmp_path / "xdg").rglob("*"))


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    # a local file served over file:// stands for the download; its checksum is wrong
    src = tmp_path / "fake.h5"
    src.write_bytes(b"not the model")
    dl = assets.Download(src.as_uri(), "sha256", "0" * 64)
    with pytest.raises(AssetNotFoundError, match="checksum mismatch"):
        assets._fetch(dl, tmp_path / "out" / "m.h5", [], "the model", "--model", None)
    assert not (tmp_path / "out" / "m.h5").exists()


def test_checksum_match_downloads(tmp_path):
    import hashlib

    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    dl = assets.Download(src.as_uri(), "sha256", hashlib.sha256(b"abc").hexdigest())
    seen = []
    out = assets._fetch(dl, tmp_path / "o" / "f.bin", [], "f", "--x",
                        lambda d, t, w: seen.append(d))
    assert out.read_bytes() == b"abc" and seen[-1] == 3


def test_index_files_found():
    for name in assets.INDEX_DOWNLOADS:
        assert assets.find_index_file(name, download=False).is_file()
    assert isinstance(assets.find_tflite(assets.TFLITE_FILES[1]), Path)
