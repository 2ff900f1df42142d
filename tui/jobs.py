"""A job: one piece of engine work in a daemon thread, tracked as a Textual worker.

The worker is an asyncio task that starts the thread and awaits its result, so Textual's
own worker state and groups are the app's registry (a worker cancelled before it starts is
simply dropped by Textual's WorkerManager), and cancelling the task sets the worker's
``cancelled_event``, which the engine checks between batches. The thread is a daemon so
that quitting never waits for work that cannot be interrupted (the ~10 s conversion).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from textual.message_pump import MessagePump
from textual.worker import Worker, get_current_worker

from engine.errors import CancelledError, R8Error
from tui.messages import JobFn, JobResult, StageFailed, StageProgress

if TYPE_CHECKING:
    from textual.app import App

THREAD_PREFIX = "r8-job-"
"""Name prefix of job threads (the app looks for live ones when it exits)."""


def error_text(exc: BaseException) -> str:
    """One line for the user: an R8Error's own message, else the exception named."""
    if isinstance(exc, R8Error):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc} (details in the Textual log)"


class Job(Worker[JobResult]):
    """A worker in group ``stage`` computing ``key`` for ``targets``."""

    def __init__(self, app: App[Any], target: MessagePump, stage: str, key: Hashable, fn: JobFn,
                 label: str) -> None:
        super().__init__(app, self._run_job, name=stage, group=stage, description=label,
                         exit_on_error=False, thread=False)
        self.stage = stage
        self.key = key
        self.fn = fn
        self.targets: list[MessagePump] = [target]
        """MessagePumps the result (or the failure) goes to."""
        self.cancelled_by_user = False

    def cancel_job(self, by_user: bool) -> None:
        """Cancel; when the user asked, tell the targets (also for a job not started yet)."""
        if by_user and not self.is_cancelled:
            self.cancelled_by_user = True
            for target in self.targets:
                target.post_message(StageFailed(self.stage, self.key,
                                                f"{self.description}: cancelled", True))
        self.cancel()

    async def _run_job(self) -> JobResult:
        worker = get_current_worker()
        cancel = worker.cancelled_event
        loop = asyncio.get_running_loop()
        done: asyncio.Future[JobResult] = loop.create_future()

        def on_progress(n: int, total: int, what: str) -> None:
            if not cancel.is_set():
                self.node.post_message(StageProgress(self.stage, n, total, what))

        def settle(result: JobResult | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)  # type: ignore[arg-type]

        def body() -> None:
            result: JobResult | None = None
            error: BaseException | None = None
            try:
                result = self.fn(on_progress, cancel)
            except BaseException as exc:  # handed to the worker, which records it
                error = exc
            try:
                loop.call_soon_threadsafe(settle, result, error)
            except RuntimeError:
                pass  # the app has closed its loop: nobody waits any more

        threading.Thread(target=body, name=THREAD_PREFIX + self.stage, daemon=True).start()
        try:
            result = await done
        except CancelledError:
            if cancel.is_set():
                raise asyncio.CancelledError from None
            self._tell_failed("cancelled", cancelled=True)
            raise
        except Exception as exc:
            if cancel.is_set():
                raise asyncio.CancelledError from None
            self._tell_failed(error_text(exc), cancelled=False)
            raise
        if cancel.is_set():
            raise asyncio.CancelledError
        for n, target in enumerate(self.targets):
            target.post_message(result if n == 0 else copy.copy(result))
        return result

    def _tell_failed(self, message: str, cancelled: bool) -> None:
        for target in self.targets:
            target.post_message(StageFailed(self.stage, self.key, message, cancelled))


def job_threads_alive() -> bool:
    return any(t.name.startswith(THREAD_PREFIX) and t.is_alive() for t in threading.enumerate())
