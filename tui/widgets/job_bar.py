"""One line at the bottom: what is running, how far, and that Escape cancels it.

One widget drawing one line (the label, cut with an ellipsis, then the progress and a bar),
rather than labels and Textual's ProgressBar (five widgets and an animation timer): the bar
shows up as the first jobs start, so it was part of every first paint (issue 14).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

BAR_WIDTH = 20
"""Cells of the progress bar (a job without a total shows no bar)."""


def progress_text(done: int, total: int, what: str) -> str:
    """``12 of 40 batches 30 %``; without a total, what and how many so far."""
    if total > 0:
        return f"{what} {done}/{total} {100 * done // total} %".strip()
    return f"{what} {done}".strip() if done else what


def bar_text(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``━━━━━━━╺━━━━━━━━━━━━`` style: the done part heavy, the rest light."""
    filled = min(width, max(0, round(width * done / total))) if total > 0 else 0
    return "━" * filled + "─" * (width - filled)


class JobBar(Widget):
    """Hidden when idle; shows the newest job's label and its own progress (a percentage as
    soon as the job knows its total)."""

    COMPONENT_CLASSES = {"job-bar--done", "job-bar--todo"}
    DEFAULT_CSS = """
    JobBar { height: 1; display: none; background: $boost; }
    JobBar.-busy { display: block; }
    JobBar > .job-bar--done { color: $accent; }
    JobBar > .job-bar--todo { color: $foreground 30%; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.label_text = ""
        self.progress: tuple[int, int, str] | None = None
        """(done, total, what) of the job named by the label."""

    @property
    def done_text(self) -> str:
        """The progress as shown right of the label (empty before the job reports any)."""
        return progress_text(*self.progress) if self.progress else ""

    def show_jobs(self, labels: list[str]) -> None:
        self.set_class(bool(labels), "-busy")
        if not labels:
            self.label_text, self.progress = "", None
            self.refresh()
            return
        more = f" (+{len(labels) - 1} more)" if len(labels) > 1 else ""
        text = f"{labels[-1]}{more} · Esc cancels"
        if not self.label_text.startswith(labels[-1]):
            self.progress = None  # another job: its own progress, not the previous one's
        if text != self.label_text:
            self.label_text = text
        self.refresh()

    def show_progress(self, done: int, total: int, what: str) -> None:
        self.progress = (done, total, what)
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        right = Text(no_wrap=True)
        if self.progress is not None:
            n, total, _ = self.progress
            right.append(f" {self.done_text} ")
            if total > 0:
                bar = bar_text(n, total)
                cut = len(bar.rstrip("─"))
                right.append(bar[:cut], self.get_component_rich_style("job-bar--done"))
                right.append(bar[cut:], self.get_component_rich_style("job-bar--todo"))
                right.append(" ")
        if right.cell_len > width // 2:  # narrow: the label keeps half
            right = Text(f" {self.done_text} ", no_wrap=True)
        label = Text(" " + self.label_text, no_wrap=True, overflow="ellipsis")
        label.truncate(max(0, width - right.cell_len), overflow="ellipsis", pad=True)
        return label + right
