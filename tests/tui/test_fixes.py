"""TUI defects seen after the first merge (issues 13/14), each driven as a user would on the
real engine: one variant picker, the Layers screen's swap key, the flipped browser with a float
variant current, the header at 80 columns, the Input screen at 80x24 and the Model screen's
side pane at 80x24."""

from __future__ import annotations

import importlib.util

from engine.workspace import Workspace
from tests.tui.conftest import make_app, sync, wait_idle, wait_until
from tui.screens.layers import LayersPane
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
        pane = app.query_one(LayersPane)
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
        pane = app.query_one(LayersPane)
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
