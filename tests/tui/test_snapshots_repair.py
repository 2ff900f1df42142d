"""Snapshots at 80x24 of the variant picker and the repair dialog (pytest-textual-snapshot).

Update after an intended change with:
pytest tests/tui/test_snapshots_repair.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import make_app, settle, wait_idle, wait_until
from tui.screens.repair import RepairScreen
from tui.screens.variant_picker import VariantPicker

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_variant_picker(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("v", "v")  # open, move to the next one (onnx)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, VariantPicker))
        await pilot.pause()

    app = make_app(ws, variants=("keras", "onnx", "onnx-int8", "torch-int8"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_repair_dialog(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("j", "j", "j")  # conv2d_1 on the tree: the dialog marks it
        await wait_idle(pilot)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RepairScreen))
        await pilot.pause()

    app = make_app(ws, variants=("keras", "onnx", "onnx-int8"))
    assert snap_compare(app, terminal_size=size, run_before=run_before)
