"""r8-tui figures: time to first paint from a warm cache, and time to show another layer.

    python benchmarks/bench_tui.py [--cache-dir DIR] [--screenshot docs/screenshot.svg]

First paint is measured in a fresh interpreter (imports included) from process start to the
Model screen showing the layer tree and the statistics of the first layer. The cache is
warmed first. Targets (issue 6): first paint < 1 s; (issue 14) a layer key adds <= 30 ms
over an unbound key through Pilot (median of many pairs in one run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_PAINT = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
from tui.app import R8App
from tui.session import Session
t_import = time.perf_counter() - t0

async def main():
    app = R8App(Session(cache_dir=sys.argv[1], download=False))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.model_pane
        while not (pane.layer_infos and pane.stats.values):
            await pilot.pause(0.005)
        await pilot.pause()
        heavy = [m for m in ("tensorflow", "torch") if m in sys.modules]
        print(json.dumps({"import_s": t_import, "paint_s": time.perf_counter() - t0,
                          "heavy": heavy}))

asyncio.run(main())
"""


def warm(cache_dir: str) -> None:
    from engine import layers, weights
    from engine.workspace import Workspace

    ws = Workspace.open(cache_dir=cache_dir, download=False)
    layers.layer_map(ws)
    weights.weight_reports(ws, "keras")


def first_paint(cache_dir: str, runs: int) -> list[dict]:
    out = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", FIRST_PAINT, cache_dir], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


async def layer_switch(cache_dir: str, presses: int,
                       screenshot: str | None) -> dict[str, list[float]]:
    """Each layer key (j/k through the tree, group rows included) is paired with an unbound
    key (f12) right after it in the same run, so both see the same machine load; wall and
    CPU time of the process are both kept (CPU time is the steadier figure on a shared
    machine)."""
    from tui.app import R8App
    from tui.session import Session

    app = R8App(Session(cache_dir=cache_dir, download=False))
    times: dict[str, list[float]] = {"press": [], "noop": [], "show": [], "cpu_press": [],
                                     "cpu_noop": []}
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.model_pane
        while not (pane.layer_infos and pane.stats.values):
            await pilot.pause(0.01)
        await pilot.pause(0.2)
        if screenshot:
            await pilot.press("j", "j", "j", "j")  # conv2d_1: kernel histogram + stats
            await pilot.pause(0.2)
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(Path(screenshot).name, path=str(Path(screenshot).parent))
        for i in range(presses):
            key = "j" if (i // 10) % 2 == 0 else "k"
            before = pane.layer_tree.cursor_node
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press(key)
            await pilot.pause()  # the highlight message handled and the side pane redrawn
            times["press"].append(time.perf_counter() - t0)
            times["cpu_press"].append(time.process_time() - c0)
            assert pane.layer_tree.cursor_node is not before
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press("f12")  # unbound: Pilot's own cost for one key
            await pilot.pause()
            times["noop"].append(time.perf_counter() - t0)
            times["cpu_noop"].append(time.process_time() - c0)
            t0 = time.perf_counter()
            pane.show_layer()  # the app's work for one layer: info, histogram, statistics
            times["show"].append(time.perf_counter() - t0)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache-dir", default="cache")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--presses", type=int, default=100)
    p.add_argument("--screenshot", default=None, help="save an SVG of the Model screen here")
    p.add_argument("--layer-only", action="store_true", help="only the layer-key figure")
    args = p.parse_args()
    warm(args.cache_dir)
    paints = [] if args.layer_only else first_paint(args.cache_dir, args.runs)
    if paints:
        imports = [r["import_s"] for r in paints]
        totals = [r["paint_s"] for r in paints]
        print(f"first paint from a warm cache ({args.runs} fresh processes, 100x30 headless):")
        print(f"  imports       median {statistics.median(imports) * 1000:7.0f} ms")
        print(f"  first paint   median {statistics.median(totals) * 1000:7.0f} ms   "
              f"min {min(totals) * 1000:.0f} ms  max {max(totals) * 1000:.0f} ms   "
              "(target < 1000)")
        print("  heavy frameworks imported: "
              f"{sorted({m for r in paints for m in r['heavy']}) or 'none'}")
    times = asyncio.run(layer_switch(args.cache_dir, args.presses, args.screenshot))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"show another layer ({args.presses} key presses j/k, each paired with an unbound "
          "key, 100x30 headless):")
    print(f"  app work (show_layer: info, histogram, stats)          median {med['show']:5.1f} ms"
          f"   max {max(times['show']) * 1000:.1f} ms")
    print(f"  key press to redrawn side pane, through Pilot          median {med['press']:5.1f} ms"
          f"   (CPU {med['cpu_press']:5.1f} ms)")
    print(f"  an unbound key through Pilot (harness cost)           median {med['noop']:5.1f} ms"
          f"   (CPU {med['cpu_noop']:5.1f} ms)")
    print(f"  difference (what the layer change adds)               "
          f"median {med['press'] - med['noop']:5.1f} ms"
          f"   (CPU {med['cpu_press'] - med['cpu_noop']:5.1f} ms)   (target <= 30)")
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
