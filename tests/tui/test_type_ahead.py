"""Keys typed ahead of the focus (tui/type_ahead.py): a burst of keys, as a terminal sends them
in one read over SSH or on a paste, lands where the first key of the burst moved focus to."""

from __future__ import annotations

from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import make_app, sync, wait_idle, wait_until
from tui.screens.prompt import PromptScreen


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


@sync
async def test_find_typed_ahead_finds(ws: Workspace) -> None:
    """`/add` in one read: the find bar gets `add` (the `a` showed the Accuracy screen)."""
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        await burst(pilot, "/", "a", "d", "d")
        await wait_until(pilot, lambda: app.find_query == "add")
        assert app.tabs.active == "model"
        assert app.find_bar.input.value == "add" and app.focused is app.find_bar.input
        assert "add" in app.find_matches


@sync
async def test_input_prompt_typed_ahead_shows_that_input(ws: Workspace) -> None:
    """`o`, `test:5`, Enter in one read shows test:5 (the prompt got `est:5`: an error)."""
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        await burst(pilot, "o", *"test:5", "enter")
        await wait_until(pilot, lambda: app.input_text == "test:5")
        assert not isinstance(app.screen, PromptScreen)


@sync
async def test_variant_picker_typed_ahead_picks(ws: Workspace) -> None:
    """`v j Enter` in one read picks the next variant."""
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.model_pane.layer_infos)
        await wait_idle(pilot)
        assert app.variant == app.session.variants[0]
        await burst(pilot, "v", "j", "enter")
        await wait_until(pilot, lambda: app.variant == app.session.variants[1])
        await burst(pilot, "j", "k")  # after the picker: keys go to the tree again, at once
        await wait_idle(pilot)
        assert app.type_ahead.waiting is False
