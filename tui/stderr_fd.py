"""Give Textual's captured ``sys.stderr`` a real file descriptor while the app runs.

Textual replaces ``sys.stderr`` with a capture object whose ``fileno()`` is -1.
engine.frameworks silences fd 2 while TensorFlow imports (``os.dup(sys.stderr.fileno())``),
which fails with EBADF on -1. This wrapper keeps Textual's capture for Python writes and
reports the process's own stderr descriptor, so the engine behaves as it does in the CLI.
"""

from __future__ import annotations

import sys
from typing import Any


class StderrWithFd:
    """Writes go to ``inner`` (Textual's capture); ``fileno()`` is the real stderr's."""

    def __init__(self, inner: Any, fd: int) -> None:
        self._inner = inner
        self._fd = fd

    def write(self, text: str) -> int:
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """Loggers that kept this stream close it at exit; the real stderr stays open."""

    @property
    def closed(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install() -> None:
    """Wrap the current ``sys.stderr`` if it has no usable descriptor (Textual's capture).

    Textual restores its saved stderr when the app exits, which drops the wrapper too.
    """
    try:
        if sys.stderr.fileno() >= 0:
            return
    except (AttributeError, OSError, ValueError):
        pass
    real = sys.__stderr__
    try:
        fd = real.fileno() if real is not None else -1
    except (OSError, ValueError):
        fd = -1
    if fd >= 0:
        sys.stderr = StderrWithFd(sys.stderr, fd)
