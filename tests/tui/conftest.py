"""TUI fixtures: the app on the real engine, with the session cache of tests/conftest.py."""

from __future__ import annotations

import asyncio
import functools
import html
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.worker import WorkerState

from engine.workspace import Workspace
from tui.app import R8App
from tui.jobs import THREAD_PREFIX
from tui.screens.flipped import MEASURE_S
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


async def built(pilot: Pilot, screen: str) -> Any:
    """The pane of ``screen`` (input, layers, accuracy, variants) once the app has built it:
    a screen other than Model is built the first time it is shown."""
    app = pilot.app
    await wait_until(pilot, lambda: app.built_pane(screen) is not None)  # type: ignore[attr-defined]
    return app.built_pane(screen)  # type: ignore[attr-defined]


async def wait_idle(pilot: Pilot) -> None:
    """Wait until no worker runs, then let the messages they posted be handled."""
    await pilot.pause()
    await wait_until(pilot, lambda: not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING)
                                            for w in pilot.app.workers))
    await pilot.pause()
    await pilot.pause()


async def settle(pilot: Pilot) -> None:
    """Let the app come to rest before a snapshot: the Model screen's layer map loaded and a
    layer selected, every job done and its messages handled, then the tables that repaint
    once their rows are measured (tui.screens.flipped MEASURE_S) repainted, and idle again."""
    pane = pilot.app.model_pane  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: pane.layer_infos)
    await wait_idle(pilot)
    await wait_until(pilot, lambda: pane.layer_tree.selected_layer is not None)
    await pilot.pause(2 * MEASURE_S)
    await wait_idle(pilot)


SVG_TEXT = re.compile(r'<text [^>]*x="([\d.]+)"[^>]*textLength="([\d.]+)"[^>]*'
                      r'clip-path="url\(#[\w-]+-line-(\d+)\)"[^>]*>(.*?)</text>')


def screen_text(app: R8App) -> str:
    """The screen as plain text (what a user would read), from Textual's public
    ``export_screenshot`` (SVG: one <text> per run of equal style, clipped to its line)."""
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    for x, length, line, raw in SVG_TEXT.findall(app.export_screenshot()):
        text = html.unescape(raw).replace("\xa0", " ")
        if not text:
            continue
        cell = float(length) / len(text)  # pixels per character
        col = round(float(x) / cell)
        row = grid[int(line)] if int(line) < height else []
        for i, ch in enumerate(text):
            if 0 <= col + i < len(row):
                row[col + i] = ch
    return "\n".join("".join(row).rstrip() for row in grid)


def notifications_into(notes: list[Notification]) -> Callable[[Message], None]:
    """A ``run_test(message_hook=…)`` that collects every notification the app shows."""
    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification)

    return hook


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio.run (no async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


@pytest.fixture(scope="session", autouse=True)
def job_threads_end() -> Iterator[None]:
    """At the end, wait for job threads the tests' apps left behind (cancelled, they end at
    the engine's next check): a daemon thread still inside TensorFlow when the interpreter
    exits aborts the process. The real app leaves with os._exit instead (R8App.run)."""
    yield
    deadline = time.monotonic() + WAIT_S
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_PREFIX):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
