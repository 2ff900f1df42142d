"""r8-tui Accuracy screen from a warm cache: time from the key press to the variants table.

Each tree (``--tree DIR``, repeatable) runs in a fresh process per repeat, alternating, on the
same warm cache; the Session covers the default variants on the whole test set. Warm the
cache first (e.g. `r8 report` and opening the Accuracy screen once per tree).

    python benchmarks/bench_tui_accuracy.py --cache-dir CACHE --tree /tmp/before --tree .
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SNIPPET = r"""
import asyncio, json, sys, time
from tui.app import R8App
from tui.session import Session

async def main():
    app = R8App(Session(cache_dir=sys.argv[1], download=False))
    async with app.run_test(size=(100, 30)) as pilot:
        while not app.model_pane.layer_infos:
            await pilot.pause(0.01)
        await app.workers.wait_for_complete()
        t0 = time.perf_counter()
        await pilot.press("4")
        pane = app.query_one("#accuracy-pane")
        while pane.variants_table.row_count == 0:
            await pilot.pause(0.002)
        t1 = time.perf_counter()
        heavy = sorted(m for m in ("tensorflow", "torch", "onnx", "onnxruntime") if m in sys.modules)
        print(json.dumps({"table_s": t1 - t0, "rows": pane.variants_table.row_count,
                          "heavy": heavy}))

asyncio.run(main())
"""


def run_tree(tree: Path, cache: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", SNIPPET, cache], cwd=tree, env=env,
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache-dir", required=True)
    p.add_argument("--tree", action="append", type=Path)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    trees = [t.resolve() for t in (args.tree or [Path(__file__).resolve().parents[1]])]
    runs: dict[Path, list[dict]] = {t: [] for t in trees}
    for _ in range(args.repeats):
        for t in trees:
            runs[t].append(run_tree(t, args.cache_dir))
    for t in trees:
        xs = [r["table_s"] for r in runs[t]]
        print(f"{t}: key press -> variants table median {statistics.median(xs):.3f} s "
              f"(runs: {', '.join(f'{x:.3f}' for x in xs)}); rows {runs[t][0]['rows']}; "
              f"frameworks imported: {sorted({m for r in runs[t] for m in r['heavy']}) or 'none'}")


if __name__ == "__main__":
    main()
