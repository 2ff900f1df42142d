"""r8-tui driven by Pilot on the real engine, the real model and the real cached results."""

from __future__ import annotations

import csv
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

from textual.notifications import Notification
from textual.worker import WorkerState

from engine import layers, weights
from engine.workspace import Workspace
from tests.tui.conftest import (
    built,
    make_app,
    notifications_into,
    screen_text,
    sync,
    wait_idle,
    wait_until,
)
from tui.app import R8App
from tui.commands import COMMANDS
from tui.screens.help import HelpScreen
from tui.screens.prompt import PromptScreen
from tui.session import Session
from tui.tui_main import main as tui_main
from tui.tui_main import start as tui_main_start


@sync
async def test_model_tree_navigation_and_find(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.model_pane
        await wait_until(pilot, lambda: pane.layer_infos)
        await wait_idle(pilot)
        assert app.tabs.active == "model"
        first = pane.layer_tree.selected_layer
        assert first is not None and first.params > 0
        assert [n for n in pane.layer_tree.layer_names[:2]] == ["input_1", "conv2d"]
        assert pane.stats.values, "statistics of the selected layer's weights"
        assert pane.stats.header[:2] == ["stat", "kernel"]

        await pilot.press("j")
        await pilot.pause()
        second = pane.layer_tree.selected_layer
        assert second is not None and second.index == first.index + 1
        assert second.name in str(pane.info.render())

        await pilot.press("slash")
        assert app.find_bar.is_open and app.focused is app.find_bar.input
        await pilot.press(*"conv2d_3", "enter")
        await pilot.pause()
        assert pane.layer_tree.selected_layer.name == "conv2d_3"
        assert "model/conv2d_3/BiasAdd" in str(pane.info.render())
        kernel = pane.stats.values[pane.stats.header.index("stat")]
        assert kernel[0] == "count" and kernel[1] == 3 * 3 * 16 * 32

        await pilot.press("w")  # biases
        await pilot.pause()
        assert app.view == "biases" and pane.stats.header == ["stat", "bias"]


@sync
async def test_switch_screens_by_number_and_letter(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        for key, tab in (("2", "input"), ("3", "layers"), ("4", "accuracy"), ("1", "model"),
                         ("i", "input"), ("a", "accuracy"), ("m", "model")):
            await pilot.press(key)
            await pilot.pause()
            assert app.tabs.active == tab, key
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()  # the help screen's first frame
        assert "Keys on the Model screen" in screen_text(app)
        await pilot.press("G")  # the bottom of help: the keys every screen shares
        await pilot.pause()
        assert "command palette" in screen_text(app)
        assert "Export" in [b.description for b in app.screen.here + app.screen.others]
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await wait_idle(pilot)


@sync
async def test_change_variant_and_input(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        assert [r[0] for r in pane.table.values] == ["keras", "onnx"]
        assert pane.shown.input == "test:0" and int(pane.shown.labels[0]) == 3  # a cat
        assert pane.table.values[0][1] == "cat"

        await pilot.press("n")
        await wait_until(pilot, lambda: pane.shown.input == "test:1")
        assert int(pane.shown.indices[0]) == 1
        await pilot.press("p", "p")
        await wait_until(pilot, lambda: app.input_text != "test:1")
        await wait_idle(pilot)
        assert app.input_text == "test:9999"  # wraps round to the last image

        await pilot.press("v", "v", "enter")  # the picker: open, next, pick
        assert app.variant == "onnx"
        assert "variant onnx" in screen_text(app)
        await pilot.press("v", "v", "enter")  # round the end
        assert app.variant == "keras"
        await wait_idle(pilot)


@sync
async def test_export_table_as_csv(ws: Workspace, tmp_path: Path) -> None:
    app = make_app(ws)
    target = tmp_path / "predictions.csv"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        await pilot.press("e")
        prompt = app.screen
        assert isinstance(prompt, PromptScreen)
        assert prompt.value == str(Path.cwd() / "r8-predictions.csv")
        field = prompt.query_one("#prompt-input")
        field.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        shown = [list(r) for r in pane.table.values]
        first = target.read_bytes()
        # the prompt now proposes the folder written to; an existing file is not overwritten
        # without a yes
        target.write_text("mine\n")
        await pilot.press("e")
        assert app.screen.value == str(tmp_path / "r8-predictions.csv")
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert "exists" in app.screen.title_text
        await pilot.press("enter")  # no answer: keep it
        await pilot.pause()
        assert target.read_text() == "mine\n"
        await pilot.press("e")
        app.screen.query_one("#prompt-input").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y", "enter")
        await pilot.pause()
        assert target.read_bytes() == first
    with target.open() as f:
        meta = f.readline()
        rows = list(csv.reader(f))
    assert meta.startswith("# r8 table=predictions variant=keras input=test:0")
    assert rows[0] == ["variant", "prediction", "p", "correct", "tie", "top-3"]
    assert [r[0] for r in rows[1:]] == ["keras", "onnx"]
    assert abs(float(rows[1][2]) - shown[0][2]) < 1e-6


@sync
async def test_escape_cancels_a_running_job(ws: Workspace) -> None:
    seed = time.time_ns() % 1_000_000_000  # a fresh subset, so nothing is cached
    # three float variants on 9,000 new images: several seconds of work even when warm
    app = make_app(ws, variants=("keras", "onnx", "torch"), subset=f"stratified:9000:{seed}")
    notes: list[Notification] = []
    async with app.run_test(size=(100, 30), notifications=True,
                            message_hook=notifications_into(notes)) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: any(
            "evaluating variants" in (w.description or "")
            and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers),
            timeout=30)
        await pilot.press("escape")
        await wait_idle(pilot)
        pane = await built(pilot, "accuracy")
        assert pane.report is None
        message = str(pane.query_one(".pane-message").render())
        assert message.startswith("Cancelled") and "press r to retry" in message
        assert not any("evaluating" in label for label in app.running_jobs)
        assert [n.message for n in notes] == ["cancelled"]  # once, not also as an error


@sync
async def test_bad_model_path_shows_the_fix(ws: Workspace, tmp_path: Path) -> None:
    app = make_app(ws, model=str(tmp_path / "missing.h5"))
    notes: list[Notification] = []
    async with app.run_test(size=(100, 30), notifications=True,
                            message_hook=notifications_into(notes)) as pilot:
        await wait_idle(pilot)
        text = screen_text(app)
        message = str(app.model_pane.query_one(".pane-message").render())
        assert message.startswith("Error:") and "missing.h5" in message
        assert "Traceback" not in text
        assert "missing.h5" in text
        assert not notes, "the error shows once, in the pane, not also as a toast"


@sync
async def test_accuracy_flipped_image_opens_on_input_screen(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("v", "v", "enter")  # onnx-int8: the Accuracy screen opens on the header's variant
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        assert [r[0] for r in pane.variants_table.values] == ["keras", "onnx-int8"]
        assert pane.variants_table.cursor_row == 1
        flipped = pane.flipped_table
        assert flipped.values, "int8 flips some of 500 images"
        index = flipped.values[0][0]
        flipped.focus()
        await pilot.pause()
        assert app.focused is flipped
        await pilot.press("enter")  # the flipped image, layer by layer; o: the Input screen
        await wait_until(pilot, lambda: app.screen.query("#flip-layers"))
        await pilot.press("o")
        await pilot.pause()
        assert app.tabs.active == "input" and app.input_text == f"test:{index}"
        await wait_idle(pilot)


def test_command_palette_names_every_action() -> None:
    bound = {b.action.split("(")[0] for b in R8App.BINDINGS}
    actions = {action.split("(")[0] for _, _, action in COMMANDS}
    assert all(":" in name for name, _, _ in COMMANDS)
    assert bound <= actions | {"show"}
    for action in actions:
        assert hasattr(R8App, f"action_{action}"), action


def test_bad_flag_is_one_line_error(capsys) -> None:
    assert tui_main(["--variants", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r8-tui: error: unknown variant 'nope'") and err.count("\n") == 1
    assert gc.isenabled(), "a start that fails turns the garbage collector back on"


@sync
async def test_start_collects_garbage_again_after_the_first_frame(ws: Workspace) -> None:
    """r8-tui starts with the cyclic collector off; the first frame freezes what start-up
    built and turns it back on."""
    frozen = gc.get_freeze_count()
    app = tui_main_start(["--cache-dir", str(ws.cache_dir), "--no-download",
                          "--variants", "keras,onnx"])
    try:
        assert not gc.isenabled()
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, gc.isenabled)
            assert app.model_pane.stats.values, "the first frame showed the first layer"
            assert gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()


def test_unusable_cache_dir_is_one_line_error_before_the_app_starts(tmp_path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert tui_main(["--cache-dir", str(blocker / "cache"), "--no-download"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r8-tui: error: cache dir ") and "--cache-dir" in err
    assert err.count("\n") == 1


WARM_START = """
import asyncio, json, sys, time
from tui.app import R8App
from tui.session import Session

async def main():
    app = R8App(Session(cache_dir=sys.argv[1], download=False, variants=("keras", "onnx")))
    async with app.run_test(size=(100, 30)) as pilot:
        t0 = time.monotonic()
        while not (app.model_pane.layer_infos and app.model_pane.stats.values):
            await pilot.pause(0.02)
            assert time.monotonic() - t0 < 60, "no layer map"
        heavy = [m for m in ("tensorflow", "torch", "onnxruntime", "tf_keras") if m in sys.modules]
        print(json.dumps({"heavy": heavy, "layers": len(app.model_pane.layer_infos)}))

asyncio.run(main())
"""


def test_warm_start_imports_no_framework(ws: Workspace) -> None:
    layers.layer_map(ws)  # make sure the cache is warm
    weights.weight_reports(ws, "keras")
    out = subprocess.run([sys.executable, "-c", WARM_START, str(ws.cache_dir)],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "layers": 30}


def test_a_warm_start_reads_the_first_screen_before_textual_starts(ws: Workspace,
                                                                    tmp_path) -> None:
    """The layer map and the first variant's weights are there when the app is made (the
    first frame shows them); on a cold cache nothing is computed or written there: the
    jobs do it, with progress."""
    warm = make_app(ws)
    assert warm.session.known_layers() and warm.session.known_weights(warm.variant)
    cold = R8App(Session(cache_dir=str(tmp_path / "cold"), download=False,
                         variants=("keras", "onnx")))
    assert cold.session.known_layers() is None and cold.session.known_weights("keras") is None
    assert [p for p in (tmp_path / "cold").rglob("*") if p.is_file()] == []
