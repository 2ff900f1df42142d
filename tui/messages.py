"""Messages that carry engine results from worker threads back to the screens."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual.message import Message


class StageProgress(Message):
    """A running job reports progress; a newer report of the same stage replaces an older one."""

    def __init__(self, stage: str, done: int, total: int, what: str) -> None:
        super().__init__()
        self.stage = stage
        """Job name (``model``, ``weights``, ``predictions``, ...)."""
        self.done = done
        """Units done so far."""
        self.total = total
        """Units in all (0 when unknown)."""
        self.what = what
        """What is being done, as the engine names it."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StageProgress) and message.stage == self.stage


class StageFinished(Message, bubble=False):
    """A job finished; ``result`` is whatever the engine returned."""

    def __init__(self, stage: str, key: Hashable, result: Any) -> None:
        super().__init__()
        self.stage = stage
        """Job name."""
        self.key = key
        """What was asked for (variant, input, ...); lets a screen drop stale results."""
        self.result = result
        """The engine's result."""


class StageFailed(Message, bubble=False):
    """A job failed or was cancelled; ``message`` is one line that names the fix."""

    def __init__(self, stage: str, key: Hashable, message: str, cancelled: bool) -> None:
        super().__init__()
        self.stage = stage
        """Job name."""
        self.key = key
        """What was asked for."""
        self.message = message
        """One-line description (an R8Error's message as is)."""
        self.cancelled = cancelled
        """True when the user cancelled it (Escape)."""
