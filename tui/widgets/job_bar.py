"""One line at the bottom: what is running, how far, and that Escape cancels it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class JobBar(Horizontal):
    """Hidden when idle; shows the latest job's label and progress."""

    DEFAULT_CSS = """
    JobBar { height: 1; display: none; background: $boost; }
    JobBar.-busy { display: block; }
    JobBar Label { width: 1fr; }
    JobBar ProgressBar { width: 40; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="job-label")
        yield ProgressBar(total=None, show_eta=False, id="job-progress")

    def show_jobs(self, labels: list[str]) -> None:
        self.set_class(bool(labels), "-busy")
        if labels:
            more = f" (+{len(labels) - 1} more)" if len(labels) > 1 else ""
            text = f"{labels[-1]}{more}  · Esc cancels"
            label = self.query_one(Label)
            if text != str(label.render()):
                if not str(label.render()).startswith(labels[-1]):
                    self.query_one(ProgressBar).update(total=None, progress=0)  # a new job
                label.update(text)
        else:
            self.query_one(ProgressBar).update(total=None, progress=0)

    def show_progress(self, done: int, total: int, what: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=total or None, progress=done)
