"""A Workspace: where the model, data and cache are, and the cached artifacts built from them.

It is the one explicit input most engine functions take. Paths are resolved on first use,
so a command that needs only the model never looks for the data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from engine import assets, convert
from engine.cache import Cache, file_sha256, make_key
from engine.data import load_cifar10
from engine.tf_worker import TFWorker
from engine.types import Dataset, ProgressFn

DEFAULT_CACHE_DIR = "cache"
FILE_SHA_STAGE = "file-sha256"
H5_CHECK_STAGE = "model-check"
"""The verdict of convert.check_h5_contents, by the model file's hash."""
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Workspace:
    """Model, data and cache locations (flags as given; resolved lazily)."""

    model_flag: str | None = None
    """--model, or None to search."""
    data_flag: str | None = None
    """--data-dir, or None to search."""
    cache_dir: Path = field(default_factory=lambda: Path(DEFAULT_CACHE_DIR))
    """Where results go."""
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    """Environment used for R8_* lookups."""
    download: bool = True
    """Whether missing assets may be downloaded."""
    on_progress: ProgressFn | None = None
    """Download progress."""

    @classmethod
    def open(
        cls,
        model: str | None = None,
        data_dir: str | None = None,
        cache_dir: str | None = None,
        env: Mapping[str, str] | None = None,
        download: bool = True,
        on_progress: ProgressFn | None = None,
    ) -> Workspace:
        env = dict(os.environ if env is None else env)
        cdir = Path(cache_dir or env.get("R8_CACHE_DIR") or DEFAULT_CACHE_DIR).expanduser()
        ws = cls(model, data_dir, cdir, env, download, on_progress)
        _ = ws.cache  # fail early on an unwritable cache dir
        return ws

    @cached_property
    def cache(self) -> Cache:
        return Cache(self.cache_dir)

    @cached_property
    def _memo(self) -> dict[Hashable, Any]:
        return {}

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for this workspace (identities, file hashes)."""
        try:
            return self._memo[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def file_sha(self, path: Path) -> str:
        """SHA-256 of a file, hashed once while its path, size, mtime and inode stay the same:
        memoized here and kept in the cache (``file-sha256``), so a warm process reads it back
        instead of hashing the 150 MB of training batches again."""
        p = Path(path).resolve()
        st = p.stat()
        stamp = {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                 "inode": st.st_ino}
        return self.memo(("sha256", *stamp.values()), lambda: self.cache.json_result(
            FILE_SHA_STAGE, make_key(FILE_SHA_STAGE, stamp), lambda: file_sha256(p), str, str,
            {"path": str(p)}))

    @cached_property
    def model_path(self) -> Path:
        return assets.find_model(self.model_flag, self.env, self.download, self.on_progress)

    @cached_property
    def model_sha(self) -> str:
        """SHA-256 of the model file, once convert.check_h5_file has accepted it. The verdict
        on its config and weights is kept in the cache by that hash, so a warm start does not
        read the whole file again (the paths that load it into TensorFlow check it in full
        every time)."""
        path = self.model_path
        convert.check_h5_header(path)
        sha = self.file_sha(path)

        def check() -> str:
            convert.check_h5_contents(path)
            return "accepted"

        self.cache.json_result(H5_CHECK_STAGE, make_key(H5_CHECK_STAGE, {
            "model_sha256": sha, "checks": convert.H5_CHECKS_VERSION}, ("h5py",)),
            check, str, str, {"path": str(path)})
        return sha

    @cached_property
    def data_dir(self) -> Path:
        return assets.find_data_dir(self.data_flag, self.env, self.download, self.on_progress)

    @cached_property
    def test_set(self) -> Dataset:
        return load_cifar10(self.data_dir, "test")

    @cached_property
    def train_set(self) -> Dataset:
        return load_cifar10(self.data_dir, "train")

    def index_file(self, name: str) -> Path:
        return assets.find_index_file(name, self.model_path, self.env, self.download)

    @cached_property
    def tf_worker(self) -> TFWorker:
        """The process that runs everything needing TensorFlow (started on first use)."""
        return TFWorker()

    def onnx_path(self, opset: int = convert.DEFAULT_OPSET, *,
                  on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> Path:
        """The float ONNX model, converted once (in the TensorFlow worker), then cached."""
        convert.check_opset(opset)
        key = make_key("onnx", {"model": self.model_sha, "opset": opset},
                       convert.CONVERT_LIBRARIES)
        hit = self.cache.artifact("onnx", key, ".onnx")
        if hit is not None:
            return hit
        return self.cache.save_artifact(
            "onnx", key, ".onnx",
            lambda tmp: convert.keras_to_onnx(self.model_path, tmp, opset, worker=self.tf_worker,
                                              on_progress=on_progress, cancel=cancel),
            {"model": str(self.model_path), "model_sha256": self.model_sha, "opset": opset},
        )

    def onnx_cached(self, opset: int = convert.DEFAULT_OPSET) -> Path | None:
        """The float ONNX model when already converted, else None (never converts)."""
        key = make_key("onnx", {"model": self.model_sha, "opset": opset},
                       convert.CONVERT_LIBRARIES)
        return self.cache.artifact("onnx", key, ".onnx")
