"""A small RGB image in half blocks: each cell shows two pixels, top (fg) and bottom (bg)."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

UPPER_HALF = "▀"


def half_block_text(image: np.ndarray) -> Text:
    """(H, W, 3) pixels (0-255) as H/2 lines of W half-block cells."""
    img = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
    if img.shape[0] % 2:
        img = np.concatenate([img, np.zeros_like(img[:1])])
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, img.shape[0], 2):
        for x in range(img.shape[1]):
            top, bottom = img[y, x], img[y + 1, x]
            text.append(UPPER_HALF, Style(color=f"rgb({top[0]},{top[1]},{top[2]})",
                                          bgcolor=f"rgb({bottom[0]},{bottom[1]},{bottom[2]})"))
        if y + 2 < img.shape[0]:
            text.append("\n")
    return text


class ImageView(Static):
    """Shows one 32x32 image in 32x16 cells."""

    DEFAULT_CSS = """
    ImageView { width: 32; height: 16; }
    """

    def show(self, image: np.ndarray | None) -> None:
        self.update(half_block_text(image) if image is not None else "no image")
