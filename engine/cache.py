"""The only module that writes results: npz arrays + a JSON sidecar, atomically.

Layout: ``<root>/<stage>/<key>.npz`` with ``<key>.json`` beside it, and artifacts (ONNX
models) as ``<root>/<stage>/<key><suffix>``. Keys hash every input that changes a result.

Every sidecar records ``content_sha256``, a hash of the main file's bytes and of the rest of
the sidecar; an entry whose hash does not match (bit flips, hand edits, a truncated file) is
reported and recomputed. An entry that cannot be *read* (permissions) is never deleted.
Temp files are named ``.tmp-<pid>-...``; those of dead processes are removed on open.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import CacheError, CacheFullError

CACHE_VERSION = 2
"""Bump when the meaning of any cached result changes (2: sidecars carry a content hash)."""

log = logging.getLogger("engine.cache")

T = TypeVar("T")
RESULT_FIELD = "result"
"""Sidecar field that holds a JSON-encoded result (see Cache.json_result)."""
HASH_FIELD = "content_sha256"
"""Sidecar field: SHA-256 of the main file's bytes and of the rest of the sidecar."""
TMP_PREFIX = ".tmp-"
"""Temp files of r8's own making: ``.tmp-<pid>-<random><suffix>``."""
ORPHAN_GRACE_S = 120.0
"""A sidecar without its main file is an orphan once it is this old (a live writer replaces
the main file right after its sidecar)."""
UNOWNED_TMP_AGE_S = 3600.0
"""Temp files without a PID in their name (older r8) are stale once this old."""


class NotCached(Exception):
    """Raised inside ``cached_only()`` where a result would be computed or downloaded."""


_cached_only = threading.local()


@contextlib.contextmanager
def cached_only() -> Iterator[None]:
    """Within it, on this thread only, results come from the cache and nothing is computed,
    converted or downloaded: where something would be, NotCached is raised. The TUI reads
    what its first screen shows this way before Textual starts (a warm start draws its first
    frame with the data; a cold one leaves it all to its jobs)."""
    _cached_only.on = True
    try:
        yield
    finally:
        _cached_only.on = False


def check_may_compute(what: str) -> None:
    """NotCached inside ``cached_only()``; the places that compute, convert or download call
    this first."""
    if getattr(_cached_only, "on", False):
        raise NotCached(what)


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the given distributions, read without importing them."""
    return {name: _version(name) for name in names}


@functools.cache
def _version(name: str) -> str:
    """One distribution's version, read once per process (each read parses its METADATA file,
    ~4 ms; a warm report asked 128 times)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return "missing"
    # the Version header read directly: metadata.version parses every header with the
    # email package (~2 ms a distribution; r8-tui's first frame asks for eight)
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line:
            break  # the headers end at the first blank line
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return dist.version


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


def content_hash(main: Path, meta: dict[str, Any]) -> str:
    """The hash recorded in a sidecar: the main file's bytes, then the sidecar's other fields."""
    h = hashlib.sha256(bytes.fromhex(file_sha256(main)))
    rest = {k: v for k, v in meta.items() if k != HASH_FIELD}
    h.update(json.dumps(rest, sort_keys=True, default=str).encode())
    return h.hexdigest()


def umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def tmp_owner(name: str) -> int | None:
    """The PID in a temp file's name, or None when it has none."""
    pid, _, _ = name.removeprefix(TMP_PREFIX).partition("-")
    return int(pid) if name.startswith(TMP_PREFIX) and pid.isdigit() else None


def no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


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
    """The JSON sidecar (empty when it is missing or unreadable)."""
    problem: str = ""
    """Why the entry will not be served (no sidecar, unreadable, a folder), or ''."""


@dataclass(frozen=True)
class Housekeeping:
    """Leftovers found (and removed where safe) by ``Cache.tidy``."""

    stale_temps: tuple[Path, ...] = ()
    """Temp files of dead r8 processes, removed."""
    orphans: tuple[Path, ...] = ()
    """Sidecars without their main file, removed."""
    live_temps: tuple[Path, ...] = ()
    """Temp files of running writers, kept."""
    removed_bytes: int = 0
    """Bytes freed."""


@dataclass(frozen=True)
class Cache:
    """A cache directory. Creating it checks that it can be used; a read-only cache serves
    what it holds and saves nothing (with a warning)."""

    root: Path
    writable: bool = field(default=True, init=False)
    """False when the folder exists and can be read but not written."""
    _tidied: Housekeeping | None = field(default=None, init=False, compare=False, repr=False)
    _tidy_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                       compare=False, repr=False)
    _warned: set[str] = field(default_factory=set, init=False, compare=False, repr=False)
    """Problems already warned about (a full disk is said once, not for every entry)."""

    def __post_init__(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)
            probe.close()
        except OSError as exc:
            if self.root.is_dir() and os.access(self.root, os.R_OK | os.X_OK):
                object.__setattr__(self, "writable", False)
                return
            raise CacheError(
                f"cache dir {self.root} is not writable ({exc.strerror or exc}); "
                "pass --cache-dir or set R8_CACHE_DIR to a writable folder"
            ) from None

    @property
    def tidied(self) -> Housekeeping:
        """What tidying removed (stale temp files, orphaned sidecars): done once, before the
        first write or on this first look, not on opening (a warm start that only reads
        does not stat every entry; ~20 ms of r8-tui's first paint on 500 entries)."""
        with self._tidy_lock:
            done = self._tidied
            if done is None:
                try:
                    done = self.tidy()
                except (OSError, CacheError) as exc:
                    log.info("could not tidy cache %s (%s)", self.root, exc)
                    done = Housekeeping()
                object.__setattr__(self, "_tidied", done)
            return done

    # -- paths -----------------------------------------------------------------------------
    def path(self, stage: str, key: str, suffix: str = ".npz") -> Path:
        """Where an entry of this stage and key lives."""
        return self.root / stage / f"{key}{suffix}"

    # -- arrays ----------------------------------------------------------------------------
    def load(self, stage: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Arrays and metadata of a valid entry, or None when absent or damaged (a damaged
        entry is removed). CacheError when it exists but cannot be read (permissions)."""
        npz = self.path(stage, key)
        meta = self._checked(stage, key, npz)
        if meta is None:
            return None
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except PermissionError as exc:
            raise self._unreadable(npz, exc) from None
        except FileNotFoundError:
            return None  # removed meanwhile (r8 cache clear in another process)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            self._drop(stage, key, f"is corrupt ({exc})")
            return None
        return arrays, meta

    def save(
        self, stage: str, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> Path | None:
        """Write arrays + sidecar atomically; returns the npz path, or None (with a warning)
        when the cache cannot take it (disk full, read-only): the caller keeps its result."""

        def write(path: Path) -> None:
            with open(path, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]

        try:
            return self._commit(stage, key, ".npz", write, meta)
        except CacheError as exc:
            if not (isinstance(exc, CacheFullError) and "full" in self._warned):
                log.warning("%s; the result is not cached", exc)
            if isinstance(exc, CacheFullError):
                self._warned.add("full")  # one full disk, one warning per process
            return None

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
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                log.warning("cache entry %s/%s is unreadable (%s); recomputing it", stage, key, exc)
        check_may_compute(f"{stage}/{key}")
        value = compute()
        self.save(stage, key, {}, {**(meta or {}), RESULT_FIELD: encode(value)})
        return value

    # -- artifacts (model files) -----------------------------------------------------------
    def artifact(self, stage: str, key: str, suffix: str) -> Path | None:
        """The artifact file when it exists and matches its sidecar's hash, else None (a
        damaged one is removed)."""
        p = self.path(stage, key, suffix)
        return p if self._checked(stage, key, p) is not None else None

    def save_artifact(
        self, stage: str, key: str, suffix: str, write: Callable[[Path], None], meta: dict[str, Any]
    ) -> Path:
        """Create an artifact through ``write(tmp_path)`` and move it into place atomically.
        CacheError (naming the folder) when the cache cannot take it: the file is needed."""
        check_may_compute(f"{stage}/{key}{suffix}")
        return self._commit(stage, key, suffix, write, meta)

    def remove(self, stage: str, key: str) -> None:
        """Delete every file of an entry."""
        try:
            for p in (self.root / stage).glob(f"{key}.*"):
                if not p.is_dir():
                    p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove cache entry %s/%s (%s)", stage, key, exc)

    # -- listing ---------------------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Every entry, sorted by stage and key (damaged ones carry a ``problem``)."""
        out: list[CacheEntry] = []
        for stage_dir in self._stage_dirs():
            try:
                files = sorted(stage_dir.iterdir())
            except FileNotFoundError:
                continue
            except PermissionError as exc:
                raise self._unreadable(stage_dir, exc) from None
            for f in files:
                if f.name.startswith(".") or f.suffix == ".json":
                    continue
                key = f.name.split(".", 1)[0]
                side = f.with_name(key + ".json")
                try:
                    size = _size(f) + (_size(side) if os.path.exists(side) else 0)
                except FileNotFoundError:
                    continue
                except OSError:
                    size = 0
                meta, problem = self._listed_meta(f, side)
                out.append(CacheEntry(stage_dir.name, key, f, size, meta, problem))
        return out

    def tidy(self) -> Housekeeping:
        """Remove temp files of dead r8 processes and orphaned sidecars; never a live
        writer's temp file. A read-only cache is only inspected."""
        stale: list[Path] = []
        live: list[Path] = []
        orphans: list[Path] = []
        freed = 0
        now = time.time()
        for folder in (self.root, *self._stage_dirs()):
            try:
                names = sorted(e.name for e in os.scandir(folder) if e.is_file())
            except OSError:
                continue
            for name in names:
                p = folder / name
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.name.startswith(TMP_PREFIX):
                    pid = tmp_owner(p.name)
                    dead = (not pid_alive(pid) if pid is not None
                            else now - st.st_mtime > UNOWNED_TMP_AGE_S)
                    (stale if dead else live).append(p)
                elif (folder != self.root and p.suffix == ".json"
                      and now - st.st_mtime > ORPHAN_GRACE_S
                      and not _has_sibling(names, p.name)):
                    orphans.append(p)
                else:
                    continue
                if p not in live and self.writable:
                    try:
                        p.unlink()
                        freed += st.st_size
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        log.info("could not remove %s (%s)", p, exc)
        return Housekeeping(tuple(stale), tuple(orphans), tuple(live), freed)

    def clear(self) -> int:
        """Remove every entry; returns how many main files were removed. Tolerates another
        process writing or clearing at the same time."""
        if not self.writable:
            raise CacheError(f"cache dir {self.root} is read-only; nothing was removed "
                             "(fix its permissions or pass --cache-dir)")
        n = len([e for e in self.entries() if not e.problem or e.meta])
        for stage_dir in self._stage_dirs():
            shutil.rmtree(stage_dir, onerror=_ignore_missing)
        return n

    # -- internals -------------------------------------------------------------------------
    def _stage_dirs(self) -> list[Path]:
        try:
            return sorted(p for p in self.root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []
        except PermissionError as exc:
            raise self._unreadable(self.root, exc) from None

    def _checked(self, stage: str, key: str, main: Path) -> dict[str, Any] | None:
        """The sidecar of an entry whose main file and sidecar match its recorded hash;
        None when absent, or damaged (then removed with a warning)."""
        side = self.path(stage, key, ".json")
        try:
            if main.is_dir():
                log.warning("cache entry %s is a folder, not a file; ignoring it (remove it)",
                            main)
                return None
            if not main.exists():
                return None
            text = side.read_text()
            actual_main = file_sha256(main)
        except FileNotFoundError:
            if os.path.exists(main) and not os.path.exists(side):
                self._drop(stage, key, "is corrupt: it has no sidecar")
            return None
        except PermissionError as exc:
            raise self._unreadable(side if os.access(main, os.R_OK) else main, exc) from None
        except OSError as exc:
            self._drop(stage, key, f"cannot be read ({exc.strerror or exc})")
            return None
        try:
            meta = json.loads(text)
        except ValueError as exc:
            self._drop(stage, key, f"is corrupt: its sidecar is not JSON ({exc})")
            return None
        if not isinstance(meta, dict):
            self._drop(stage, key, f"is corrupt: its sidecar holds {type(meta).__name__}, "
                       "not an object")
            return None
        recorded = meta.pop(HASH_FIELD, None)
        h = hashlib.sha256(bytes.fromhex(actual_main))
        h.update(json.dumps(meta, sort_keys=True, default=str).encode())
        if recorded != h.hexdigest():
            why = ("is corrupt: its sidecar has no content hash" if recorded is None
                   else "is corrupt: it does not match its recorded content hash (changed "
                   "since it was written)")
            self._drop(stage, key, why)
            return None
        return meta

    def _listed_meta(self, main: Path, side: Path) -> tuple[dict[str, Any], str]:
        if os.path.isdir(main):
            return {}, "a folder, not a cache file"
        try:
            meta = json.loads(side.read_text())
        except FileNotFoundError:
            return {}, "no sidecar"
        except PermissionError:
            return {}, "unreadable (permissions)"
        except (OSError, ValueError):
            return {}, "corrupt sidecar"
        if not isinstance(meta, dict):
            return {}, "corrupt sidecar"
        try:
            intact = meta.get(HASH_FIELD) == content_hash(main, meta)
        except PermissionError:
            return {}, "unreadable (permissions)"
        except OSError:
            return {}, "unreadable"
        if not intact:
            return {}, ("no content hash (older r8)" if HASH_FIELD not in meta
                        else "content hash mismatch")
        meta.pop(HASH_FIELD, None)
        return meta, ""

    def _drop(self, stage: str, key: str, why: str) -> None:
        log.warning("cache entry %s/%s %s; recomputing it", stage, key, why)
        if self.writable:
            self.remove(stage, key)

    def _unreadable(self, path: Path, exc: OSError) -> CacheError:
        return CacheError(f"cache entry {path} cannot be read ({exc.strerror or exc}); make it "
                          "readable (chmod a+r) or pass --cache-dir with a cache of your own")

    def _commit(self, stage: str, key: str, suffix: str, write: Callable[[Path], None],
                meta: dict[str, Any]) -> Path:
        """Write the main file to a temp file, record its hash in the sidecar, then move the
        main file into place. Nothing partial is left behind on any failure."""
        self.tidied  # noqa: B018  (once, before the first write)
        target = self.path(stage, key, suffix)
        folder = target.parent
        if not self.writable:
            raise CacheError(f"cache dir {self.root} is read-only; pass --cache-dir with a "
                             "writable folder to keep new results")
        tmp: Path | None = None
        side_tmp: Path | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = self._tmpfile(folder, suffix)
            write(tmp)
            _fsync(tmp)
            meta = json.loads(json.dumps(meta, sort_keys=True, default=str))
            meta[HASH_FIELD] = content_hash(tmp, meta)
            side_tmp = self._tmpfile(folder, ".json")
            side_tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
            _fsync(side_tmp)
            os.replace(side_tmp, self.path(stage, key, ".json"))
            side_tmp = None
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            if no_space(exc):
                raise CacheFullError(f"the disk holding cache folder {folder} is full "
                                 f"({exc.strerror}); free space there or pass --cache-dir "
                                 "on another disk") from None
            if isinstance(exc, PermissionError):
                raise CacheError(f"cache folder {folder} is not writable ({exc.strerror}); "
                                 "fix its permissions or pass --cache-dir") from None
            if isinstance(exc, IsADirectoryError) or os.path.isdir(target):
                raise CacheError(f"cache entry {target} is a folder, not a file; remove it "
                                 "(or run `r8 cache clear`)") from None
            if isinstance(exc, FileNotFoundError):
                raise CacheError(f"could not write {target} ({exc.strerror}: the cache was "
                                 "cleared or changed by another process meanwhile); run the "
                                 "command again") from None
            raise CacheError(f"could not write {target} ({exc.strerror or exc}); check the "
                             "cache folder or pass --cache-dir") from None
        finally:
            for leftover in (tmp, side_tmp):
                if leftover is not None:
                    try:
                        leftover.unlink(missing_ok=True)
                    except OSError:
                        pass
        return target

    @staticmethod
    def _tmpfile(folder: Path, suffix: str) -> Path:
        """An empty temp file named after this process, with the normal file mode."""
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{TMP_PREFIX}{os.getpid()}-",
                                   suffix=suffix)
        try:
            os.fchmod(fd, 0o666 & ~umask())
        finally:
            os.close(fd)
        return Path(tmp)


def _size(p: Path) -> int:
    return 0 if p.is_dir() else p.stat().st_size


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _ignore_missing(func: Any, path: str, exc_info: Any) -> None:
    """rmtree error handler: another process removed a file first, or wrote a new entry into
    a folder being removed (it stays); both are fine."""
    exc = exc_info[1]
    if isinstance(exc, FileNotFoundError):
        return
    if isinstance(exc, OSError) and exc.errno == errno.ENOTEMPTY:
        return
    raise exc


def _has_sibling(sorted_names: list[str], name: str) -> bool:
    """Whether another of ``sorted_names`` shares ``name``'s stem (``KEY.json`` beside
    ``KEY.npz``): one bisect instead of a glob per sidecar (a glob compiles a pattern
    each time, ~0.1 s on opening a cache of 500 entries)."""
    prefix = name.rsplit(".", 1)[0] + "."
    i = bisect.bisect_left(sorted_names, prefix)
    while i < len(sorted_names) and sorted_names[i].startswith(prefix):
        if sorted_names[i] != name:
            return True
        i += 1
    return False
