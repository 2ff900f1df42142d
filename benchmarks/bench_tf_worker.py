"""TensorFlow in its own process (issue 12): cold paths against bare scripts, RSS, warm eval.

    python benchmarks/bench_tf_worker.py [--runs 3] [--code TREE]

- cold `r8 eval --variant onnx` (fresh cache dir, fresh process) vs benchmarks/bare_onnx.py,
  and cold `r8 eval --variant torch` vs benchmarks/bare_torch.py (two processes): run
  alternately (r8, bare, r8, bare, ...), best of ``--runs`` each, ratio r8 / bare;
- peak RSS of a TUI-like process (layer map, Keras weights, Keras activations of test:0 from
  a fresh cache) and of its children (the TensorFlow worker), and whether TensorFlow or
  PyTorch got imported into it;
- warm `r8 eval --variant keras,onnx,torch`, best of ``--runs``.

``--code TREE`` runs the r8 of another checkout (from that folder, so its packages win; e.g.
an export of the commit before this change), so the same script gives "today's" figures; the
bare scripts are always this tree's.
Targets: both cold ratios <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "assets" / "pretrainedResnet.h5"
DATA = SHARED / "data" / "cifar-10-batches-py"

TUI_LIKE = """
import json, resource, sys
from engine import activations, inputs, layers, weights
from engine.workspace import Workspace
ws = Workspace.open(cache_dir=sys.argv[1], download=False)
lm = layers.layer_map(ws)
w = weights.weight_reports(ws, 'keras')
spec = inputs.parse_input(ws, 'test:0')
acts = activations.capture_activations(ws, 'keras', spec)
print(json.dumps({"self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "layers": len(acts.layers), "weights": len(w),
                  "tensorflow": "tensorflow" in sys.modules, "torch": "torch" in sys.modules}))
"""


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + sys of the process and every descendant it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def r8(code: Path, args: list[str], cache: Path, env: dict[str, str]) -> list[str]:
    module = "cli" if (code / "cli" / "__main__.py").exists() else "tui"  # before the move: tui
    return [sys.executable, "-m", module, "--cache-dir", str(cache), "--model", str(MODEL),
            "--data-dir", str(DATA), *args]


def cold_pair(variant: str, bare: str, runs: int, code: Path, env: dict[str, str]) -> None:
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for _ in range(runs):
        cache = Path(tempfile.mkdtemp(prefix="r8-bench-"))
        try:
            ours.append(timed(r8(code, ["eval", "--variant", variant, "--json"], cache, env), env,
                              code))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        base.append(timed([sys.executable, str(ROOT / "benchmarks" / bare), str(MODEL),
                           str(DATA)], env))
    for i, what in ((0, "wall"), (1, "cpu ")):
        a, b = [r[i] for r in ours], [r[i] for r in base]
        print(f"cold r8 eval --variant {variant:<5} {what} {min(a):6.2f} s ({_fmt(a)})   "
              f"{bare} {min(b):6.2f} s ({_fmt(b)})   ratio {min(a) / min(b):.2f}x   "
              "target <= 1.15x")


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--code", type=Path, default=ROOT)
    ap.add_argument("--only", default="onnx,torch,rss,warm")
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(a.code.resolve()), "PYTHONWARNINGS": "ignore"}
    only = a.only.split(",")
    print(f"code: {a.code.resolve()}   runs: {a.runs}   (2 shared cores: ratios, not absolutes)")
    if "onnx" in only:
        cold_pair("onnx", "bare_onnx.py", a.runs, a.code, env)
    if "torch" in only:
        cold_pair("torch", "bare_torch.py", a.runs, a.code, env)
    if "rss" in only:
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run([sys.executable, "-c", TUI_LIKE, cache], check=True,
                                 capture_output=True, text=True, env={
                                     **env, "R8_MODEL": str(MODEL), "R8_DATA_DIR": str(DATA)},
                                 cwd=a.code)
            r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"TUI-like process (layer map + keras weights + keras activations, cold): peak RSS "
              f"{r['self_mib']:.0f} MiB; its largest child {r['children_mib']:.0f} MiB; "
              f"tensorflow imported: {r['tensorflow']}, torch imported: {r['torch']}")
    if "warm" in only:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp)
            args = ["eval", "--variant", "keras,onnx,torch", "--json"]
            timed(r8(a.code, args, cache, env), env, a.code)
            warm = [timed(r8(a.code, args, cache, env), env, a.code)[0] for _ in range(a.runs)]
        print(f"warm r8 eval --variant keras,onnx,torch: {min(warm):.2f} s (runs {_fmt(warm)})")


if __name__ == "__main__":
    main()
