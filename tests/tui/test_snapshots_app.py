"""Snapshots at 80x24 of the help screen and of each screen's footer (issue 14: a footer per
screen and per focused panel; help fits 80x24), on the real engine's cached results.

Update after an intended change with:
pytest tests/tui/test_snapshots_app.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, settle, wait_idle, wait_until

SIZE = (80, 24)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_on_the_model_screen(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(ws), terminal_size=size, run_before=run_before)


def test_footer_of_the_input_screen_80x24(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        shown = await built(pilot, "input")
        await wait_until(pilot, lambda: shown.shown is not None)
        await wait_idle(pilot)

    assert snap_compare(make_app(ws), terminal_size=SIZE, run_before=run_before)


def test_footer_of_the_layers_screen_with_a_find_80x24(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.acts_table.values and pane.compare_table.values)
        await wait_idle(pilot)
        await pilot.press("slash", *"activation_", "enter")  # a find: n/N step, the tables filter
        await wait_idle(pilot)

    # keras against onnx-int8: SQNRs of 20-40 dB; keras against onnx is float rounding (~127 dB)
    # whose last digits differ between CPUs (AVX2 and AVX-512 kernels)
    app = make_app(ws, variants=("keras", "onnx-int8"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_footer_of_the_accuracy_screen_sorted_80x24(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("4")
        shown = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: shown.report is not None)
        await wait_idle(pilot)
        await pilot.press("s", "s")  # sorted by accuracy: the table says so
        await wait_idle(pilot)

    app = make_app(ws, subset="first:200")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
