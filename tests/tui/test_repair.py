"""Repair from the app (issue 13 §5), the variant picker and run-time variants (issue 14), on
the real engine: a repair job adds a variant that shows in the picker and the Accuracy table;
cancelling one leaves no variant and no half-written cache file."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Input, OptionList, SelectionList

from cli import main as cli_main
from engine import evaluate, named_settings, quantize
from engine import variants as V
from engine.cache import TMP_PREFIX
from engine.subsets import select_subset
from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, screen_text, sync, wait_idle, wait_until
from tui import tui_main
from tui.app import R8App
from tui.jobs import job_threads_alive
from tui.screens.repair import RepairScreen
from tui.screens.variant_picker import VariantPicker
from tui.session import RepairRequest, Session

REPAIR_CALIB = "train:200"
"""A small calibration set keeps the test's quantization to seconds."""
REPAIRED = "onnx-int8@float=dense@calib=train:200"
"""What engine.named_settings names onnx-int8 with dense float on 200 training images."""


@pytest.fixture(autouse=True)
def registry_as_it_was() -> Iterator[None]:
    """Variants a test registers at run time leave with it (the registry is global)."""
    before = set(V.names())
    yield
    for name in set(V.names()) - before:
        V.unregister(name)


def test_repair_names_are_named_settings(ws: Workspace) -> None:
    """The dialog's names are engine.named_settings's, against the session's settings."""
    session = Session(cache_dir=str(ws.cache_dir), download=False, variants=("keras", "onnx"),
                      ws=ws)
    req = RepairRequest("onnx-int8", ("dense",), False, None, REPAIR_CALIB)
    assert session.repair_name(req) == REPAIRED
    assert named_settings.parse(REPAIRED, session.opts.quant) == (
        "onnx-int8", session.repair_settings(req))
    assert session.repair_name(RepairRequest("onnx-int8")) == "onnx-int8"
    # a method equal to the backend's default is no change of settings
    assert session.repair_name(RepairRequest("torch-int8", ("dense",), method="histogram",
                                             calib=REPAIR_CALIB)) == \
        "torch-int8@float=dense@calib=train:200"
    assert session.repair_name(replace(req, recipe="torch-int8", method="minmax")).endswith(
        "@method=minmax")
    assert session.repair_name(replace(req, float_layers=("add", "dense"),
                                       bias_correction=True)) == \
        "onnx-int8@float=add+dense@bias-correction@calib=train:200"


@pytest.mark.slow
def test_a_repaired_variant_can_be_typed_back(ws: Workspace, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A variant made in the TUI (Session.repair) is a name r8 and r8-tui read back: the same
    settings, so the same quantized model and the same predictions."""
    session = Session(cache_dir=str(ws.cache_dir), download=False, variants=("keras", "onnx"),
                      ws=ws)
    req = RepairRequest("onnx-int8", ("dense",), False, "minmax", REPAIR_CALIB)
    name, _, _ = session.repair(req)
    assert name == REPAIRED
    made = V.get(name)
    assert isinstance(made, V.QuantizedVariant)
    key = quantize.settings(made.base, made.quant).key_parts()  # the quantized model's key
    subset = select_subset(ws, "first:200")
    probs = evaluate.predictions(ws, name, subset, session.opts).probs
    V.unregister(name)  # what r8 and r8-tui find is only what they register themselves

    capsys.readouterr()
    rc = cli_main(["--cache-dir", str(ws.cache_dir), "--no-download", "eval", "--variant",
                   name, "--subset", "first:200", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    typed = V.get(name)
    assert isinstance(typed, V.QuantizedVariant)
    assert quantize.settings(typed.base, typed.quant).key_parts() == key
    correct = json.loads(out.out)["variants"][name]["correct"]
    assert correct == int(np.sum(probs.argmax(1) == subset.labels))
    V.unregister(name)

    started: list[Session] = []
    monkeypatch.setattr(R8App, "run", lambda app, **_: started.append(app.session))
    rc = tui_main.main(["--cache-dir", str(ws.cache_dir), "--no-download",
                        "--variants", f"keras,{name}"])
    assert rc == 0, capsys.readouterr().err
    assert started and started[0].variants == ("keras", name)
    shown = started[0].variant_of(name)
    assert isinstance(shown, V.QuantizedVariant)
    assert quantize.settings(shown.base, shown.quant).key_parts() == key


@sync
async def test_picker_picks_and_steps_back(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx", "torch"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
        options = app.screen.query_one(OptionList)
        assert options.option_count == 3
        assert options.highlighted == 0  # the current variant, keras
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, VariantPicker))
        assert app.variant == "torch"
        assert "variant torch" in screen_text(app)
        await pilot.press("V")
        assert app.variant == "onnx"
        await pilot.press("v", "escape")  # Escape keeps the current variant
        assert app.variant == "onnx"
        assert " cpu" in screen_text(app).splitlines()[0]  # the device indicator


@pytest.mark.slow
@sync
async def test_repair_adds_a_variant_everywhere(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx"), subset="first:500")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.known_layers() is not None)
        await wait_idle(pilot)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RepairScreen))
        dialog = app.screen
        dialog.query_one(SelectionList).deselect_all()
        dialog.query_one(SelectionList).select("dense")
        calib = dialog.query_one("#repair-calib", Input)
        calib.value = REPAIR_CALIB
        await pilot.pause()
        assert REPAIRED in screen_text(app)  # the dialog says the name before it builds
        calib.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: REPAIRED in app.session.variants)
        await wait_idle(pilot)
        assert app.variant == REPAIRED
        v = V.get(REPAIRED)
        assert isinstance(v, V.QuantizedVariant)
        assert quantize.cached_meta(ws, v.base, v.options(app.session.opts)) is not None
        # the Accuracy table: a row for the new variant, its accuracy the engine's
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await wait_idle(pilot)
        rows = {r.variant: r for r in pane.report.rows}
        assert set(rows) == {"keras", "onnx", REPAIRED}
        subset = select_subset(ws, "first:500")
        probs = evaluate.predictions(ws, REPAIRED, subset, app.session.opts).probs
        assert rows[REPAIRED].accuracy == pytest.approx(
            float(np.mean(probs.argmax(1) == subset.labels)), abs=1e-9)
        assert REPAIRED in [r[0] for r in pane.variants_table.values]
        # the picker lists it, marked as repaired
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
        text = screen_text(app)
        assert REPAIRED in text and "repaired" in text
        await pilot.press("escape")


@sync
async def test_cancelled_repair_leaves_no_variant(ws: Workspace) -> None:
    # a calibration seed never used before: the quantization is real work, not a cache hit
    seed = random.randrange(10**6, 10**9)
    opts = V.VariantOptions(quant=V.QuantSettings(calib_seed=seed))
    session = Session(cache_dir=str(ws.cache_dir), download=False, variants=("keras", "onnx"),
                      opts=opts)
    app = R8App(session)
    app.animation_level = "none"
    req = RepairRequest("onnx-int8", ("dense",), True, None, "train:2000")
    name = session.repair_name(req)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: session.known_layers() is not None)
        await wait_idle(pilot)
        app.start_repair(req)
        await wait_until(pilot, lambda: any(j.stage == "repair" for j in app.jobs))
        await pilot.pause(0.5)
        await pilot.press("escape")
        await wait_idle(pilot)
        await wait_until(pilot, lambda: not job_threads_alive())
        await pilot.pause()
        assert name not in session.variants
        assert name not in V.names()
        assert app.variant == "keras"
    resolved = quantize.settings("onnx-int8", session.repair_settings(req))
    assert resolved.calib_seed == seed
    assert quantize.cached_meta(ws, "onnx-int8", replace(opts, quant=session.repair_settings(
        req))) is None
    assert not [p for p in ws.cache_dir.rglob(f"{TMP_PREFIX}*")]


@sync
async def test_repair_dialog_refuses_bad_settings_in_one_line(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.session.known_layers() is not None)
        await wait_idle(pilot)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RepairScreen))
        calib = app.screen.query_one("#repair-calib", Input)
        calib.value = "train:0"
        calib.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RepairScreen)  # stays open with what was typed
        assert "selects nothing" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, RepairScreen)
        assert app.session.variants == ("keras", "onnx")


def test_recommended_without_a_saved_recommendation_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a cache with no recommendation in it: r8-tui refuses at start, as r8 does
    rc = tui_main.main(["--cache-dir", str(tmp_path / "cache"), "--no-download",
                        "--variants", "keras,onnx-int8@recommended"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("r8-tui: error: no recommendation saved for onnx-int8")
    assert "r8 quantize --recommend --variant onnx-int8" in err[0]
    assert "onnx-int8@recommended" not in V.names()
