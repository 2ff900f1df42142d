"""One line at the bottom: what is running, how far, and that Escape cancels it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


def progress_text(done: int, total: int, what: str) -> str:
    """``12 of 40 batches 30 %``; without a total, what and how many so far."""
    if total > 0:
        return f"{what} {done}/{total} {100 * done // total} %".strip()
    return f"{what} {done}".strip() if done else what


class JobBar(Horizontal):
    """Hidden when idle; shows the newest job's label and its own progress (a percentage as
    soon as the job knows its total, an indeterminate bar until then)."""

    DEFAULT_CSS = """
    JobBar { height: 1; display: none; background: $boost; }
    JobBar.-busy { display: block; }
    JobBar #job-label { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    JobBar #job-done { width: auto; padding: 0 1; }
    JobBar ProgressBar { width: 24; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.label_text = ""
        self.progress: tuple[int, int, str] | None = None
        """(done, total, what) of the job named by the label."""

    def compose(self) -> ComposeResult:
        yield Label("", id="job-label")
        yield Label("", id="job-done")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="job-progress")

    def show_jobs(self, labels: list[str]) -> None:
        self.set_class(bool(labels), "-busy")
        if not labels:
            self.label_text, self.progress = "", None
            self._show_progress()
            return
        more = f" (+{len(labels) - 1} more)" if len(labels) > 1 else ""
        text = f"{labels[-1]}{more} · Esc cancels"
        if not self.label_text.startswith(labels[-1]):
            self.progress = None  # another job: its own progress, not the previous one's
            self._show_progress()
        if text != self.label_text:
            self.label_text = text
            self.query_one("#job-label", Label).update(text)

    def show_progress(self, done: int, total: int, what: str) -> None:
        self.progress = (done, total, what)
        self._show_progress()

    def _show_progress(self) -> None:
        bar = self.query_one(ProgressBar)
        done = self.query_one("#job-done", Label)
        if self.progress is None:
            bar.update(total=None, progress=0)
            done.update("")
            return
        n, total, what = self.progress
        bar.update(total=total if total > 0 else None, progress=n)
        done.update(progress_text(n, total, what))
