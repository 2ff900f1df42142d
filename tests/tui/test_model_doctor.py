"""The Model screen as a quantization doctor (issues 13 §3-§4, 14 §2-§3), on the real engine:
the tree coloured by a metric with its values and legend, group rows in step with the state,
sensitivity on the tree, and histograms that show the int8 grid."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine import format as fmt
from engine import qparams
from engine.inputs import parse_input
from engine.workspace import Workspace
from tests.tui.conftest import make_app, screen_text, sync, wait_idle, wait_until
from tui.widgets import metric_scale as M
from tui.widgets.layer_tree import shape_text

INT8 = ("keras", "onnx-int8")


def test_sqnr_bands_are_fixed_and_higher_is_better() -> None:
    got = M.colours(M.SQNR, {"a": 66.0, "b": 31.0, "c": 25.0, "d": 12.0, "e": None})
    assert got == {"a": M.GOOD, "b": M.GOOD, "c": M.FAIR, "d": M.WORST}


def test_rank_scale_is_not_swamped_by_one_outlier() -> None:
    values = {f"l{i}": float(i) for i in range(8)} | {"input_1": 1000.0}
    got = M.colours(M.ACT_STD, values)
    assert len(set(got.values())) == 4  # the range scale gave every layer but one one colour
    assert got["l0"] == M.GOOD and got["input_1"] == M.WORST
    assert got["l4"] != got["l0"]


def test_sensitivity_is_judged_against_the_noise_floor() -> None:
    got = M.colours(M.SENSITIVITY, {"a": 0.1, "b": 0.3, "c": 0.9}, noise=0.2)
    assert got == {"a": M.GOOD, "b": M.FAIR, "c": M.WORST}


async def next_variant(pilot: Pilot) -> None:
    """v to the next variant: v cycles where there is no variant picker; with the picker, v
    opens it, v moves down and Enter picks."""
    app = pilot.app
    before = app.variant  # type: ignore[attr-defined]
    await pilot.press("v")
    await pilot.pause()
    if app.variant == before:  # type: ignore[attr-defined]
        await pilot.press("v", "enter")
        await pilot.pause()


async def _ready(pilot) -> None:  # type: ignore[no-untyped-def]
    pane = pilot.app.model_pane
    await wait_until(pilot, lambda: pane.layer_infos)
    await wait_idle(pilot)
    await wait_until(pilot, lambda: pane.layer_tree.selected_layer is not None)


@sync
async def test_tree_coloured_by_sqnr_shows_values_legend_and_whole_shapes(ws: Workspace) -> None:
    app = make_app(ws, variants=INT8)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.model_pane
        await _ready(pilot)
        while pane.metric is not M.SQNR:
            await pilot.press("c")
        await wait_idle(pilot)
        rep = app.session.known_comparison("keras", "onnx-int8", "test:0")
        assert rep is not None
        tree = pane.layer_tree
        checked = 0
        for c in rep.layers:
            node = tree._layer_nodes[c.name]
            label = node.label
            layer = next(x for x in pane.layer_infos if x.name == c.name)
            assert shape_text(layer.output_shape) in label.plain  # never cut
            assert fmt.number(c.diff.sqnr_db) in label.plain
            if c.diff.sqnr_db != float("inf"):
                styles = {str(s.style) for s in label.spans}
                assert M.sqnr_colour(c.diff.sqnr_db) in styles, (c.name, styles)
                checked += 1
        assert checked >= 10
        assert "≥30 dB" in str(tree.border_subtitle)
        assert "acc dB" in str(tree.border_title)
        text = screen_text(app)
        assert "32x32x16" in text and "≥30 dB" in text
        # the tree is as wide as its widest label: the shape column is whole on screen
        row = next(line for line in text.splitlines() if "activation_1 " in line)
        assert "32x32x16" in row and fmt.number(
            next(c.diff.sqnr_db for c in rep.layers if c.name == "activation_1")) in row


@sync
async def test_group_row_shows_its_layers_in_step_with_variant_and_view(ws: Workspace) -> None:
    app = make_app(ws, variants=INT8)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.model_pane
        await _ready(pilot)
        await pilot.press("j", "j", "j", "j", "k")  # conv2d -> conv2d_1, back up to stack1
        await pilot.pause()
        assert pane.selected_group() == "stack1"
        stack1 = [x.name for x in pane.layer_infos if x.block == "stack1"]
        assert [r[0] for r in pane.stats.values] == stack1
        for key, variant, view in (("v", "onnx-int8", "weights"), ("w", "onnx-int8", "biases")):
            if key == "v":
                await next_variant(pilot)
            else:
                await pilot.press(key)
            await wait_idle(pilot)
            assert (app.variant, app.view) == (variant, view)
            info = str(pane.info.render())
            assert f"variant {variant}" in info and f"view {view}" in info
            assert [r[0] for r in pane.stats.values] == stack1  # no stale layer histogram
            assert pane.hist.kind == "bars"
        while pane.metric is not M.SQNR:
            await pilot.press("c")
        await wait_idle(pilot)
        rep = app.session.known_comparison("keras", "onnx-int8", "test:0")
        sqnr = {c.name: c.diff.sqnr_db for c in rep.layers}
        assert pane.stats.header[-1] == "acc dB"
        assert [r[-1] for r in pane.stats.values] == [sqnr.get(n) for n in stack1]
        assert "stack1: SQNR dB by layer" in screen_text(app)


@sync
async def test_int8_histograms_show_the_grid_levels_and_clipping(ws: Workspace) -> None:
    app = make_app(ws, variants=INT8)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.model_pane
        await _ready(pilot)
        await next_variant(pilot)  # onnx-int8
        await pilot.press("j", "j", "j", "j")  # conv2d_1: per-channel kernel
        await wait_idle(pilot)
        assert pane.layer_tree.selected_layer.name == "conv2d_1"
        assert pane.hist.kind == "quant"
        rows = {r[0]: r[1] for r in pane.stats.values}
        view = app.session.known_weight_views("onnx-int8")[("conv2d_1", "kernel")]
        assert view.per_channel and rows["q.levels_used"] == f"{view.quant.levels_used} of 256"
        text = screen_text(app)
        assert "per-channel ranges" in text and "levels used" in text and "(OIHW)" in text
        await pilot.press("w", "w", "j", "j")  # activations of activation_1
        await wait_idle(pilot)
        assert pane.layer_tree.selected_layer.name == "activation_1"
        assert pane.hist.kind == "quant"
        rows = {r[0]: r[1] for r in pane.stats.values}
        # the engine's own count over the same image (engine.qparams) agrees with the view
        q = qparams.activation_qparams(ws, "onnx-int8", parse_input(ws, "test:0"))
        ref = next(x for x in q.layers if x.name == "activation_1")
        assert rows["q.levels_used"] == f"{ref.levels_used} of {ref.levels}"
        assert rows["q.clipped_low"] + rows["q.clipped_high"] == ref.clipped
        assert rows["q.scale"] == pytest.approx(ref.scale)
        text = screen_text(app)
        assert "(NHWC)" in text and "zp " in text and "1 bar = " in text


@sync
async def test_charts_grow_with_the_pane(ws: Workspace) -> None:
    app = make_app(ws, variants=INT8)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.model_pane
        await _ready(pilot)
        await pilot.press("j", "j", "j", "j")  # conv2d_1's kernel
        await wait_idle(pilot)
        assert pane.hist.kind == "histogram"
        lines = pane.hist.text.plain.splitlines()
        assert pane.hist.size.height >= 18
        assert len(lines) >= pane.hist.size.height - 1  # drawn to the bottom, no empty rows
        assert "x: value · y: count" in screen_text(app)


@pytest.mark.slow
@sync
async def test_sensitivity_on_the_tree_with_its_noise_floor(ws: Workspace) -> None:
    """S computes the sensitivity as a job; the tree shows each unit's points gained beside
    the accumulated and isolated SQNR, coloured against the noise floor."""
    app = make_app(ws, variants=INT8, subset="first:200")
    async with app.run_test(size=(140, 44)) as pilot:
        pane = app.model_pane
        await _ready(pilot)
        await next_variant(pilot)  # onnx-int8
        await pilot.press("S")
        assert pane.metric is M.SENSITIVITY
        await wait_until(pilot, lambda: app.session.known_sensitivity("onnx-int8") is not None,
                         timeout=1800)
        await wait_idle(pilot)
        rep = app.session.known_sensitivity("onnx-int8")
        iso = app.session.known_isolated("onnx-int8", "test:0")
        assert rep is not None and iso is not None and rep.size == 200
        tree = pane.layer_tree
        assert [h for h in ("sens", "acc dB", "iso dB") if h in str(tree.border_title)] == [
            "sens", "acc dB", "iso dB"]
        legend = str(tree.border_subtitle)
        assert f"within noise ≤{rep.noise_floor_points:.2f}" in legend
        assert "1 img = 0.5 pts" in legend
        iso_by_layer = {n: r.diff.sqnr_db for r in iso.layers for n in r.layers}
        for row in rep.layers:
            for name in row.layers:
                label = tree._layer_nodes[name].label
                assert fmt.points(row.delta_points) in label.plain, name
                assert fmt.number(iso_by_layer[name]) in label.plain, name
                colour = M.sensitivity_colour(row.delta_points, rep.noise_floor_points)
                assert colour in {str(s.style) for s in label.spans}, name
        tree.select_layer("conv2d_1")
        await wait_idle(pilot)
        rows = {r[0]: r[1] for r in pane.stats.values}
        conv1 = next(r for r in rep.layers if r.layer == "conv2d_1")
        assert rows["sensitivity"] == conv1.delta_points
        verdict = "within" if abs(conv1.delta_points) <= rep.noise_floor_points else "beyond"
        assert rows["sens vs noise"] == f"{verdict} noise"
        assert rows["1 image (pts)"] == pytest.approx(0.5)
