"""Snapshots of the Layers screen (A/B comparison) and the every-variant view at 80x24 and
120x40 (pytest-textual-snapshot), on the real engine's cached results.

Update after an intended change with:
pytest tests/tui/test_snapshots_compare.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, settle, wait_idle, wait_until

VARIANTS = ("keras", "onnx", "onnx-int8")
EVERY = ("keras", "onnx-int8", "torch-int8")
"""The every-variant view shows SQNR against keras: int8 variants only, since a float variant's
~127 dB is rounding noise whose last digits differ between CPUs (AVX2 and AVX-512 kernels)."""
SIZES = [(80, 24), (120, 40)]


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_layers_a_against_b(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("3")
        pane = await built(pilot, "layers")
        await wait_until(pilot, lambda: pane.compare_table.values and pane.acts_table.values)
        await settle(pilot)

    assert snap_compare(make_app(ws, variants=VARIANTS), terminal_size=size,
                        run_before=run_before)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_variant(ws: Workspace, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot) -> None:
        # the view follows the Model screen's layer: let that screen settle on its first one
        await wait_until(pilot, lambda: pilot.app.model_pane.last_layer)  # type: ignore[attr-defined]
        await pilot.press("5")
        pane = await built(pilot, "variants")
        await wait_until(pilot, lambda: pane.layer_list.values and all(
            pane.is_loaded(v, "test:0") for v in EVERY))
        await wait_idle(pilot)
        await pilot.press(*["right_square_bracket"] * 5)  # activation_1
        await settle(pilot)

    assert snap_compare(make_app(ws, variants=EVERY), terminal_size=size,
                        run_before=run_before)
