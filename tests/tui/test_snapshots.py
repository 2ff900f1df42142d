"""Snapshots of the main screens (pytest-textual-snapshot), on the real engine's cached results.

Update after an intended change with: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, settle, wait_idle, wait_until

SIZE = (100, 30)


def test_model_screen(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("j", "j", "j")  # conv2d -> conv2d_1
        await wait_idle(pilot)

    assert snap_compare(make_app(ws), terminal_size=SIZE, run_before=run_before)


def test_input_screen(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        shown = await built(pilot, "input")
        await wait_until(pilot, lambda: shown.shown is not None)
        await wait_idle(pilot)

    assert snap_compare(make_app(ws), terminal_size=SIZE, run_before=run_before)


def test_accuracy_screen(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("4")
        shown = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: shown.report is not None)
        await wait_idle(pilot)

    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"), subset="first:500")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_layers_screen(ws: Workspace, snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.acts_table.values and pane.compare_table.values)
        await wait_idle(pilot)

    # keras vs torch-int8: SQNRs around 20-35 dB, far from float rounding noise
    app = make_app(ws, variants=("keras", "torch-int8"))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
