"""engine.quant_view on hand-made tensors whose clipping, levels and bins are known."""

from __future__ import annotations

import numpy as np
import pytest

from engine.quant_view import quant_view


def fake_quant(x: np.ndarray, scale: float, zero: int, qmin: int, qmax: int) -> np.ndarray:
    return (np.clip(np.rint(x / scale) + zero, qmin, qmax) - zero) * scale


def test_clipped_values_are_counted_in_their_tail() -> None:
    # scale 0.5, zero 0, int8: representable -64 .. 63.5
    x = np.array([-100.0, -64.0, -1.0, 0.0, 0.2, 1.0, 63.5, 63.8, 70.0, 200.0])
    v = quant_view("t", x, fake_quant(x, 0.5, 0, -128, 127), 0.5, 0, -128, 127)
    assert (v.clipped_low, v.clipped_high) == (1, 3)  # -100 | 63.8 rounds to 128, 70, 200
    assert v.quant.clipped == 4 and v.quant.clipped_share == pytest.approx(4 / 10)
    assert (v.quant.range_min, v.quant.range_max) == (-64.0, 63.5)
    # levels: -128 (twice), -2, 0 (0 and 0.2), 2, 127 (four times)
    assert v.quant.levels_used == 5
    assert v.quant.levels == 256
    assert (v.quant.float_min, v.quant.float_max) == (-100.0, 200.0)
    assert v.float_counts.sum() == x.size and v.int8_counts.sum() == x.size


def test_bins_follow_the_integer_grid_and_levels_used_counts_distinct_levels() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 2.55, 5000)  # uint8 scale 0.01: every level 0..255 hit
    v = quant_view("relu", x, fake_quant(x, 0.01, 0, 0, 255), 0.01, 0, 0, 255, bins=64)
    assert v.quant.clipped == 0
    assert v.quant.levels_used == 256
    assert v.levels_per_bin == 4  # 256 levels in 64 bins
    # every inner edge sits half a level between two levels
    inner = v.edges[1:-1] / 0.01 + 0.5
    assert np.allclose(inner, np.rint(inner))
    # with more bins than levels, one bin per level; a narrow tensor uses few of them
    y = rng.uniform(0.0, 0.1, 100)
    w = quant_view("narrow", y, fake_quant(y, 0.01, 0, 0, 255), 0.01, 0, 0, 255, bins=300)
    assert w.levels_per_bin == 1 and w.quant.levels_used == 11
    assert len(w.edges) == 257


def test_per_channel_weights_give_each_channel_its_range() -> None:
    w = np.zeros((3, 2, 1, 1))
    w[0] = [[[1.0]], [[-1.0]]]
    w[1] = [[[0.1]], [[0.05]]]
    w[2] = [[[5.0]], [[-2.0]]]
    scale = np.array([1 / 127, 0.1 / 127, 1 / 127])  # channel 2 clips: 5 and -2 beyond +-1
    q = np.stack([fake_quant(w[c], scale[c], 0, -128, 127) for c in range(3)])
    v = quant_view("conv.kernel", w, q, scale, np.zeros(3, int), -128, 127, axis=0)
    assert v.per_channel and v.channel_ranges is not None
    assert v.channel_ranges.shape == (3, 4)
    assert np.allclose(v.channel_ranges[:, 0], [-1.0, 0.05, -2.0])
    assert np.allclose(v.channel_ranges[:, 1], [1.0, 0.1, 5.0])
    assert np.allclose(v.channel_ranges[:, 3], 127 * scale)
    assert (v.clipped_low, v.clipped_high) == (1, 1)
    # the largest channel's step, the first channel's zero point, the range over all
    assert (v.quant.scale, v.quant.zero_point) == (pytest.approx(1 / 127), 0)
    assert (v.quant.range_min, v.quant.range_max) == (pytest.approx(-128 / 127), pytest.approx(1.0))
    assert v.levels_per_bin == 0


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        quant_view("t", np.zeros(3), np.zeros(4), 0.1, 0, -128, 127)
