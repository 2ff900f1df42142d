"""A panel that a key brings up full-screen (Textual's maximize; Escape restores it)."""

from __future__ import annotations

from textual.containers import Vertical


class Zoomable(Vertical):
    """A panel (title, table) that ``Screen.maximize`` shows alone on a small terminal."""

    ALLOW_MAXIMIZE = True
