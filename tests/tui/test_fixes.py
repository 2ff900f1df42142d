"""TUI defects seen after the first merge (issues 13/14), each driven as a user would on the
real engine: one variant picker, the Layers screen's swap key, the flipped browser with a float
variant current, the header at 80 columns, the Input screen at 80x24 and the Model screen's
side pane at 80x24."""

from __future__ import annotations

import importlib.util

from rich.text import Text

from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, screen_text, sync, wait_idle, wait_until
from tui.app import context_line, middle_ellipsis
from tui.screens.input import PREDICTION_HEADER
from tui.screens.model import ModelPane
from tui.screens.variant_picker import VariantPicker


def picker_title(screen: VariantPicker) -> str:
    return str(screen.query_one("#picker-title").render())


@sync
async def test_one_variant_picker_for_v_and_for_a_and_b(ws: Workspace) -> None:
    """v and the Layers screen's a/b open the same modal, each with its own title."""
    assert importlib.util.find_spec("tui.screens.variant_choice") is None
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
        assert isinstance(app.screen, VariantPicker)
        assert picker_title(app.screen) == "Variant"
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, VariantPicker))
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        for key, title in (("a", "Layers: reference A"), ("b", "Layers: compared B")):
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
            assert isinstance(app.screen, VariantPicker)
            assert picker_title(app.screen) == title
            assert app.screen.current == pane.pair()[0 if key == "a" else 1]
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, VariantPicker))


@sync
async def test_swap_has_its_own_key_and_s_sorts_the_focused_table(ws: Workspace) -> None:
    """With the comparison table focused, s sorts it and leaves A/B alone; u swaps A/B
    whatever has focus, and the footer names u."""
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values)
        await wait_idle(pilot)
        table = pane.compare_table
        table.focus()
        await pilot.pause()
        before = pane.pair()
        await pilot.press("s")
        assert table.sort_column is not None
        assert pane.pair() == before
        await pilot.press("u")
        assert pane.pair() == before[::-1]
        keys = {k: b.binding.description for k, b in app.active_bindings.items() if b.binding.show}
        assert keys.get("u") == "Swap A/B"


@sync
async def test_flipped_browser_with_a_float_variant_current_browses_the_first_int8(
        ws: Workspace) -> None:
    """keras current: the browser shows onnx-int8's flips (not 'keras vs keras: 0 of 0') and
    says why; the cursor on the int8 row browses that row with no note."""
    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.variant == "keras"
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await pilot.pause()
        assert pane.variants_table.selected_row()[0] == "keras"
        row = next(r for r in pane.report.rows if r.variant == "onnx-int8")
        want = len(row.float_right_variant_wrong) + len(row.float_wrong_variant_right)
        assert want > 0, "int8 flips some of 500 images"
        title = str(pane.flipped_table.border_title)
        assert title.startswith(f"onnx-int8 vs keras: {want} of {want} flipped"), title
        assert "(keras float: first int8)" in title
        assert len(pane.flipped_table.values) == want
        assert "onnx-int8 vs keras" in screen_text(app)
        pane.variants_table.focus()
        await pilot.press("down")  # onnx: float too, still the first int8
        await pilot.pause()
        assert str(pane.flipped_table.border_title).startswith("onnx-int8 vs keras")
        assert "(onnx float: first int8)" in str(pane.flipped_table.border_title)
        await pilot.press("down")  # onnx-int8 itself
        await pilot.pause()
        assert pane.variants_table.selected_row()[0] == "onnx-int8"
        title = str(pane.flipped_table.border_title)
        assert title.startswith("onnx-int8 vs keras") and "float: first int8" not in title
        await wait_idle(pilot)


def plain(markup: str) -> str:
    return Text.from_markup(markup).plain


def test_header_keeps_the_device_at_80_columns_with_a_long_variant() -> None:
    """A repaired variant's long name: the view goes first, then the name loses its middle
    (marked …); the device indicator always ends the line, which never passes 80 columns."""
    long = "onnx-int8@float=conv2d_1,conv2d_3,conv2d_5,average_pooling2d,dense"
    device = "cuda · TF32 off"
    short = plain(context_line("keras", "test:0", "activations", device, 80))
    assert "view activations" in short and "variant keras" in short  # fits: all of it
    line = plain(context_line(long, "test:0", "activations", device, 80))
    assert len(line) <= 80 and line.endswith(device), line
    assert "view" not in line and "input test:0" in line
    name = line.split("variant ")[1].split("  input")[0]
    assert "…" in name and name.startswith("onnx-int8@") and name.endswith("dense")
    mid = plain(context_line(long, "test:0", "activations", device, 120))
    assert "view" not in mid and long in mid  # dropping the view was enough at 120
    assert middle_ellipsis("abcdefghij", 5) == "ab…ij"
    assert middle_ellipsis("abc", 5) == "abc"


@sync
async def test_header_at_80_columns_shows_the_device(ws: Workspace) -> None:
    """At 80 columns, and after a resize from 120 to 80 under the variant picker."""
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first = screen_text(app).splitlines()[0].rstrip()
        assert first.endswith(app.device_text), first
        await wait_idle(pilot)
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, VariantPicker))
        await pilot.resize_terminal(50, 24)  # the full line is 55 columns
        await pilot.pause()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, VariantPicker))
        await pilot.pause()
        first = screen_text(app).splitlines()[0].rstrip()
        assert first.endswith(app.device_text) and "view" not in first, first
        await wait_idle(pilot)


@sync
async def test_input_predictions_fit_80_columns_and_loading_empties_the_old_input(
        ws: Workspace) -> None:
    """80x24: the predictions table fits its pane (no sideways scroll), tie and top-3 on z;
    a new input empties the image and both tables until its predictions come."""
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.logits is not None)
        await pilot.pause()
        await pilot.pause()
        table = pane.table
        assert table.header == ["variant", "prediction", "p", "correct"]
        assert [r[0] for r in table.values] == ["keras", "onnx"]
        assert table.max_scroll_x == 0, table.virtual_size
        assert "z: tie, top-3" in screen_text(app)
        table.focus()
        await pilot.press("z")  # full screen: every column
        await pilot.pause()
        assert table.header == list(PREDICTION_HEADER)
        await pilot.press("z")
        await pilot.pause()
        assert table.header == ["variant", "prediction", "p", "correct"]
        await wait_idle(pilot)

        app.apply_input("test:7", switch=False)  # refreshes the pane at once
        assert table.values == [] and pane.logits_table.values == []
        assert "loading" in str(table.border_title)
        assert str(pane.image.render()) == "no image"
        await wait_until(pilot, lambda: pane.shown is not None and pane.shown.input == "test:7"
                         and table.values)
        assert len(table.values) == 2
        await wait_idle(pilot)

    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.logits is not None)
        await pilot.pause()
        await pilot.pause()
        assert pane.table.header == list(PREDICTION_HEADER)
        assert pane.table.max_scroll_x == 0, pane.table.virtual_size
        await wait_idle(pilot)


@sync
async def test_model_side_pane_at_80x24_shows_the_histogram_and_six_statistics(
        ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(ModelPane)
        await wait_until(pilot, lambda: pane.stats.row_count > 0)
        await wait_idle(pilot)
        await pilot.pause()
        assert pane.layer_tree.outer_size.width <= 40
        assert pane.hist.outer_size.height >= 6
        # border (2) and header (1) aside, every other line is a statistic
        assert pane.stats.outer_size.height - 3 >= 6, pane.stats.outer_size
        assert pane.stats.row_count >= 6
        lines = screen_text(app).splitlines()
        shown = [r for r in ("count", "min", "max", "mean", "std")
                 if any(f"│ {r} " in line for line in lines)]
        assert shown == ["count", "min", "max", "mean", "std"], shown
