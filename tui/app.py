"""r8-tui: the Textual explorer of the ResNet8 model, its variants and their results.

The app holds the state (variant, input, view), switches screens and runs engine work in
worker threads; the screens lay out widgets and ask for the jobs they need.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from engine.errors import CancelledError, R8Error
from engine.export import write_csv
from engine.inputs import INPUT_HELP
from tui.commands import R8Commands
from tui.messages import StageFailed, StageFinished, StageProgress
from tui.screens.accuracy import AccuracyPane
from tui.screens.base import Pane
from tui.screens.help import HelpScreen
from tui.screens.input import InputPane
from tui.screens.layers import LayersPane
from tui.screens.model import ModelPane
from tui.screens.prompt import PromptScreen
from tui.session import DEFAULT_INPUT, Job, Session
from tui.widgets.job_bar import JobBar
from tui.widgets.table import R8Table

SCREENS = ("model", "input", "layers", "accuracy")
VIEWS = ("weights", "biases", "activations")


def error_text(exc: BaseException) -> str:
    """One line for the user: an R8Error's own message, else the exception named."""
    if isinstance(exc, R8Error):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc} (details in the Textual log)"


class R8App(App[None]):
    """Model, Input, Layers and Accuracy screens over one engine Session."""

    CSS_PATH = "app.tcss"
    TITLE = "r8-tui"
    COMMANDS = App.COMMANDS | {R8Commands}
    BINDINGS = [
        Binding("1,m", "show('model')", "Model", show=False),
        Binding("2,i", "show('input')", "Input", show=False),
        Binding("3,l", "show('layers')", "Layers", show=False),
        Binding("4,a", "show('accuracy')", "Accuracy", show=False),
        Binding("v", "cycle_variant", "Variant"),
        Binding("w", "cycle_view", "W/B/Act"),
        Binding("n", "step_input(1)", "Next input"),
        Binding("p", "step_input(-1)", "Previous input", show=False),
        Binding("o", "open_input_prompt", "Open input", show=False),
        Binding("x", "random_input", "Random input", show=False),
        Binding("c", "cycle_metric", "Colour tree by metric", show=False),
        Binding("slash", "find_layer", "Find"),
        Binding("e", "export", "Export"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "cancel_jobs", "Cancel job", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: Session, input_text: str = DEFAULT_INPUT) -> None:
        super().__init__()
        self.session = session
        self.variant = session.variants[0]
        self.input_text = input_text
        self.view = VIEWS[0]
        self._random_seed = 0
        self._job_cancels: dict[str, threading.Event] = {}
        self._job_keys: dict[str, Hashable] = {}
        self._jobs_running: dict[Worker[Any], str] = {}

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="context")
        with TabbedContent(initial="model", id="tabs"):
            with TabPane("1 Model", id="model"):
                yield ModelPane(id="model-pane")
            with TabPane("2 Input", id="input"):
                yield InputPane(id="input-pane")
            with TabPane("3 Layers", id="layers"):
                yield LayersPane(id="layers-pane")
            with TabPane("4 Accuracy", id="accuracy"):
                yield AccuracyPane(id="accuracy-pane")
        yield JobBar()
        yield Footer()

    def on_mount(self) -> None:
        self.show_context()
        self.active_pane.refresh_data()

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def active_pane(self) -> Pane:
        return self.query_one(f"#{self.tabs.active}-pane", Pane)

    @property
    def model_pane(self) -> ModelPane:
        return self.query_one(ModelPane)

    @property
    def job_bar(self) -> JobBar:
        return self.query_one(JobBar)

    def show_context(self) -> None:
        self.query_one("#context", Static).update(
            f" [b]ResNet8[/]  variant [b]{self.variant}[/]  input [b]{self.input_text}[/]  "
            f"view [b]{self.view}[/]")

    def state_changed(self) -> None:
        self.show_context()
        self.active_pane.refresh_data()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.active_pane.refresh_data()

    # -- jobs ---------------------------------------------------------------------------------

    def start_job(self, target: Widget, stage: str, key: Hashable, job: Job, label: str) -> None:
        """Run ``job`` in a worker thread; its result comes back to ``target`` as a message.

        A new job of the same stage replaces (and cancels) the older one. Escape cancels
        every running job through the threading.Event the engine checks between batches.
        """
        old = self._job_cancels.get(stage)
        if old is not None and not old.is_set() and self._job_keys.get(stage) == key and any(
                w.name == stage and w.is_running for w in self._jobs_running):
            return  # the same work is already running
        if old is not None:
            old.set()
        cancel = threading.Event()
        self._job_cancels[stage] = cancel
        self._job_keys[stage] = key

        def on_progress(done: int, total: int, what: str) -> None:
            target.post_message(StageProgress(stage, done, total, what))

        def run() -> Any:
            try:
                result = job(on_progress, cancel)
                if cancel.is_set():
                    raise CancelledError(f"{label}: cancelled")
            except Exception as exc:
                if self._job_cancels.get(stage) is cancel:  # not superseded by a newer job
                    target.post_message(StageFailed(stage, key, error_text(exc),
                                                    isinstance(exc, CancelledError)))
                raise
            target.post_message(StageFinished(stage, key, result))
            return result

        self.run_worker(run, name=stage, group=stage, description=label, exclusive=True,
                        thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where job state turns into the job bar and notifications."""
        worker = event.worker
        if event.state == WorkerState.RUNNING:
            self._jobs_running[worker] = worker.description
        elif event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._jobs_running.pop(worker, None)
        self.job_bar.show_jobs(list(self._jobs_running.values()))
        if event.state == WorkerState.ERROR and worker.error is not None:
            err = worker.error
            if isinstance(err, CancelledError):
                self.notify(str(err), title="cancelled", severity="warning", timeout=4)
            else:
                if not isinstance(err, R8Error):
                    self.log.error(f"{worker.name} failed", err)
                self.notify(error_text(err), title=f"{worker.name} failed", severity="error",
                            timeout=15)

    def on_stage_progress(self, event: StageProgress) -> None:
        self.job_bar.show_progress(event.done, event.total, event.what)

    def on_stage_finished(self, event: StageFinished) -> None:
        if event.stage == "step" and isinstance(event.result, str):
            self.input_text = event.result
            self.state_changed()

    def on_stage_failed(self, event: StageFailed) -> None:
        """Failures of the app's own jobs (input stepping) are already notified."""

    @property
    def running_jobs(self) -> list[str]:
        return list(self._jobs_running.values())

    def action_cancel_jobs(self) -> None:
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers)
        for event in self._job_cancels.values():
            event.set()
        if busy:
            self.notify("cancelling…", timeout=2)

    def action_reload(self) -> None:
        self.active_pane.refresh_data()

    # -- state --------------------------------------------------------------------------------

    def action_show(self, screen: str) -> None:
        """Show a screen and focus its main widget (focus left in a hidden tab would pull
        TabbedContent back to that tab)."""
        if screen not in SCREENS or self.tabs.active == screen:
            return
        self.screen.set_focus(None)
        self.tabs.active = screen
        self.call_after_refresh(self.active_pane.focus_default)

    def action_cycle_variant(self) -> None:
        names = self.session.variants
        self.variant = names[(names.index(self.variant) + 1) % len(names)]
        self.state_changed()

    def action_cycle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.state_changed()

    def action_cycle_metric(self) -> None:
        self.model_pane.cycle_metric()

    def action_step_input(self, step: int) -> None:
        text, session = self.input_text, self.session
        self.start_job(self, "step", text, lambda p, c: session.step_input(text, step),
                       "finding the next input")

    def action_random_input(self) -> None:
        self._random_seed += 1
        self.open_input(f"random:{self._random_seed}", switch=False)

    def open_input(self, text: str, switch: bool = True) -> None:
        self.input_text = text
        self.show_context()
        if switch and self.tabs.active != "input":
            self.action_show("input")  # refreshes through TabActivated
        else:
            self.active_pane.refresh_data()

    def action_open_input_prompt(self) -> None:
        def chosen(text: str | None) -> None:
            if text:
                self.open_input(text, switch=False)

        self.push_screen(PromptScreen("Show input", self.input_text, INPUT_HELP,
                                      hint=INPUT_HELP), chosen)

    def action_find_layer(self) -> None:
        names = self.model_pane.layer_tree.layer_names

        def chosen(name: str | None) -> None:
            if not name:
                return
            self.action_show("model")
            if not self.model_pane.find(name):
                self.notify(f"no layer matches {name!r}; try one of {', '.join(names[:6])}, …",
                            severity="warning")

        self.push_screen(PromptScreen("Find layer", "", "layer name, e.g. conv2d_3", names),
                         chosen)

    # -- export and help ----------------------------------------------------------------------

    def action_export(self, name: str = "") -> None:
        table: R8Table | None
        if name:
            table = next((t for t in self.query(R8Table) if t.table_name == name), None)
        else:
            table = self.active_pane.table_in_view()
        if table is None or not table.values:
            self.notify("nothing to export yet: this table is empty", severity="warning")
            return
        header, rows = list(table.header), [list(r) for r in table.values]

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                written = write_csv(path, header, rows)
            except R8Error as exc:
                self.notify(str(exc), title="export failed", severity="error")
                return
            self.notify(f"wrote {len(rows)} rows to {written}", title="export")

        self.push_screen(PromptScreen(f"Export {table.table_name} as CSV",
                                      f"r8-{table.table_name}.csv", "path of the CSV file"),
                         chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))  # type: ignore[arg-type]
