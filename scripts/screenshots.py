"""The README's r8-tui screenshots (SVG), taken with Textual's Pilot on a warm cache.

    PYTHONPATH=$PWD .venv/bin/python scripts/screenshots.py --cache-dir CACHE [--out docs]

Each screenshot runs a fresh headless app at 120x40 on the test set's ``test:0`` and presses
the keys a user would; it waits for the app's own state (the session's ``known_*`` results,
no job running), never for a fixed time, so the pictures are the same on every run. A cold
cache works too, only slower (the first shot converts and quantizes the model).

    docs/model.svg           Model screen, torch-int8, tree coloured by isolated SQNR + legend
    docs/int8-histogram.svg  Model screen, torch-int8, conv2d_2's output on the int8 grid
    docs/every-variant.svg   Every-variant screen (5): average_pooling2d in every variant
    docs/layers-ab.svg       Layers screen (3): onnx-int8 (A) against torch-int8 (B)
    docs/flipped.svg         Accuracy screen (4): torch-int8's flipped-image browser
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.message import Message
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.worker import WorkerState

from tui.app import R8App
from tui.jobs import THREAD_PREFIX
from tui.screens.every_variant import EveryVariantPane
from tui.screens.flipped import MEASURE_S
from tui.screens.layers import LayersPane
from tui.session import Session
from tui.widgets import metric_scale as M

SIZE = (120, 40)
"""Terminal size of every screenshot (columns, rows)."""
WAIT_S = 1800.0
"""Longest wait for one result (a cold cache converts and quantizes the model first)."""
POLL_S = 0.05
INT8 = "torch-int8"
"""The variant the README's walk-through is about."""
HIST_LAYER = "batch_normalization_2"
"""conv2d_2's output (BatchNorm folded in; conv2d_2 has the lowest isolated SQNR of the convs):
signed, so its int8 histogram shows the grid, a zero point inside the range and both clip
limits."""
EVERY_LAYER = "average_pooling2d"
"""The unit with torch-int8's lowest isolated SQNR: its scale differs between the variants."""

Shot = Callable[[Pilot], Awaitable[None]]


ERRORS: list[str] = []
"""Error notifications the app showed (an engine failure ends the script, not a wait)."""


def note_errors(message: Message) -> None:
    if isinstance(message, Notify) and message.notification.severity == "error":
        ERRORS.append(message.notification.message)


async def wait_until(pilot: Pilot, cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        if ERRORS:
            raise SystemExit(f"screenshots: error: waiting for {what}, the app said: {ERRORS[0]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: error: timed out waiting for {what}; "
                             f"warm the cache first (make run) and try again")
        await pilot.pause(POLL_S)


async def wait_idle(pilot: Pilot) -> None:
    """No job running and the messages they posted handled."""
    await pilot.pause()
    await wait_until(pilot, lambda: not any(
        w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers),
        "the app's jobs")
    for _ in range(3):
        await pilot.pause()


def r8(pilot: Pilot) -> R8App:
    assert isinstance(pilot.app, R8App)
    return pilot.app


async def model_ready(pilot: Pilot) -> None:
    pane = r8(pilot).model_pane
    await wait_until(pilot, lambda: pane.layer_infos, "the layer map")
    await wait_idle(pilot)
    await wait_until(pilot, lambda: pane.last_layer is not None, "the first layer")


async def variant(pilot: Pilot, name: str) -> None:
    """``V`` (previous variant) until ``name`` is the app's variant."""
    app = r8(pilot)
    for _ in app.session.variants:
        if app.variant == name:
            break
        await pilot.press("V")
    if app.variant != name:
        raise SystemExit(f"screenshots: error: variant {name} is not in the session")
    await wait_idle(pilot)


async def tree_to(pilot: Pilot, layer: str) -> None:
    """``j`` down the Model screen's tree until ``layer`` is selected."""
    tree = r8(pilot).model_pane.layer_tree
    for _ in range(80):
        sel = tree.selected_layer
        if sel is not None and sel.name == layer:
            await wait_idle(pilot)
            return
        await pilot.press("j")
    raise SystemExit(f"screenshots: error: layer {layer} not found in the tree")


async def shot_model(pilot: Pilot) -> None:
    await model_ready(pilot)
    await variant(pilot, INT8)
    app = r8(pilot)
    pane = app.model_pane
    while pane.metric is not M.ISOLATED:
        await pilot.press("c")
    session = app.session
    await wait_until(pilot, lambda: session.known_isolated(INT8, app.input_text) is not None,
                     f"{INT8}'s isolated error")
    await wait_idle(pilot)
    await tree_to(pilot, "conv2d_1")


async def shot_histogram(pilot: Pilot) -> None:
    await model_ready(pilot)
    await variant(pilot, INT8)
    app = r8(pilot)
    while app.view != "activations":
        await pilot.press("w")
    await wait_idle(pilot)
    await tree_to(pilot, HIST_LAYER)
    await wait_until(pilot, lambda: app.model_pane.hist.kind == "quant", "the int8 histogram")


async def shot_every_variant(pilot: Pilot) -> None:
    await model_ready(pilot)
    await pilot.press("5")
    app = r8(pilot)
    pane = app.query_one(EveryVariantPane)
    await wait_until(pilot, lambda: pane.layer_list.values and all(
        pane.is_loaded(v, app.input_text) for v in pane.shown_variants()), "every variant")
    await wait_idle(pilot)
    for _ in range(len(pane.layer_list.values)):
        if pane.layer_name == EVERY_LAYER:
            break
        await pilot.press("right_square_bracket")
    await wait_idle(pilot)
    await pilot.pause(2 * MEASURE_S)


async def shot_layers(pilot: Pilot) -> None:
    await model_ready(pilot)
    await variant(pilot, INT8)  # the activation table below shows B's activations
    await pilot.press("3")
    pane = r8(pilot).query_one(LayersPane)
    pane.choose("onnx-int8", INT8)  # what a and b pick in their dialogs
    await wait_until(pilot, lambda: pane.compare_table.values and pane.acts_table.values,
                     "the A/B comparison")
    await wait_idle(pilot)
    await pilot.pause(2 * MEASURE_S)


async def shot_flipped(pilot: Pilot) -> None:
    await model_ready(pilot)
    await variant(pilot, INT8)
    await pilot.press("4")
    pane = r8(pilot).query_one("#accuracy-pane")
    await wait_until(pilot, lambda: getattr(pane, "report", None) is not None, "the accuracy table")
    await wait_idle(pilot)
    await pilot.pause(2 * MEASURE_S)  # tables repaint once their rows are measured
    await wait_idle(pilot)


SHOTS: dict[str, Shot] = {
    "model": shot_model,
    "int8-histogram": shot_histogram,
    "every-variant": shot_every_variant,
    "layers-ab": shot_layers,
    "flipped": shot_flipped,
}


async def take(name: str, shot: Shot, cache_dir: str | None, out: Path) -> None:
    session = Session(cache_dir=cache_dir, download=False)
    app = R8App(session, input_text="test:0")
    app.animation_level = "none"  # the tab underline slides otherwise
    async with app.run_test(size=SIZE, message_hook=note_errors) as pilot:
        await shot(pilot)
        await wait_idle(pilot)
        app.save_screenshot(filename=f"{name}.svg", path=str(out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="screenshots", description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=None, help="the r8 cache (default: r8's default)")
    p.add_argument("--out", default="docs", help="folder for the SVGs (default: docs)")
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(SHOTS)}")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(SHOTS)
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        print(f"screenshots: error: unknown screenshot {', '.join(unknown)}; choose from "
              f"{', '.join(SHOTS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if len(names) > 1:  # one process per screenshot: nothing one app left behind reaches the next
        cache = ["--cache-dir", args.cache_dir] if args.cache_dir else []
        for name in names:
            done = subprocess.run([sys.executable, __file__, "--only", name, "--out", str(out),
                                   *cache], check=False)
            if done.returncode:
                return done.returncode
        return 0
    start = time.monotonic()
    asyncio.run(take(names[0], SHOTS[names[0]], args.cache_dir, out))
    print(f"{out / names[0]}.svg  {time.monotonic() - start:.1f} s", flush=True)
    # a job thread still inside TensorFlow when the interpreter exits would abort it
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_PREFIX):
            thread.join(timeout=WAIT_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
