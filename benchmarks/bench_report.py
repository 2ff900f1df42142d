"""Warm `r8 report` (all variants) before and after a change, paired in one run.

Each tree is a checkout of the project (``--tree DIR``, repeatable; default: this one). For
every repeat the trees run one after another on the same warm cache (so machine noise hits
both alike); each run is a fresh process that times, after its imports:
- ``report``: variants_report over every variant on the test set (what `r8 report` does),
- ``identity``: the variant identities of every variant on a fresh Workspace (cache keys),
- ``identity_again``: the same on the same Workspace (memoized where the tree memoizes).
Also the whole `r8 report --json` process, wall clock. Fill the cache first with one
`r8 report` per tree (its predictions keys are its own).

    python benchmarks/bench_report.py --cache-dir CACHE --tree /tmp/before --tree .
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SNIPPET = r"""
import json, sys, time
from engine import report
from engine import variants as V
from engine.workspace import Workspace
names = list(V.ALL_VARIANTS)
ws = Workspace.open(cache_dir=sys.argv[1], download=False)
_ = ws.test_set, ws.model_sha
t0 = time.perf_counter()
for v in names:
    V.identity(ws, v, V.VariantOptions())
t1 = time.perf_counter()
for v in names:
    V.identity(ws, v, V.VariantOptions())
t2 = time.perf_counter()
ws2 = Workspace.open(cache_dir=sys.argv[1], download=False)
_ = ws2.test_set, ws2.model_sha
t3 = time.perf_counter()
report.variants_report(ws2, names, ws2.test_set)
t4 = time.perf_counter()
print(json.dumps({"identity": t1 - t0, "identity_again": t2 - t1, "report": t4 - t3}))
"""


def cli_module(tree: Path) -> str:
    return "cli" if (tree / "cli" / "__main__.py").exists() else "tui"


def run_tree(tree: Path, cache: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", SNIPPET, cache], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", cli_module(tree), "--cache-dir", cache, "report",
                    "--json"], cwd=tree, env=env, capture_output=True, check=True)
    got["r8_report_process"] = time.perf_counter() - t0
    return got


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache-dir", required=True, help="a cache warmed by `r8 report` per tree")
    p.add_argument("--tree", action="append", type=Path, help="project checkout (repeatable)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    trees = [t.resolve() for t in (args.tree or [Path(__file__).resolve().parents[1]])]
    runs: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    for _ in range(args.repeats):
        for t in trees:
            runs[t].append(run_tree(t, args.cache_dir))
    for t in trees:
        print(f"{t}:")
        for k in ("identity", "identity_again", "report", "r8_report_process"):
            xs = [r[k] for r in runs[t]]
            print(f"  {k:18s} median {statistics.median(xs):8.3f} s  "
                  f"(runs: {', '.join(f'{x:.3f}' for x in xs)})")


if __name__ == "__main__":
    main()
