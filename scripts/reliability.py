"""Reliability probe of `r8` (issue 15): runs the probe's categories against the real model and
data, each case in a fresh `r8` process, and prints what trusted tools are held to.

    python scripts/reliability.py            # every category (~10-20 min on 2 busy cores)
    python scripts/reliability.py --quick    # one case of each kind (the slow test runs this)

Categories: kill -9 at points of cold convert/eval/quantize then rerun; concurrent r8 with
`r8 cache clear`; cache damage (truncation, bit flips, edited or wrong-shape sidecars, NaN
predictions, folders, missing sidecars, stale temp files, unreadable entries); bad inputs; a
full disk (a real small tmpfs when this runs as root and `mount` works, else ENOSPC injected
into the cache's real write path); security (a Lambda .h5, a tampered CIFAR pickle, a pickled
object array in the cache, a CSV symlink).

A case passes when r8 either gives the clean run's numbers (a warning is fine) or ends in
exactly one `r8: error:` line (exit 2). Counted against it: a Python traceback or an
"internal error" line (tracebacks), a run past its time limit (hangs), exit 0 with numbers
that differ from the clean run's (silently wrong), a marker file created by code in a model or
data file (code executed), and `.tmp-*` files left in the cache after a kill and a rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIMEOUT_S = 600
"""A case that runs longer than this counts as a hang."""
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]
"""Run as root without the capabilities that ignore permission bits."""
EVAL = ["eval", "--variant", "onnx,torch", "--subset", "first:300", "--json"]
EVAL_QUICK = ["eval", "--variant", "onnx", "--subset", "first:100", "--json"]
"""--quick evaluates ONNX Runtime alone (no torch import in every process)."""
QUANT = ["quantize", "--backend", "onnx", "--calib", "train:100", "--json"]
ANY = object()
"""Expected outcome: any successful run whose --json output parses."""


@dataclass
class Tally:
    cases: int = 0
    clear_errors: int = 0
    recovered: int = 0
    tracebacks: int = 0
    hangs: int = 0
    silently_wrong: int = 0
    code_executed: int = 0
    leftover_temps: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str, why: str) -> None:
        self.failures.append(f"{what}: {why}")


@dataclass
class Run:
    rc: int | None
    out: str
    err: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.rc is None


def r8(args: list[str], cache: Path, *, env: dict | None = None, prefix: list[str] | None = None,
       timeout: float = TIMEOUT_S, python_code: str | None = None) -> Run:
    cmd = [*(prefix or []), sys.executable]
    cmd += ["-c", python_code] if python_code else ["-m", "cli"]
    cmd += ["--cache-dir", str(cache), "--no-download", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return Run(proc.returncode, out, err, time.perf_counter() - t0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(None, out, err, time.perf_counter() - t0)


def numbers(run: Run) -> object:
    """What must match the clean run: accuracies, or quantized structure."""
    obj = json.loads(run.out)
    if "variants" in obj and all("accuracy" in v for v in obj["variants"].values()):
        return {k: (v["correct"], v["total"]) for k, v in obj["variants"].items()}
    if "variants" in obj:
        return {k: v["structure"] for k, v in obj["variants"].items()}
    return obj.get("result", obj)


def judge(t: Tally, what: str, run: Run, want: object | None, *, error_ok: bool = True,
          error_words: tuple[str, ...] = ()) -> None:
    """Score one finished case."""
    t.cases += 1
    errors = [ln for ln in run.err.splitlines() if ln.startswith("r8: error:")]
    if run.hung:
        t.hangs += 1
        return t.fail(what, f"no answer within {TIMEOUT_S} s")
    if "Traceback" in run.err or any("internal error" in ln for ln in errors):
        t.tracebacks += 1
        return t.fail(what, (errors or run.err.splitlines() or ["?"])[-1][:200])
    if run.rc == 2 and len(errors) == 1 and (error_ok or want is None):
        if all(w in errors[0] for w in error_words):
            t.clear_errors += 1
            return None
        return t.fail(what, f"error does not name {error_words}: {errors[0][:160]}")
    if run.rc == 0 and want is ANY:
        t.recovered += 1
        return None
    if run.rc == 0 and want is not None:
        try:
            got = numbers(run)
        except (ValueError, KeyError, TypeError) as exc:
            t.silently_wrong += 1
            return t.fail(what, f"--json output does not parse ({exc})")
        if got != want:
            t.silently_wrong += 1
            return t.fail(what, f"served {got} instead of {want}")
        t.recovered += 1
        return None
    t.fail(what, f"exit {run.rc}, {len(errors)} error lines: {run.err.strip()[-200:]}")
    return None


def temps(cache: Path) -> list[Path]:
    return [p for p in cache.rglob(".tmp-*")] if cache.exists() else []


def partial_entries(cache: Path) -> list[Path]:
    """Sidecars without their main file and main files without their sidecar."""
    out = []
    for p in cache.rglob("*") if cache.exists() else []:
        if p.is_file() and not p.name.startswith("."):
            twins = [q for q in p.parent.glob(p.name.split(".", 1)[0] + ".*") if q != p]
            if not twins:
                out.append(p)
    return out


# -- categories ------------------------------------------------------------------------------
def kill_and_rerun(t: Tally, base: Path, quick: bool) -> None:
    """kill -9 at fractions of a cold run's time, then rerun to the clean answer."""
    fractions = (0.5,) if quick else (0.15, 0.35, 0.55, 0.75, 0.9)
    commands = [("convert", ["convert", "--json"]), ("eval", EVAL), ("quantize", QUANT)]
    for name, args in commands[1:2] if quick else commands:  # a cold eval converts first
        clean_dir = base / f"clean-{name}"
        clean = r8(args, clean_dir)
        if clean.rc != 0:
            t.fail(f"clean {name}", clean.err.strip()[-200:])
            continue
        want = numbers(clean) if name != "convert" else None
        for frac in fractions:
            cache = base / f"kill-{name}-{frac}"
            cmd = [sys.executable, "-m", "cli", "--cache-dir", str(cache), "--no-download", *args]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            time.sleep(clean.seconds * frac)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rerun = r8(args, cache)
            what = f"kill -9 {name} at {frac:.0%}"
            judge(t, what, rerun, ANY if name == "convert" else want, error_ok=False)
            left = temps(cache)
            if left:
                t.leftover_temps += len(left)
                t.fail(what, f"{len(left)} temp files left after the rerun")
            shutil.rmtree(cache, ignore_errors=True)


def concurrent(t: Tally, warm: Path, base: Path, want: object, quick: bool) -> None:
    """Two evals on one cold cache while another r8 clears it."""
    rounds = 1 if quick else 3
    for i in range(rounds):
        cache = base / f"conc-{i}"
        shutil.copytree(warm / "onnx", cache / "onnx")
        procs = [subprocess.Popen(
            [sys.executable, "-m", "cli", "--cache-dir", str(cache), "--no-download", *EVAL],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(2)]
        clears = []
        while any(p.poll() is None for p in procs):
            clears.append(r8(["cache", "clear"], cache, timeout=60))
            time.sleep(0.2)
        for n, p in enumerate(procs):
            out, err = p.communicate()
            judge(t, f"concurrent eval {i}.{n} with cache clear", Run(p.returncode, out, err, 0),
                  want)
        for n, c in enumerate(clears[:3]):
            judge(t, f"concurrent cache clear {i}.{n}", c, ANY)


def damage(t: Tally, warm: Path, base: Path, want_eval: object, want_layers: object,
           quick: bool) -> None:
    """Damage each kind of entry in a copy of a warm cache, then run the command again."""
    kinds: list[tuple[str, Callable[[Path, Path], None]]] = [
        ("truncate", lambda main, side: main.write_bytes(main.read_bytes()[: main.stat().st_size // 3])),
        ("flip 8 bytes", _flip),
        ("empty file", lambda main, side: main.write_bytes(b"")),
        ("garbage", lambda main, side: main.write_bytes(os.urandom(max(64, main.stat().st_size)))),
        ("sidecar [1, 2]", lambda main, side: side.write_text("[1, 2]")),
        ("sidecar null", lambda main, side: side.write_text("null")),
        ("sidecar details oops", lambda main, side: side.write_text('{"details": "oops"}')),
        ("sidecar quantized [1]", lambda main, side: side.write_text('{"quantized": [1]}')),
        ("sidecar truncated", lambda main, side: side.write_text(side.read_text()[:20])),
        ("sidecar edited", _edit_sidecar),
        ("sidecar removed", lambda main, side: side.unlink()),
        ("entry is a folder", _folder),
        ("NaN predictions", _nan_predictions),
        ("stale temp + orphan", _leftovers),
    ]
    targets = [("onnx", EVAL, want_eval), ("predictions", EVAL, want_eval),
               ("layers", ["layers", "--float-only", "--json"], want_layers)]
    if quick:
        kinds = [kinds[1], kinds[5], kinds[12]]
        targets = targets[:2]
    for stage, args, want in targets:
        for label, hurt in kinds:
            if label == "NaN predictions" and stage != "predictions":
                continue
            cache = base / "damage"
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(warm, cache)
            mains = sorted(p for p in (cache / stage).glob("*") if p.suffix != ".json"
                           and not p.name.startswith("."))
            if not mains:
                t.fail(f"damage {stage}", "no entry to damage in the warm cache")
                continue
            for main in mains:
                hurt(main, main.with_suffix(".json"))
            run = r8(args, cache)
            judge(t, f"{stage}: {label}", run, want, error_ok=False)
    # an entry another user cannot read: one error line, never deleted
    if os.geteuid() != 0 or shutil.which("setpriv"):
        cache = base / "damage"
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(warm, cache)
        victims = list((cache / "predictions").glob("*.npz"))
        for v in victims:
            v.chmod(0)
        run = r8(EVAL, cache, prefix=DROP_DAC if os.geteuid() == 0 else None)
        judge(t, "unreadable predictions entry", run, None, error_words=("cannot be read",))
        if not all(v.exists() for v in victims):
            t.silently_wrong += 1
            t.fail("unreadable predictions entry", "deleted although only unreadable")
        for v in victims:
            v.chmod(0o644)
        # a read-only warm cache still serves
        for p in [cache, *cache.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        run = r8(EVAL, cache, prefix=DROP_DAC if os.geteuid() == 0 else None)
        judge(t, "read-only warm cache", run, want_eval, error_ok=False)
        for p in [cache, *cache.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def _flip(main: Path, side: Path) -> None:
    raw = bytearray(main.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 8] = bytes(b ^ 0x5A for b in raw[mid:mid + 8])
    main.write_bytes(bytes(raw))


def _edit_sidecar(main: Path, side: Path) -> None:
    meta = json.loads(side.read_text())
    meta["images_per_second"] = 1.0
    if "result" in meta:
        meta["result"] = {"edited": True} if isinstance(meta["result"], dict) else [1]
    side.write_text(json.dumps(meta))


def _folder(main: Path, side: Path) -> None:
    main.unlink()
    main.mkdir()


def _nan_predictions(main: Path, side: Path) -> None:
    with np.load(main) as d:
        probs = d["probs"].copy()
    probs[::7] = np.nan
    with open(main, "wb") as f:
        np.savez(f, probs=probs)


def _leftovers(main: Path, side: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (main.parent / f".tmp-{dead}-x{main.suffix}").write_bytes(b"half" * 1000)
    orphan = main.parent / "0123456789abcdef01234567.json"
    orphan.write_text("{}")
    old = time.time() - 3600
    os.utime(orphan, (old, old))


def bad_inputs(t: Tally, warm: Path, base: Path, quick: bool) -> None:
    d = base / "inputs"
    d.mkdir(exist_ok=True)
    np.savez(d / "idx.npz", a=np.arange(3))
    np.save(d / "big.npy", np.array([1, 12000]))
    np.save(d / "float.npy", np.array([1.5, 2.0]))
    (d / "text.npy").write_text("not numpy")
    (d / "exists.csv").write_text("keep")
    cases: list[tuple[list[str], tuple[str, ...]]] = [
        (["activations", "--variant", "onnx", "--input", "random:-1"], ("seed",)),
        (["eval", "--subset", "stratified:10:-1"], ("seed",)),
        (["quantize", "--backend", "onnx", "--calib-seed", "-1"], ("--calib-seed",)),
        (["activations", "--variant", "onnx", "--input", f"indices:{d / 'idx.npz'}"], ("npz",)),
        (["eval", "--subset", f"indices:{d / 'idx.npz'}"], ("npz",)),
        (["eval", "--subset", f"indices:{d / 'big.npy'}"], ("12000",)),
        (["activations", "--variant", "onnx", "--input", f"indices:{d / 'big.npy'}"], ("12000",)),
        (["eval", "--subset", f"indices:{d / 'float.npy'}"], ("float",)),
        (["eval", "--subset", f"indices:{d / 'text.npy'}"], ("cannot read",)),
        (["eval", "--subset", f"indices:{d / 'missing.npy'}"], ("cannot read",)),
        (["activations", "--variant", "onnx", "--input", "batch:test:0-9999"], ("at most",)),
        (["activations", "--variant", "onnx", "--input", "test:10000"], ("out of range",)),
        (["activations", "--variant", "onnx", "--input", "class:cat:99999"], ("cat",)),
        (["activations", "--variant", "onnx", "--input", "batch:test:9-3"], ("before",)),
        (["activations", "--variant", "onnx", "--input", "random:x"], ("whole number",)),
        (["eval", "--subset", "first:0"], ("first:0",)),
        (["eval", "--subset", "stratified:0"], ("stratified",)),
        (["eval", "--subset", "class:unicorn"], ("unicorn",)),
        (["eval", "--variant", "tensorrt"], ("tensorrt",)),
        (["eval", "--calib", "train:0", "--variant", "onnx-int8"], ("selects nothing",)),
        (["eval", "--calib", "train:999999", "--variant", "onnx-int8"], ("more than",)),
        (["convert", "--opset", "99"], ("--opset",)),
        (["weights", "--variant", "onnx", "--layer", "nope"], ()),
        (["eval", "--variant", "onnx", "--subset", "first:10", "--csv",
          str(d / "exists.csv")], ("cannot write",)),
        (["weights", "--variant", "onnx", "--csv", str(d / "exists.csv")], ("--force",)),
        (["--model", str(d / "missing.h5"), "convert"], ("does not exist",)),
        (["--data-dir", str(d / "nope"), "eval"], ("does not exist",)),
    ]
    if quick:
        cases = cases[:6] + cases[10:11] + cases[24:25]
    for args, words in cases:
        judge(t, "bad input " + " ".join(a.replace(str(d), "D") for a in args),
              r8(args, warm), None, error_words=words)
    # data files with the wrong content
    test_batch = _shared_data() / "test_batch"
    raw = pickle.loads(test_batch.read_bytes(), encoding="bytes")
    for label, change in (("float labels", {b"labels": [float(x) for x in raw[b"labels"]]}),
                          ("index 10000", {b"indices": list(range(1, len(raw[b"labels"]) + 1))
                                           if len(raw[b"labels"]) >= 10_000 else
                                           [10_000] + list(range(1, len(raw[b"labels"])))})):
        dd = base / f"data-{label.replace(' ', '-')}"
        dd.mkdir(exist_ok=True)
        with open(dd / "test_batch", "wb") as f:
            pickle.dump({**raw, **change}, f, 2)
        judge(t, f"test_batch with {label}", r8(["--data-dir", str(dd), *EVAL], warm), None,
              error_words=("official",))
    # a model with an Inf weight
    import h5py

    bad = base / "inf.h5"
    shutil.copy(_shared_model(), bad)
    with h5py.File(bad, "r+") as f:
        names: list[str] = []
        f["model_weights"].visititems(
            lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        ds = f["model_weights"][names[len(names) // 2]]
        arr = ds[()]
        arr.flat[0] = np.inf
        ds[...] = arr
    judge(t, "model with an Inf weight", r8(["--model", str(bad), "convert"], base / "c-inf"),
          None, error_words=("NaN or Inf",))


def full_disk(t: Tally, warm: Path, base: Path, want: object) -> str:
    """A real tmpfs too small for the results, else ENOSPC from the cache's write path."""
    mnt = base / "tmpfs"
    mnt.mkdir(exist_ok=True)
    onnx_bytes = sum(p.stat().st_size for p in (warm / "onnx").iterdir())
    pages = sum(-(-p.stat().st_size // 4096) for p in (warm / "onnx").iterdir())
    # room for the converted model and one more page: no predictions entry fits
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={(pages + 1) * 4096}",
                              "tmpfs", str(mnt)], capture_output=True).returncode == 0
    how = "real tmpfs" if mounted else "ENOSPC injected into the cache write path"
    try:
        cache = mnt / "c"
        shutil.copytree(warm / "onnx", cache / "onnx")
        if mounted:
            run = r8(EVAL, cache)
        else:
            code = ("import errno, sys, engine.cache\n"
                    "def enospc(*a, **k):\n    raise OSError(errno.ENOSPC, 'No space left')\n"
                    "engine.cache.os.fsync = enospc\n"
                    "from cli import main\nsys.exit(main(sys.argv[1:]))\n")
            run = r8(EVAL, cache, python_code=code)
        judge(t, f"full disk eval ({how})", run, want, error_ok=False)
        if "is full" not in run.err:
            t.fail("full disk eval", "no warning naming the full folder")
        left = temps(cache) + partial_entries(cache)
        if left:
            t.leftover_temps += len(left)
            t.fail("full disk eval", f"partial files left: {left[:3]}")
        # no room for the model itself: one error line naming the folder, nothing partial
        shutil.rmtree(cache)
        if mounted:
            (mnt / "filler").write_bytes(b"\0" * (onnx_bytes - 4096))
            run = r8(["convert", "--json"], cache)
            judge(t, "full disk convert", run, None, error_words=("is full",))
            if temps(cache) or list(cache.rglob("*.onnx")):
                t.leftover_temps += 1
                t.fail("full disk convert", "partial file left")
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], capture_output=True)
    return how


def security(t: Tally, base: Path, quick: bool) -> None:
    marker = base / "code-ran"
    # 1. a Lambda layer whose code creates the marker when Keras runs it
    model = base / "lambda.h5"
    build = (
        "import tf_keras, sys\n"
        f"def payload(x):\n    open({str(marker)!r}, 'w').close()\n    return x\n"
        "inp = tf_keras.Input((32, 32, 3))\n"
        "out = tf_keras.layers.Dense(10)(tf_keras.layers.Flatten()("
        "tf_keras.layers.Lambda(payload)(inp)))\n"
        f"tf_keras.Model(inp, out).save({str(model)!r})\n")
    subprocess.run([sys.executable, "-c", build], capture_output=True, cwd=ROOT,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=TIMEOUT_S)
    marker.unlink(missing_ok=True)
    commands = [["convert"], ["eval", "--variant", "keras", "--subset", "first:10"],
                ["layers", "--float-only"]]
    for cmd in commands[:1] if quick else commands:
        run = r8(["--model", str(model), *cmd], base / "c-lambda")
        judge(t, f"Lambda .h5 {' '.join(cmd)}", run, None, error_words=("Lambda",))
        if marker.exists():
            t.code_executed += 1
            t.fail(f"Lambda .h5 {' '.join(cmd)}", "the model's code ran")
            marker.unlink()
    # 2. a CIFAR pickle whose payload would create the marker
    evil = base / "evil-data"
    evil.mkdir(exist_ok=True)

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    with open(evil / "test_batch", "wb") as f:
        pickle.dump({b"data": Payload(), b"labels": [0]}, f, protocol=4)
    run = r8(["--data-dir", str(evil), *EVAL], base / "c-evil")
    judge(t, "tampered CIFAR pickle", run, None, error_words=("forbidden global",))
    if marker.exists():
        t.code_executed += 1
        t.fail("tampered CIFAR pickle", "its payload ran")
    # 3. a pickled object array planted in the cache as a predictions entry
    cache = base / "c-planted"
    run = r8(EVAL, cache)
    for npz in (cache / "predictions").glob("*.npz"):
        with open(npz, "wb") as f:
            np.savez(f, probs=np.array([Payload()], dtype=object))
    again = r8(EVAL, cache)
    judge(t, "pickled object array in the cache", again, numbers(run) if run.rc == 0 else None,
          error_ok=False)
    if marker.exists():
        t.code_executed += 1
        t.fail("pickled object array in the cache", "its payload ran")
    # 4. a CSV path that is a symlink to another file
    victim = base / "victim.txt"
    victim.write_text("precious")
    link = base / "out.csv"
    link.unlink(missing_ok=True)
    link.symlink_to(victim)
    run = r8(["weights", "--variant", "onnx", "--csv", str(link)], cache)
    judge(t, "CSV onto a symlink", run, None, error_words=("symlink", "--force"))
    if victim.read_text() != "precious":
        t.silently_wrong += 1
        t.fail("CSV onto a symlink", "wrote through the symlink")


def _shared_model() -> Path:
    from engine.workspace import Workspace

    return Workspace.open(cache_dir=tempfile.mkdtemp(), download=False).model_path


def _shared_data() -> Path:
    from engine.workspace import Workspace

    return Workspace.open(cache_dir=tempfile.mkdtemp(), download=False).data_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one case of each kind")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    opts = ap.parse_args(argv)
    global EVAL
    if opts.quick:
        EVAL = EVAL_QUICK
    base = Path(tempfile.mkdtemp(prefix="r8-reliability-"))
    base.chmod(0o755)
    t = Tally()
    t0 = time.perf_counter()
    try:
        warm = base / "warm"
        clean_eval = r8(EVAL, warm)
        clean_layers = r8(["layers", "--float-only", "--json"], warm)
        if clean_eval.rc != 0 or clean_layers.rc != 0:
            print("clean runs failed:", clean_eval.err[-400:], clean_layers.err[-400:])
            return 1
        want_eval, want_layers = numbers(clean_eval), numbers(clean_layers)
        sections: list[tuple[str, Callable[[], object]]] = [
            ("bad inputs", lambda: bad_inputs(t, warm, base, opts.quick)),
            ("security", lambda: security(t, base, opts.quick)),
            ("cache damage", lambda: damage(t, warm, base, want_eval, want_layers, opts.quick)),
            ("full disk", lambda: full_disk(t, warm, base, want_eval)),
            ("concurrent", lambda: concurrent(t, warm, base, want_eval, opts.quick)),
            ("kill -9", lambda: kill_and_rerun(t, base, opts.quick)),
        ]
        for name, section in sections:
            before = t.cases
            s0 = time.perf_counter()
            note = section()
            extra = f", {note}" if isinstance(note, str) else ""
            print(f"  {name:<14} {t.cases - before:>3} cases  {time.perf_counter() - s0:6.0f} s"
                  f"{extra}", flush=True)
    finally:
        if not opts.keep:
            subprocess.run(["umount", str(base / "tmpfs")], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    print(f"\nr8 reliability probe{' (quick)' if opts.quick else ''}: "
          f"{time.perf_counter() - t0:.0f} s")
    rows = [("cases tried", t.cases, ""),
            ("clear one-line errors (r8: error:, exit 2)", t.clear_errors, ""),
            ("recovered with the clean run's numbers", t.recovered, ""),
            ("tracebacks", t.tracebacks, "0"),
            ("hangs", t.hangs, "0"),
            ("silently wrong results", t.silently_wrong, "0"),
            ("code executed from a model or data file", t.code_executed, "0"),
            ("leftover temp files after kill -9 and rerun", t.leftover_temps, "0"),
            ("cases with another outcome", len(t.failures), "0")]
    for label, value, target in rows:
        print(f"  {label:<46} {value:>5}   {('target ' + target) if target else ''}".rstrip())
    for line in t.failures:
        print(f"  FAIL {line}")
    return 0 if not t.failures else 1


if __name__ == "__main__":
    sys.exit(main())
