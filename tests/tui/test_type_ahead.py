"""Keys typed ahead of the focus (tui/type_ahead.py): a burst of keys, as a terminal sends them
in one read over SSH or on a paste, lands where the first key of the burst moved focus to."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import make_app, sync, wait_idle, wait_until
from tui.app import R8App
from tui.screens.prompt import PromptScreen
from tui.screens.variant_picker import VariantPicker


async def burst(pilot: Pilot, *keys: str) -> None:
    """Send ``keys`` all at once: each is queued before the app handles the first (Pilot's
    press waits for the app to settle after every key, which hid the defect)."""
    driver = pilot.app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1:
            event = events.Key(_character_to_key(key) if not key.isalnum() else key, key)
        else:
            event = events.Key(key, {"enter": "\r", "escape": "\x1b"}.get(key))
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()


BURSTS = [
    # `/add`: the find bar gets `add` (the `a` showed the Accuracy screen)
    (("/", "a", "d", "d"), lambda app: app.find_query == "add" and app.tabs.active == "model"
     and app.focused is app.find_bar.input and "add" in app.find_matches),
    # `o`, `test:5`, Enter: that input is shown (the prompt got `est:5`: an error)
    (("o", *"test:5", "enter"), lambda app: app.input_text == "test:5"
     and not isinstance(app.screen, PromptScreen)),
    # `v j Enter`: the next variant
    (("v", "j", "enter"), lambda app: app.variant == app.session.variants[1]),
    # `/add`, Enter, `k`: the find kept, then one layer up in the tree (the `k` was typed
    # into the find: "no layer matches 'addk'")
    (("/", *"add", "enter", "k"), lambda app: app.find_query == "add"
     and app.focused is app.model_pane.layer_tree
     and app.model_pane.layer_tree.selected_layer.name == "batch_normalization_2"),
    # `3 a`: the Layers screen, then its A picker (the `a` reached the app: the Accuracy screen)
    (("3", "a"), lambda app: isinstance(app.screen, VariantPicker)
     and app.tabs.active == "layers"),
]


@pytest.mark.parametrize(("keys", "done"), BURSTS, ids=[
    "find", "input-prompt", "picker", "find-then-tree", "screen-then-key"])
@sync
async def test_keys_typed_ahead_land_where_the_first_one_moved_focus(
        ws: Workspace, keys: tuple[str, ...], done: Callable[[R8App], bool]) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        await burst(pilot, *keys)
        await wait_until(pilot, lambda: done(app))
        await burst(pilot, "escape", "j", "k")  # after it: keys answer at once, none held
        await wait_idle(pilot)
        assert not app.type_ahead.waiting
