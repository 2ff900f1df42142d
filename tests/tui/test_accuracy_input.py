"""Accuracy and Input screens (issue 13 §6-§7, issue 14 §6, §8, 80x24), on the real engine."""

from __future__ import annotations

import numpy as np
import pytest

from engine import evaluate, inputs
from engine.compare import compare_activations
from engine.types import CLASS_NAMES
from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, screen_text, sync, wait_idle, wait_until
from tui.app import R8App
from tui.screens.flipped import FlipScreen
from tui.screens.input import short_classes


async def open_input(pilot, app: R8App, text: str) -> None:  # type: ignore[no-untyped-def]
    app.open_input(text, switch=True)
    pane = await built(pilot, "input")
    await wait_until(pilot, lambda: pane.shown is not None and pane.shown.input == text)
    await pilot.pause()


@sync
async def test_n_and_p_walk_the_images_of_a_batch_input(ws: Workspace) -> None:
    app = make_app(ws)
    spec = inputs.parse_input(ws, "batch:test:10-14")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_input(pilot, app, "batch:test:10-14")
        pane = await built(pilot, "input")
        for step, key in enumerate(("n", "n", "p", "p", "p")):
            await pilot.press(key)
            want = [1, 2, 1, 0, len(spec) - 1][step]  # p from the first wraps to the last
            await wait_until(pilot, lambda w=want: pane.position == w)
            await pilot.pause()
            assert app.input_text == "batch:test:10-14"  # the set stays the input
            text = screen_text(app)
            index = int(spec.indices[want])
            assert f"official test index {index}" in text
            assert f"{want + 1} of {len(spec)}" in text
            assert f"label {CLASS_NAMES[int(spec.labels[want])]}" in text
            # the predictions are this image's: keras's row equals the engine's
            probs = app.session.test_predictions("keras")[app.session.rows_of(
                spec.indices[want:want + 1])][0]
            row = pane.table.values[0]
            assert row[0] == "keras" and row[1] == CLASS_NAMES[int(probs.argmax())]
            assert row[2] == pytest.approx(float(probs.max()))
        await pilot.press("t")  # pins the image shown, not the set
        assert app.session.pinned_input == f"test:{int(spec.indices[-1])}"
        await wait_idle(pilot)


@pytest.mark.slow
@sync
async def test_n_walks_the_flipped_images(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx-int8"))
    spec = inputs.parse_input(ws, "flipped:onnx-int8")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_input(pilot, app, "flipped:onnx-int8")
        pane = await built(pilot, "input")
        assert f"official test index {int(spec.indices[0])}" in screen_text(app)
        assert "(first of" not in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: pane.position == 1)
        await pilot.pause()
        assert f"official test index {int(spec.indices[1])}" in screen_text(app)
        await wait_idle(pilot)


async def _accuracy(pilot, app: R8App):  # type: ignore[no-untyped-def]
    await pilot.press("v", "v", "enter")  # the picker: the next variant, onnx-int8
    await pilot.press("4")
    pane = await built(pilot, "accuracy")
    await wait_until(pilot, lambda: pane.report is not None)
    await pilot.pause()
    return pane


@sync
async def test_accuracy_at_80x24_shows_rows_and_zooms(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _accuracy(pilot, app)
        assert pane.variants_table.selected_row()[0] == "onnx-int8"
        text = screen_text(app)
        assert "onnx-int8" in text and "keras" in text.split("baseline")[1]
        flips = pane.flipped_table
        assert flips.values, "int8 flips some of 500 images"
        # the browser shows data rows, not just its header
        assert any(line.lstrip("│ ").startswith(str(flips.values[0][0]))
                   for line in text.splitlines())
        assert pane.per_class_table.display is False or not pane.per_class_table.region
        await pilot.press("d")  # per class, full width, named for its variant
        await pilot.pause()
        text = screen_text(app)
        assert "onnx-int8: per class" in text and "airplane" in text
        await pilot.press("d")
        await pilot.pause()
        text = screen_text(app)
        assert "onnx-int8: confusion" in text
        assert "truck" in text.split("onnx-int8: confusion")[1]
        await pilot.press("z")  # full screen: all ten rows of the matrix
        await pilot.pause()
        assert app.screen.maximized is not None
        text = screen_text(app)
        assert all(name in text for name in CLASS_NAMES) and "Accuracy" not in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None
        await wait_idle(pilot)


@sync
async def test_accuracy_at_120x40_shows_browser_and_per_class(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _accuracy(pilot, app)
        text = screen_text(app)
        assert "onnx-int8: per class" in text and "flipped (Enter opens)" in text
        assert "present" in text  # the notes, whole
        first = str(pane.flipped_table.values[0][0])
        assert any(line.lstrip("│ ").startswith(first) for line in text.splitlines())
        await wait_idle(pilot)


@pytest.mark.slow
@sync
async def test_flipped_browser_filters_equal_the_engines_sets(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx-int8", "torch-int8"))
    test = ws.test_set
    probs = {v: evaluate.predictions(ws, v, test).probs for v in ("keras", "onnx-int8",
                                                                  "torch-int8")}
    ok = {v: p.argmax(1) == test.labels for v, p in probs.items()}
    flipped = {v: set(inputs.parse_input(ws, f"flipped:{v}").indices.tolist())
               for v in ("onnx-int8", "torch-int8")}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v", "v", "v", "enter")  # the picker: two on, torch-int8
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await pilot.pause()
        table = pane.flipped_table

        def shown() -> set[int]:
            return {int(r[0]) for r in table.values}

        assert shown() == flipped["torch-int8"]
        assert len(table.values) == len(flipped["torch-int8"])
        # every row's numbers are the engine's
        for index, kind, label, fpred, fp, qpred, qp, margin in table.values[:20]:
            r = int(np.flatnonzero(test.indices == index)[0])
            q = np.sort(probs["torch-int8"][r])
            assert label == CLASS_NAMES[int(test.labels[r])]
            assert fpred == CLASS_NAMES[int(probs["keras"][r].argmax())]
            assert qpred == CLASS_NAMES[int(probs["torch-int8"][r].argmax())]
            assert fp == pytest.approx(float(probs["keras"][r].max()))
            assert qp == pytest.approx(float(q[-1])) and margin == pytest.approx(q[-1] - q[-2])
            assert kind == ("lost" if ok["keras"][r] else "gained")
        await pilot.press("f")  # lost only
        await pilot.pause()
        lost = set(test.indices[ok["keras"] & ~ok["torch-int8"]].tolist())
        assert shown() == lost and lost
        await pilot.press("f")  # gained only
        await pilot.pause()
        assert shown() == set(test.indices[~ok["keras"] & ok["torch-int8"]].tolist())
        await pilot.press("f", "c", "c", "c", "c")  # every change, class cat (id 3)
        await pilot.pause()
        cats = {i for i in flipped["torch-int8"]
                if int(test.labels[test.indices == i][0]) == 3}
        assert shown() == cats and cats
        await pilot.press(*["c"] * 7)  # back to every class
        await pilot.pause()
        assert shown() == flipped["torch-int8"]
        await pilot.press("b")  # flipped in torch-int8 but not in onnx-int8
        await pilot.pause()
        only = flipped["torch-int8"] - flipped["onnx-int8"]
        assert shown() == only and 0 < len(only) < len(flipped["torch-int8"])
        assert "not flipped in onnx-int8" in screen_text(app)
        await wait_idle(pilot)


@sync
async def test_enter_opens_the_layer_by_layer_error_beside_the_pinned_image(
        ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_input(pilot, app, "test:7")
        await pilot.press("t")  # pin test:7 as the typical image
        assert app.session.pinned_input == "test:7"
        await pilot.press("v", "v", "enter")  # onnx; _accuracy steps on to onnx-int8
        pane = await _accuracy(pilot, app)
        assert app.variant == "onnx-int8"
        table = pane.flipped_table
        table.focus()
        await pilot.press("j")
        index = table.selected_row()[0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, FlipScreen)
                         and app.screen.detail is not None)
        screen = app.screen
        assert isinstance(screen, FlipScreen)
        this = compare_activations(ws, "onnx", "onnx-int8", inputs.parse_input(ws, f"test:{index}"))
        typical = compare_activations(ws, "onnx", "onnx-int8", inputs.parse_input(ws, "test:7"))
        by_name = {x.name: x.diff.sqnr_db for x in typical.layers}
        rows = screen.table.values
        assert [r[0] for r in rows] == [x.name for x in this.layers]
        for (name, here, there, delta), x in zip(rows, this.layers, strict=True):
            assert here == pytest.approx(x.diff.sqnr_db)
            assert there == pytest.approx(by_name[name])
            if np.isfinite(here) and np.isfinite(there):
                assert delta == pytest.approx(here - there)
        assert f"test:{index}" in screen_text(app) and "pinned" in screen_text(app)
        await pilot.press("t")  # pin this image: every Δ becomes 0
        await wait_until(pilot, lambda: screen.detail is not None
                         and screen.detail.pinned == f"test:{index}")
        await pilot.pause()
        assert all(r[3] == 0 for r in screen.table.values if np.isfinite(r[1]))
        await pilot.press("o")  # the image on the Input screen
        await wait_until(pilot, lambda: app.tabs.active == "input"
                         and app.input_text == f"test:{index}")
        await wait_idle(pilot)


def _tied_image(ws: Workspace, variant: str) -> tuple[int, np.ndarray]:
    """The first test image whose top-2 probabilities of ``variant`` are exactly equal."""
    probs = evaluate.predictions(ws, variant, ws.test_set).probs
    top2 = np.sort(probs, axis=1)[:, -2:]
    row = int(np.flatnonzero(top2[:, 0] == top2[:, 1])[0])
    return int(ws.test_set.indices[row]), probs[row]


@sync
async def test_input_screen_shows_every_variants_logits_and_marks_a_tie(ws: Workspace) -> None:
    from engine.logits import variant_logits
    from engine.ties import tie_broken_argmax

    index, probs = _tied_image(ws, "onnx-int8")
    tied = np.flatnonzero(probs == probs.max())
    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_input(pilot, app, f"test:{index}")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.logits is not None)
        await pilot.pause()
        spec = inputs.parse_input(ws, f"test:{index}")
        rows = {r[0]: r for r in pane.logits_table.values}
        for variant in ("onnx", "onnx-int8"):  # the engine's logits, class by class
            want = variant_logits(ws, variant, spec).logits[0]
            assert rows[variant][1:] == pytest.approx([float(x) for x in want])
        assert "keras" not in rows  # keras has none, and says why
        assert "keras: probabilities only" in screen_text(app)
        preds = {r[0]: r for r in pane.table.values}
        # the int8 row: argmax took the lowest tied class, and the mark says it was a tie
        assert preds["onnx-int8"][1] == CLASS_NAMES[int(tied[0])]
        mark = preds["onnx-int8"][4]
        assert mark.startswith("tie ") and all(CLASS_NAMES[int(c)][:5] in mark for c in tied)
        logits = variant_logits(ws, "onnx-int8", spec).logits
        broken = int(tie_broken_argmax(probs[None], logits)[0])
        assert ("logits: " + CLASS_NAMES[broken] in mark) == (broken != int(tied[0]))
        assert preds["onnx"][4] == ""  # float probabilities do not tie here
        # top-3 keeps whole class names (export) and shows them as the logits headers do
        top3 = preds["onnx"][5]
        assert top3.split()[0] in CLASS_NAMES
        assert short_classes(top3) in screen_text(app) and pane.table.max_scroll_x == 0
        assert "tie " in screen_text(app)
        await wait_idle(pilot)


@sync
async def test_logits_at_80_columns_show_the_classes_that_decide_the_image(ws: Workspace) -> None:
    from engine.logits import variant_logits

    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_input(pilot, app, "test:3")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.logits is not None and pane.logits_table.values)
        await pilot.pause()
        spec = inputs.parse_input(ws, "test:3")
        header = pane.logits_table.header[1:]
        assert 2 <= len(header) < 10 and "z: all 10" in screen_text(app)
        shown = [next(i for i, c in enumerate(CLASS_NAMES) if c[:5] == h) for h in header]
        assert shown == sorted(shown)
        assert int(spec.labels[0]) in shown  # the true class, then each variant's choice
        for row in pane.logits_table.values:
            want = variant_logits(ws, row[0], spec).logits[0]
            assert int(want.argmax()) in shown
            assert row[1:] == pytest.approx([float(want[c]) for c in shown])
        await wait_idle(pilot)
