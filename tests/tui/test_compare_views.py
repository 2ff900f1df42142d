"""The Layers screen's A/B comparison and the every-variant view, on the real engine: what the
tables show is read back and held against the engine's own reports for the same pair."""

from __future__ import annotations

import math

import pytest
from textual.pilot import Pilot

from engine import compare, qparams
from engine.inputs import parse_input
from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, screen_text, sync, wait_idle, wait_until
from tui.screens.every_variant import STAT_ROWS
from tui.screens.layers import COMPARE_HEADER, LayersPane
from tui.screens.variant_picker import VariantPicker

INT8_VARIANTS = ("keras", "onnx", "onnx-int8")
"""One int8 variant (ONNX Runtime: quantized once per cache, seconds) besides two floats."""
SIZE = (120, 40)


def same(x: object, y: float | None) -> bool:
    """Equal numbers (NaN equals NaN, inf equals inf); None only equals None."""
    if y is None or x is None:
        return x is y
    assert isinstance(x, float)
    return (math.isnan(x) and math.isnan(y)) or x == y


async def layers_ready(pilot: Pilot) -> LayersPane:
    await pilot.press("3")
    pane = await built(pilot, "layers")
    await wait_until(pilot, lambda: pane.compare_table.values)
    await wait_idle(pilot)
    return pane


async def pick(pilot: Pilot, key: str, name: str) -> None:
    """Open the A or B picker and choose ``name`` with the arrow keys and Enter."""
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, VariantPicker))
    screen = pilot.app.screen
    assert isinstance(screen, VariantPicker)
    options = screen.variants
    here = options.index(screen.current)
    target = options.index(name)
    for _ in range(abs(target - here)):
        await pilot.press("down" if target > here else "up")
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(pilot.app.screen, VariantPicker))


@pytest.mark.slow
@sync
async def test_pick_a_and_b_shows_the_engines_comparison(ws: Workspace) -> None:
    """a/b pick any two variants; the table is the engine's report of that pair: accumulated
    and isolated error per layer, and the title names the input and its image count."""
    app = make_app(ws, variants=INT8_VARIANTS)
    async with app.run_test(size=SIZE) as pilot:
        pane = await layers_ready(pilot)
        assert pane.pair() == ("keras", "onnx-int8")  # baseline vs the first int8, unpicked
        await pick(pilot, "a", "onnx")
        await pick(pilot, "b", "onnx-int8")
        assert pane.pair() == ("onnx", "onnx-int8")
        await wait_until(pilot, lambda: pane.compare_table.border_title == "onnx-int8 against onnx")
        await wait_idle(pilot)
        table = pane.compare_table
        assert table.header == list(COMPARE_HEADER)
        want = compare.compare_activations(ws, "onnx", "onnx-int8", parse_input(ws, "test:0"),
                                           error="both")
        assert [r[0] for r in table.values] == [x.name for x in want.layers]
        col = {name: i for i, name in enumerate(table.header)}
        for row, x in zip(table.values, want.layers, strict=True):
            assert same(row[col["acc. dB"]], x.diff.sqnr_db), x.name
            assert same(row[col["acc. cosine"]], x.diff.cosine), x.name
            iso = x.isolated.diff.sqnr_db if x.isolated else None
            assert same(row[col["isol. dB"]], iso), x.name
        isolated = [r for r in table.values if r[col["isol. dB"]] is not None]
        assert len(isolated) >= 9  # every conv unit of the int8 model has its own error
        text = screen_text(app)
        assert "test:0 (1 image)" in text
        assert "isolated error: onnx-int8's own layers" in text

        # a float pair: accumulated only, every isolated cell empty, and the title says why
        await pick(pilot, "b", "keras")
        await wait_until(pilot, lambda: pane.compare_table.border_title == "keras against onnx")
        await wait_idle(pilot)
        assert all(r[col["isol. dB"]] is None for r in pane.compare_table.values)
        assert "isolated error: - (A and B are float: it needs an int8 side)" in screen_text(app)

        # Escape in the picker keeps the pair; u swaps it
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
        await pilot.press("escape")
        assert pane.pair() == ("onnx", "keras")
        await pilot.press("u")
        assert pane.pair() == ("keras", "onnx")


@sync
async def test_enter_on_a_layer_row_opens_it_on_the_model_screen(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        pane = await layers_ready(pilot)
        pane.compare_table.focus()
        await pilot.press("down", "down", "down", "down")
        name = pane.compare_table.values[pane.compare_table.cursor_row][0]
        assert name != pane.compare_table.values[0][0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.tabs.active == "model")
        await pilot.pause()
        layer = app.model_pane.layer_tree.selected_layer
        assert layer is not None and layer.name == name


@pytest.mark.slow
@sync
async def test_every_variant_view_has_one_column_per_variant_with_the_engines_sqnr(
        ws: Workspace) -> None:
    app = make_app(ws, variants=INT8_VARIANTS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        pane = await built(pilot, "variants")
        await wait_until(pilot, lambda: pane.layer_list.values and all(
            pane.is_loaded(v, "test:0") for v in INT8_VARIANTS))
        await wait_idle(pilot)
        assert pane.header == ["stat", *INT8_VARIANTS]
        assert [r[0] for r in pane.rows] == list(STAT_ROWS)
        spec = parse_input(ws, "test:0")
        reports = {v: compare.compare_activations(ws, "keras", v, spec) for v in INT8_VARIANTS[1:]}
        quant = qparams.activation_qparams(ws, "onnx-int8", spec)
        act_rows: dict[str, list[object]] = {}
        seen = set()
        for _ in range(len(pane.layer_list.values)):
            layer = pane.layer_name
            assert layer is not None and layer not in seen
            seen.add(layer)
            rows = {r[0]: r[1:] for r in pane.rows}
            assert rows["SQNR dB"][0] is None  # keras is the reference
            for i, v in enumerate(INT8_VARIANTS[1:], start=1):
                want = next((x.diff.sqnr_db for x in reports[v].layers if x.name == layer), None)
                assert same(rows["SQNR dB"][i], want), (layer, v)
            q = next((x for x in quant.layers if x.name == layer), None)
            assert rows["scale"][2] == (q.scale if q else None), layer
            assert rows["zero point"][2] == (q.zero_point if q else None), layer
            if layer == "activation":
                act_rows = rows
            await pilot.press("right_square_bracket")
            await pilot.pause()
        assert len(seen) == len(pane.layer_list.values)  # ] walked every layer once
        # on a ReLU output the int8 column is far below the float one and has a scale
        assert act_rows["SQNR dB"][1] > compare.FLOAT_AGREEMENT_DB > act_rows["SQNR dB"][2]
        assert act_rows["scale"][2] > 0 and act_rows["scale"][1] is None
        exported = pane.table_in_view()  # what e writes: every variant, not one page
        assert exported is not None and exported.header == pane.header
        assert exported.values == pane.rows
        text = screen_text(app)
        assert "in every variant · input test:0 (1 image)" in text
        assert "histograms (log count), one x range" in text
