"""Snapshots of the Accuracy and Input screens at 80x24 and 120x40, with the flipped-image
browser and the layer-by-layer view of one flipped image (pytest-textual-snapshot).

Update after an intended change with:
pytest tests/tui/test_snapshots_accuracy.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, settle, wait_until

SIZES = [(80, 24), (120, 40)]
VARIANTS = ("keras", "onnx", "onnx-int8")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_accuracy_screen(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("V")  # back from keras round to onnx-int8: the screen opens on it
        await pilot.press("4")
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        await settle(pilot)

    app = make_app(ws, variants=VARIANTS, subset="first:500")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_input_screen_with_a_tie(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.logits is not None)
        await settle(pilot)

    # test:150: torch-int8's probabilities tie between airplane and ship
    app = make_app(ws, variants=("keras", "onnx-int8", "torch-int8"), input_text="test:150")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_flipped_image_screen(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("V", "4")  # onnx-int8 (back from keras, round the end)
        pane = await built(pilot, "accuracy")
        await wait_until(pilot, lambda: pane.report is not None)
        pane.flipped_table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "detail", None) is not None)
        await settle(pilot)

    app = make_app(ws, variants=VARIANTS, subset="first:500")
    assert snap_compare(app, terminal_size=size, run_before=run_before)
