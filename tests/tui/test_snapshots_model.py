"""Snapshots of the Model screen as a quantization doctor (pytest-textual-snapshot), at 80x24
and 120x40, on the real engine's cached results: an int8 activation histogram on the integer
grid, and the tree coloured by sensitivity.

Update after an intended change with:
pytest tests/tui/test_snapshots_model.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import make_app, settle, wait_idle, wait_until
from tests.tui.test_model_doctor import next_variant

SIZES = [(80, 24), (120, 40)]
INT8 = ("keras", "onnx-int8")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_int8_activation_histogram(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await next_variant(pilot)  # onnx-int8
        await pilot.press("w", "w", "j", "j", "j", "j", "j", "j")  # activation_1
        await wait_idle(pilot)
        assert pilot.app.model_pane.hist.kind == "quant"  # type: ignore[attr-defined]

    assert snap_compare(make_app(ws, variants=INT8), terminal_size=size, run_before=run_before)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tree_coloured_by_sensitivity(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await next_variant(pilot)  # onnx-int8
        await pilot.press("S")
        app = pilot.app
        await wait_until(pilot, lambda: app.session.known_sensitivity(  # type: ignore[attr-defined]
            "onnx-int8") is not None, timeout=1800)
        await wait_idle(pilot)
        await pilot.press("j", "j", "j", "j")  # conv2d_1: its kernel on the int8 grid
        await wait_idle(pilot)

    app = make_app(ws, variants=INT8, subset="first:200")
    assert snap_compare(app, terminal_size=size, run_before=run_before)
