"""Session's one single-flight rule (tui.session ``_remember``): the work of a
key runs once for every caller waiting for it, a cancelled caller stops waiting at once, and
the work is cancelled only when no caller waits any more. The compute function is a gated
stand-in, so each step happens when the test says (threading.Event gates, no sleeps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from engine.errors import CancelledError
from engine.types import ProgressFn
from tui.session import Session

KEY = ("flight-test",)
WAIT_S = 10.0
"""Longest wait for another thread's step (each takes microseconds)."""


class GatedWork:
    """A compute function that starts, then waits for ``release`` (returns the next value) or
    for its flight's cancel event (raises CancelledError, as engine work does)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.stops: list[threading.Event] = []
        self.calls = 0

    def __call__(self, progress: ProgressFn, stop: threading.Event) -> int:
        self.calls += 1
        self.stops.append(stop)
        self.started.set()
        while not self.release.wait(0.01):
            if stop.is_set():
                raise CancelledError("the flight was cancelled")
        progress(1, 1, "done")
        return 100 + self.calls


class Caller:
    """One job asking ``session._remember(KEY, work)`` in its own thread, with its own cancel
    event and progress listener; ``outcome`` is its value or "cancelled"."""

    def __init__(self, session: Session, work: GatedWork) -> None:
        self.cancel = threading.Event()
        self.progress: list[tuple[int, int, str]] = []
        self.outcome: object = None
        self.thread = threading.Thread(target=self._run, args=(session, work))
        self.thread.start()

    def _run(self, session: Session, work: GatedWork) -> None:
        try:
            self.outcome = session._remember(
                KEY, work, lambda n, total, what: self.progress.append((n, total, what)),
                self.cancel)
        except CancelledError:
            self.outcome = "cancelled"

    def join(self) -> None:
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive(), "the caller stopped waiting"


def waiters(session: Session) -> int:
    with session._lock:
        flight = session._flights.get(KEY)
        return flight.waiters if flight is not None else 0


def wait_for(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the other thread"
        time.sleep(0.001)  # polls a condition; the order of steps comes from the gates


@pytest.fixture
def session() -> Session:
    return Session(download=False)  # the workspace is never opened: the work is the stand-in


def test_the_work_goes_on_while_another_caller_waits(session: Session) -> None:
    work = GatedWork()
    first = Caller(session, work)
    assert work.started.wait(WAIT_S)
    second = Caller(session, work)
    wait_for(lambda: waiters(session) == 2)

    first.cancel.set()
    first.join()
    assert first.outcome == "cancelled"
    assert waiters(session) == 1
    assert not work.stops[0].is_set(), "the work is not cancelled while a caller waits"

    work.release.set()
    second.join()
    assert second.outcome == 101 and work.calls == 1
    assert second.progress == [(1, 1, "done")] and first.progress == []
    # remembered: a later caller gets the value without running the work again
    assert session._remember(KEY, work) == 101 and work.calls == 1


def test_the_work_is_cancelled_when_no_caller_waits(session: Session) -> None:
    work = GatedWork()
    callers = [Caller(session, work)]
    assert work.started.wait(WAIT_S)
    callers.append(Caller(session, work))
    wait_for(lambda: waiters(session) == 2)

    callers[0].cancel.set()
    callers[0].join()
    assert not work.stops[0].is_set()
    callers[1].cancel.set()
    callers[1].join()
    assert [c.outcome for c in callers] == ["cancelled", "cancelled"]
    assert work.stops[0].is_set(), "the last caller gone, the work's cancel event is set"

    # nothing was remembered: once the cancelled flight has ended, the next caller starts
    # the work again, on a fresh event
    wait_for(lambda: KEY not in session._flights)
    assert KEY not in session._memo
    work.release.set()
    again = Caller(session, work)
    again.join()
    assert again.outcome == 102 and work.calls == 2
    assert not work.stops[1].is_set()


def test_a_caller_cancelled_before_it_asks_starts_no_work(session: Session) -> None:
    work = GatedWork()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        session._remember(KEY, work, cancel=cancel)
    assert work.calls == 0 and waiters(session) == 0
