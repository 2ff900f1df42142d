"""TUI fixtures: the app on the real engine, with the session cache of tests/conftest.py."""

from __future__ import annotations

import asyncio
import functools
import io
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.worker import WorkerState

from engine.workspace import Workspace
from tui.app import R8App
from tui.session import Session

TEST_VARIANTS = ("keras", "onnx")
"""Two float variants keep the cold-cache cost of the TUI tests to seconds."""
WAIT_S = 120.0
"""Longest wait for engine work (a cold cache converts the model once)."""
POLL_S = 0.01
"""How often a waiting test looks at the app."""


def make_app(ws: Workspace, variants: tuple[str, ...] = TEST_VARIANTS, subset: str = "all",
             model: str | None = None, input_text: str = "test:0") -> R8App:
    session = Session(model=model, cache_dir=str(ws.cache_dir), download=False,
                      variants=variants, subset=subset)
    app = R8App(session, input_text=input_text)
    app.animation_level = "none"  # the tab underline slides otherwise: snapshots must not
    return app


@pytest.fixture
def app_factory(ws: Workspace) -> Callable[..., R8App]:
    return lambda **kw: make_app(ws, **kw)


async def wait_until(pilot: Pilot, cond: Callable[[], object], timeout: float = WAIT_S) -> None:
    """Let the app run until ``cond()`` is true; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {cond}")
        await pilot.pause(POLL_S)


async def wait_idle(pilot: Pilot) -> None:
    """Wait until no worker runs, then let the messages they posted be handled."""
    await pilot.pause()
    await wait_until(pilot, lambda: not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                                            for w in pilot.app.workers))
    await pilot.pause()
    await pilot.pause()


def screen_text(app: R8App) -> str:
    """The screen as plain text (what a user would read)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio.run (no async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run
