"""Find the model and the data: flag > environment > standard places > ../shared > download.

Downloads come from the official sources into the user cache dir, with a checksum check.
Offline, the error lists every place that was searched and how to supply the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.cache import check_may_compute
from engine.errors import AssetNotFoundError

ProgressFn = Callable[[int, int, str], None]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout (or install prefix) that holds engine/; ../shared lies beside it."""

MLCOMMONS = (
    "https://raw.githubusercontent.com/mlcommons/tiny/1afd2c9820f795965a6134facd0b4dfae41ef23f/"
    "benchmark/training/image_classification/"
)


@dataclass(frozen=True)
class Download:
    """An official download with its checksum."""

    url: str
    algorithm: str
    digest: str


MODEL_DOWNLOAD = Download(
    MLCOMMONS + "trained_models/pretrainedResnet.h5",
    "sha256",
    "5f938a8eea605438cc7360aa13c987bc6d7bd0c8d931b2917361ae7ae4eeda2f",
)
CIFAR_DOWNLOAD = Download(
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "md5",
    "c58f30108f718f92721af3b95e74349a",
)
INDEX_DOWNLOADS = {
    "calibration_samples_idxs.npy": Download(
        MLCOMMONS + "calibration_samples_idxs.npy",
        "sha256",
        "c619b84e9ea72c8d7a9208b6c38af541594ea002c0e19731d1af47397b96ce97",
    ),
    "perf_samples_idxs.npy": Download(
        MLCOMMONS + "perf_samples_idxs.npy",
        "sha256",
        "3bd4a88eeb4c50fad652d0f24c8af13bc9219ba2878aea47c6536bfbeb43024d",
    ),
}
TFLITE_FILES = ("pretrainedResnet.tflite", "pretrainedResnet_quant.tflite")


def user_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where downloads go: $XDG_CACHE_HOME/r8-tui or ~/.cache/r8-tui."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "r8-tui"


def _shared_dirs() -> list[Path]:
    """../shared beside the working directory and beside the checkout (deduplicated)."""
    out: list[Path] = []
    for base in (Path.cwd(), REPO_ROOT):
        p = (base.parent / "shared").resolve()
        if p not in out:
            out.append(p)
    return out


def model_candidates() -> list[Path]:
    """Standard places for the .h5 model, in search order."""
    places = [Path.cwd() / "pretrainedResnet.h5"]
    places += [d / "assets" / "pretrainedResnet.h5" for d in _shared_dirs()]
    return places


def data_candidates() -> list[Path]:
    """Standard places for the cifar-10-batches-py folder, in search order."""
    places = [Path.cwd() / "cifar-10-batches-py"]
    places.append(Path.home() / ".keras" / "datasets" / "cifar-10-batches-py")
    places += [d / "data" / "cifar-10-batches-py" for d in _shared_dirs()]
    return places


def find_model(
    flag: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    on_progress: ProgressFn | None = None,
) -> Path:
    """The Keras .h5 model: --model > $R8_MODEL > standard places > download."""
    env = os.environ if env is None else env
    explicit = _explicit(flag, env, "--model", "R8_MODEL", Path.is_file, "model file",
                         "pretrainedResnet.h5")
    if explicit:
        return explicit
    searched = model_candidates()
    downloaded = user_cache_dir(env) / "assets" / "pretrainedResnet.h5"
    for p in [*searched, downloaded]:
        if p.is_file():
            return p
    if download:
        return _fetch(MODEL_DOWNLOAD, downloaded, searched, "the model", "--model/R8_MODEL",
                      on_progress)
    raise _not_found("the model", searched, "--model/R8_MODEL", MODEL_DOWNLOAD.url)


def find_data_dir(
    flag: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    on_progress: ProgressFn | None = None,
) -> Path:
    """The cifar-10-batches-py folder: --data-dir > $R8_DATA_DIR > standard places > download."""
    env = os.environ if env is None else env
    explicit = _explicit(flag, env, "--data-dir", "R8_DATA_DIR", Path.is_dir, "data folder",
                         "a cifar-10-batches-py folder")
    if explicit:
        return explicit
    searched = data_candidates()
    downloaded = user_cache_dir(env) / "data" / "cifar-10-batches-py"
    for p in [*searched, downloaded]:
        if (p / "test_batch").is_file():
            return p
    if not download:
        raise _not_found("CIFAR-10", searched, "--data-dir/R8_DATA_DIR", CIFAR_DOWNLOAD.url)
    tarball = user_cache_dir(env) / "downloads" / "cifar-10-python.tar.gz"
    _fetch(CIFAR_DOWNLOAD, tarball, searched, "CIFAR-10", "--data-dir/R8_DATA_DIR", on_progress)
    _extract_cifar(tarball, downloaded.parent)
    return downloaded


def _explicit(
    flag: str | Path | None,
    env: Mapping[str, str],
    flag_name: str,
    env_name: str,
    exists: Callable[[Path], bool],
    what: str,
    expected: str,
) -> Path | None:
    """The path given by flag or environment (checked), or None when neither is set."""
    given = flag or env.get(env_name)
    if not given:
        return None
    p = Path(given).expanduser()
    if not exists(p):
        src = flag_name if flag else env_name
        raise AssetNotFoundError(f"{what} {p} (from {src}) does not exist; point {src} at {expected}")
    return p


def find_index_file(
    name: str,
    model_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    download: bool = True,
) -> Path:
    """An MLPerf index file (calibration or perf samples): beside the model, ../shared, download."""
    if name not in INDEX_DOWNLOADS:
        raise AssetNotFoundError(f"unknown index file {name}; use one of {sorted(INDEX_DOWNLOADS)}")
    env = os.environ if env is None else env
    searched = [model_path.parent / name] if model_path else []
    searched += [d / "assets" / name for d in _shared_dirs()]
    downloaded = user_cache_dir(env) / "assets" / name
    for p in [*searched, downloaded]:
        if p.is_file():
            return p
    if download:
        return _fetch(INDEX_DOWNLOADS[name], downloaded, searched, name, "../shared/assets", None)
    raise _not_found(name, searched, "../shared/assets", INDEX_DOWNLOADS[name].url)


def find_tflite(name: str, model_path: Path | None = None) -> Path:
    """One of MLPerf's reference TFLite exports (beside the model or in ../shared/assets)."""
    searched = [model_path.parent / name] if model_path else []
    searched += [d / "assets" / name for d in _shared_dirs()]
    for p in searched:
        if p.is_file():
            return p
    raise AssetNotFoundError(
        f"{name} not found (looked in {', '.join(map(str, searched))}); put MLPerf Tiny's "
        f"trained_models/{name} beside the .h5 model"
    )


def _not_found(what: str, searched: list[Path], how: str, url: str, why: str = "") -> Exception:
    places = ", ".join(str(p) for p in searched)
    extra = f" ({why})" if why else ""
    return AssetNotFoundError(
        f"{what} not found in {places} and could not be downloaded from {url}{extra}; "
        f"pass {how} or place it in one of those folders"
    )


def _fetch(
    dl: Download,
    target: Path,
    searched: list[Path],
    what: str,
    how: str,
    on_progress: ProgressFn | None,
) -> Path:
    """Download ``dl`` to ``target`` atomically, checking its checksum."""
    check_may_compute(f"download {what}")
    import urllib.error  # here: a start-up that finds its files never pays for them
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    digest = hashlib.new(dl.algorithm)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(dl.url, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total, f"downloading {what}")
        if digest.hexdigest() != dl.digest:
            raise _not_found(what, searched, how, dl.url,
                             f"checksum mismatch: got {dl.algorithm} {digest.hexdigest()}")
        os.replace(tmp, target)
        return target
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _not_found(what, searched, how, dl.url, f"offline? {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _extract_cifar(tarball: Path, dest: Path) -> None:
    """Extract the official tarball safely (data filter), atomically into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        import tarfile

        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        os.replace(tmp / "cifar-10-batches-py", dest / "cifar-10-batches-py")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
