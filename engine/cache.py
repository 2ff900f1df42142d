"""The only module that writes results: npz arrays + a JSON sidecar, atomically.

Layout: ``<root>/<stage>/<key>.npz`` with ``<key>.json`` beside it, and artifacts (ONNX
models) as ``<root>/<stage>/<key><suffix>``. Keys hash every input that changes a result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import CacheError

CACHE_VERSION = 1
"""Bump when the meaning of any cached result changes."""

log = logging.getLogger("engine.cache")

T = TypeVar("T")
RESULT_FIELD = "result"
"""Sidecar field that holds a JSON-encoded result (see Cache.json_result)."""


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the given distributions, read without importing them."""
    return {name: _version(name) for name in names}


@functools.cache
def _version(name: str) -> str:
    """One distribution's version, read once per process (each read parses its METADATA file,
    ~4 ms; a warm report asked 128 times)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_key(stage: str, parts: dict[str, Any], libraries: Iterable[str] = ("numpy",)) -> str:
    """Hash the stage name, its parameters, the library versions and CACHE_VERSION."""
    payload = {
        "stage": stage,
        "cache_version": CACHE_VERSION,
        "libraries": library_versions(sorted(set(libraries))),
        "parts": parts,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CacheEntry:
    """One cached result as listed by ``Cache.entries``."""

    stage: str
    """The stage that wrote it (convert, predictions, quantize, ...)."""
    key: str
    """The content key."""
    path: Path
    """The main file (npz or artifact)."""
    size_bytes: int
    """Size of the main file plus its sidecar."""
    meta: dict[str, Any]
    """The JSON sidecar (empty when it is missing)."""


@dataclass(frozen=True)
class Cache:
    """A cache directory. Creating it checks that it can be written."""

    root: Path

    def __post_init__(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)
            probe.close()
        except OSError as exc:
            raise CacheError(
                f"cache dir {self.root} is not writable ({exc.strerror or exc}); "
                "pass --cache-dir or set R8_CACHE_DIR to a writable folder"
            ) from None

    # -- paths -----------------------------------------------------------------------------
    def path(self, stage: str, key: str, suffix: str = ".npz") -> Path:
        """Where an entry of this stage and key lives."""
        return self.root / stage / f"{key}{suffix}"

    # -- arrays ----------------------------------------------------------------------------
    def load(self, stage: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Arrays and metadata of an entry, or None when absent or corrupt (then removed)."""
        npz = self.path(stage, key)
        if not npz.exists():
            return None
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = self._read_meta(stage, key)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            log.warning("cache entry %s is corrupt (%s); recomputing it", npz, exc)
            self.remove(stage, key)
            return None
        return arrays, meta

    def save(
        self, stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> Path:
        """Write arrays + sidecar atomically; returns the npz path."""
        target = self.path(stage, key)

        def write(f: Any) -> None:
            np.savez(f, **arrays)  # type: ignore[arg-type]

        self._write_meta(stage, key, meta)
        self._atomic_write(target, write)
        return target

    def json_result(
        self,
        stage: str,
        key: str,
        compute: Callable[[], T],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        meta: dict[str, Any] | None = None,
    ) -> T:
        """A result kept as JSON in the sidecar: decoded from the cache when present and
        readable, else computed, saved (with ``meta`` beside it) and returned."""
        hit = self.load(stage, key)
        if hit is not None and RESULT_FIELD in hit[1]:
            try:
                return decode(hit[1][RESULT_FIELD])
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("cache entry %s/%s is unreadable (%s); recomputing it", stage, key, exc)
        value = compute()
        self.save(stage, key, {}, {**(meta or {}), RESULT_FIELD: encode(value)})
        return value

    # -- artifacts (model files) -----------------------------------------------------------
    def artifact(self, stage: str, key: str, suffix: str) -> Path | None:
        """The artifact file when it exists, else None."""
        p = self.path(stage, key, suffix)
        return p if p.exists() and p.stat().st_size > 0 else None

    def save_artifact(
        self, stage: str, key: str, suffix: str, write: Callable[[Path], None], meta: dict[str, Any]
    ) -> Path:
        """Create an artifact through ``write(tmp_path)`` and move it into place atomically."""
        target = self.path(stage, key, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=suffix)
        os.close(fd)
        try:
            write(Path(tmp))
            self._write_meta(stage, key, meta)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def remove(self, stage: str, key: str) -> None:
        """Delete every file of an entry."""
        for p in (self.root / stage).glob(f"{key}*"):
            p.unlink(missing_ok=True)

    # -- listing ---------------------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Every entry, sorted by stage and key."""
        out: list[CacheEntry] = []
        if not self.root.exists():
            return out
        for stage_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for f in sorted(stage_dir.iterdir()):
                if f.name.startswith(".") or f.suffix == ".json":
                    continue
                key = f.name.split(".", 1)[0]
                side = f.with_name(key + ".json")
                size = f.stat().st_size + (side.stat().st_size if side.exists() else 0)
                out.append(
                    CacheEntry(stage_dir.name, key, f, size, self._read_meta(stage_dir.name, key))
                )
        return out

    def clear(self) -> int:
        """Remove every entry; returns how many main files were removed."""
        n = len(self.entries())
        for stage_dir in (p for p in self.root.iterdir() if p.is_dir()):
            shutil.rmtree(stage_dir)
        return n

    # -- internals -------------------------------------------------------------------------
    def _read_meta(self, stage: str, key: str) -> dict[str, Any]:
        side = self.path(stage, key, ".json")
        if not side.exists():
            return {}
        try:
            return dict(json.loads(side.read_text()))
        except (OSError, ValueError) as exc:
            log.warning("cache sidecar %s is unreadable (%s)", side, exc)
            return {}

    def _write_meta(self, stage: str, key: str, meta: dict[str, Any]) -> None:
        text = json.dumps(meta, indent=1, sort_keys=True, default=str)
        self._atomic_write(self.path(stage, key, ".json"), lambda f: f.write(text.encode()))

    def _atomic_write(self, target: Path, write: Callable[[Any], None]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
