"""Issue 14's wrong or stale items, each driven as a user would (Pilot on the real engine)."""

from __future__ import annotations

from textual.notifications import Notification

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
from tui.commands import R8Commands
from tui.screens.prompt import PromptScreen


@sync
async def test_a_rejected_input_leaves_the_state_as_it_was(ws: Workspace) -> None:
    app = make_app(ws)
    notes: list[Notification] = []
    async with app.run_test(size=(100, 30), notifications=True,
                            message_hook=notifications_into(notes)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        for bad in ("test:99999", "class:kitten:1"):
            notes.clear()
            await pilot.press("o")
            assert isinstance(app.screen, PromptScreen)
            app.screen.query_one("#prompt-input").value = bad
            await pilot.press("enter")
            await wait_idle(pilot)
            assert app.input_text == "test:0", bad
            assert bad not in screen_text(app).splitlines()[0]
            assert pane.shown is not None and pane.shown.input == "test:0"
            assert len(notes) == 1 and notes[0].severity == "error", [n.message for n in notes]
        await pilot.press("n")  # stepping goes on from the good input
        await wait_until(pilot, lambda: pane.shown.input == "test:1")


@sync
async def test_group_row_keeps_the_side_pane_in_step(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.model_pane
        await wait_until(pilot, lambda: pane.layer_infos)
        await wait_idle(pilot)
        await wait_until(pilot, lambda: pane.layer_tree.selected_layer is not None)
        assert pane.layer_tree.selected_layer.name == "conv2d"
        await pilot.press("j", "j", "j", "j", "k")  # down to conv2d_1, up to the stack1 row
        await pilot.pause()
        assert pane.layer_tree.selected_layer is None
        await pilot.press("w")  # biases: the side pane shows the group, in step with the view
        await wait_idle(pilot)
        assert app.view == "biases"
        assert pane.stats.header[0] == "layer"
        assert "view biases" in str(pane.info.render())
        assert "conv2d_1.kernel" not in screen_text(app)


@sync
async def test_l_expands_the_tree_and_the_palette_lists_each_command_once(
        ws: Workspace) -> None:
    assert R8App.COMMANDS == {R8Commands}  # no second Quit, no Maximize
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.model_pane
        await wait_until(pilot, lambda: pane.layer_infos)
        await wait_idle(pilot)
        await pilot.press("h")  # collapse stem
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert app.tabs.active == "model"
        node = pane.layer_tree.cursor_node
        assert node is not None and node.is_expanded
        await wait_idle(pilot)


@sync
async def test_accuracy_starts_on_the_variant_in_the_header(ws: Workspace) -> None:
    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"), subset="first:500")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("v", "v", "enter")  # the picker: open, next, pick
        assert app.variant == "onnx"
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await pilot.pause()
        assert pane.variants_table.selected_row()[0] == "onnx"
        assert "onnx" in str(pane.query_one("#accuracy-per-class").border_title)
        await pilot.press("v", "v", "enter")  # the header and the table's cursor move together
        await pilot.pause()
        assert app.variant == "onnx-int8"
        assert pane.variants_table.selected_row()[0] == "onnx-int8"
        assert "onnx-int8" in str(pane.query_one("#accuracy-confusion").border_title)
        await wait_idle(pilot)
