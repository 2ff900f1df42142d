"""r8-tui: the Textual explorer of the ResNet8 model, its variants and their results.

The app holds the state (variant, input, view), switches screens and runs engine work in
worker threads; the screens lay out widgets and ask for the jobs they need.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static, TabbedContent, TabPane, Tree
from textual.worker import Worker, WorkerState

import engine
from engine.errors import R8Error
from engine.export import export_cell, write_csv
from engine.inputs import INPUT_HELP
from engine.types import CLASS_NAMES, ProgressFn
from tui.commands import R8Commands
from tui.jobs import Job, job_threads_alive
from tui.messages import (
    DeviceFound,
    InputChecked,
    InputStepped,
    JobFn,
    StageFailed,
    StageProgress,
    VariantAdded,
)
from tui.screens.base import SHORT_CLASS, Pane, short_class
from tui.screens.help import HelpScreen
from tui.screens.model import ModelPane
from tui.screens.prompt import PromptScreen
from tui.session import DEFAULT_INPUT, Session
from tui.type_ahead import TypeAhead
from tui.widgets.find_bar import FindBar
from tui.widgets.footer import R8Footer
from tui.widgets.job_bar import JobBar
from tui.widgets.table import R8Table

TAB_TITLES = {"model": "1 Model", "input": "2 Input", "layers": "3 Layers",
              "accuracy": "4 Accuracy", "variants": "5 Every variant"}
SCREENS = tuple(TAB_TITLES)
LATER_PANES = {"input": ("tui.screens.input", "InputPane"),
               "layers": ("tui.screens.layers", "LayersPane"),
               "accuracy": ("tui.screens.accuracy", "AccuracyPane"),
               "variants": ("tui.screens.every_variant", "EveryVariantPane")}
"""The screens built (and their modules imported) the first time they are shown: at start
only the Model screen is, which is most of the first paint's time saved (issue 14)."""
VIEWS = ("weights", "biases", "activations")
MOVES_FOCUS = frozenset({"pick_variant", "pick", "repair", "open_input_prompt", "find_layer",
                         "export", "help", "command_palette", "show"})
"""Actions that open something taking focus or show another screen: the keys typed after
theirs wait for focus to get there (tui/type_ahead.py)."""
CLOSES = frozenset({"cancel", "close", "pop_screen", "clear"})
"""Actions that close a dialog or screen: the keys typed after theirs wait for focus to leave."""
DISPLAY_COLUMNS = frozenset({"bar"})
"""Columns drawn for the eye (block-character bars): never exported."""


def layer_matches(layers: Sequence[Any], query: str) -> list[str]:
    """Keras names of the layers whose Keras names contain ``query`` (case-insensitive), in
    model order; when no Keras name does, of those whose ONNX or PyTorch names do. (Every
    convolution's ONNX node ends in ``BiasAdd``: ``add`` matched 21 of 30 layers, not the
    three Add layers.)"""
    needle = query.lower()
    if not needle:
        return []
    keras = [layer.name for layer in layers if needle in layer.name.lower()]
    if keras:
        return keras
    return [layer.name for layer in layers if any(needle in n.lower() for n in (
        *layer.onnx_nodes, layer.onnx_output or "", *layer.torch_modules,
        layer.torch_output or "", *(n for ns in layer.quantized.values() for n in ns)))]


def full_class_header(name: str) -> str:
    """A confusion-matrix column shortened to fit the screen (``autom``), in full."""
    return next((c for c in CLASS_NAMES if c != name and short_class(c) == name
                 and len(name) == SHORT_CLASS), name)


def export_cell_text(value: Any) -> str:
    """A value as exported (6 significant digits, missing empty), for the clipboard."""
    return str(export_cell(value))


class R8App(App[None]):
    """Model, Input, Layers and Accuracy screens over one engine Session."""

    CSS_PATH = "app.tcss"
    TITLE = "r8-tui"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    """Screen classes by terminal height: app.tcss gives a short (24-row) screen's room to
    the tables."""
    # only r8's own commands: Textual's system commands would list Quit a second time and
    # offer Maximize, which hides the header and maximizes nothing in this layout
    COMMANDS = {R8Commands}
    SCREEN_KEYS = Binding.Group("Screen", compact=True)
    INPUT_KEYS = Binding.Group("Input", compact=True)
    BINDINGS = [
        Binding("1", "show('model')", "Model", group=SCREEN_KEYS),
        Binding("2", "show('input')", "Input", group=SCREEN_KEYS),
        Binding("3", "show('layers')", "Layers", group=SCREEN_KEYS),  # l expands a tree node
        Binding("4", "show('accuracy')", "Accuracy", group=SCREEN_KEYS),
        Binding("5", "show('variants')", "Every variant", group=SCREEN_KEYS),
        Binding("m", "show('model')", "Model", show=False),
        Binding("i", "show('input')", "Input", show=False),
        Binding("a", "show('accuracy')", "Accuracy", show=False),
        Binding("v", "pick_variant", "Variant"),
        Binding("V", "step_variant(-1)", "Previous variant", show=False),
        Binding("R", "repair", "Repair", show=False),
        Binding("w", "cycle_view", "View"),
        Binding("c", "cycle_metric", "Colour"),
        Binding("n", "find_match(1)", "Match"),  # while a find is active, else:
        Binding("N", "find_match(-1)", "Previous match", show=False),
        Binding("n", "step_input(1)", "Next input", group=INPUT_KEYS),
        Binding("p", "step_input(-1)", "Previous input", group=INPUT_KEYS),
        Binding("o", "open_input_prompt", "Open input", group=INPUT_KEYS),
        Binding("x", "random_input", "Random input", group=INPUT_KEYS),
        Binding("slash", "find_layer", "Find"),
        Binding("e", "export", "Export", show=False),
        Binding("y", "copy", "Copy", show=False),  # the footer fits 80 columns
        Binding("g", "edge(0)", "Top", show=False),
        Binding("G", "edge(1)", "Bottom", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "cancel_jobs", "Cancel job", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]
    SCREEN_ACTIONS: dict[str, frozenset[str]] = {
        "model": frozenset({"cycle_view", "cycle_metric", "find_layer", "find_match"}),
        "input": frozenset({"step_input", "open_input_prompt", "random_input"}),
        "layers": frozenset({"step_input", "open_input_prompt", "random_input", "find_layer",
                             "find_match"}),
        "accuracy": frozenset(),
        "variants": frozenset({"step_input", "open_input_prompt", "random_input"}),
    }
    """Actions that do something only on some screens (every other action works on all)."""
    LOCAL_ACTIONS = frozenset().union(*SCREEN_ACTIONS.values())

    def __init__(self, session: Session, input_text: str = DEFAULT_INPUT) -> None:
        super().__init__()
        self.session = session
        self.variant = session.variants[0]
        self.input_text = input_text
        self.view = VIEWS[0]
        self._random_seed = 0
        self.export_dir = Path.cwd()
        """Where the export prompt proposes to write (the last folder written to)."""
        self.find_query = ""
        """The active find (empty: none); n/N step through its matches."""
        self.find_matches: list[str] = []
        """Keras names of the layers the find matches, in model order."""
        self._building: dict[str, Any] = {}
        """Screen -> the mount of its pane (LATER_PANES), started the first time it is shown."""
        session.read_cached(self.variant)  # the first frame shows it (issue 14: first paint)
        self.type_ahead = TypeAhead(lambda: self.focused, self.send_key)
        """Keys typed before a prompt, picker or the find bar has focus (tui/type_ahead.py)."""
        self._type_ahead_timer: Timer | None = None
        self.device_text = device_text(session.opts.device, session.opts.tf32)
        """The header's device indicator (``cpu``, ``cuda · TF32 off``); a device other than
        cpu is checked in a job, never by importing torch on the UI thread."""

    def get_default_screen(self) -> Screen:
        """The main screen, with the breakpoint class of the terminal's height already set:
        set on the first resize instead, it restyled every widget (~50 ms of the first
        paint). Textual keeps it up to date on every resize after that."""
        screen = Screen(id="_default")
        classes = screen._get_breakpoint_classes(self.size.height, self.VERTICAL_BREAKPOINTS)
        screen.set_class(True, *classes, update=False)
        return screen

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if event.is_forwarded:  # back up from the focused widget: its binding runs now
            await super().on_event(event)
            self.type_ahead.binding_ran(event)
            return
        if not await self.type_ahead.hold(event):
            await self.send_key(event)

    async def send_key(self, event: events.Key) -> None:
        """Send a key from the terminal on to the focused widget, as Textual does; if it moves
        focus, the keys after it wait for focus to get there (tui/type_ahead.py)."""
        moves, leaving = self.moves_focus(event.key)
        await super().on_event(event)
        if moves:
            self.type_ahead.expect_soon(event, leaving)
            self._start_type_ahead_timer()

    def moves_focus(self, key: str) -> tuple[bool, Widget | None]:
        """Whether ``key``, where focus is now, moves focus, and the widget it leaves when it
        closes something (then the keys after it wait for focus to leave that widget): Enter
        where it closes (ENTER_CLOSES: the find bar, a prompt, the variant picker), a key that
        closes a dialog or the find bar, or a binding that opens a prompt, a picker, help or
        the find bar, or shows another screen (then the keys wait for what it opens)."""
        focused = self.focused
        if key == "enter" and focused is not None and any(
                getattr(node, "ENTER_CLOSES", False) for node in focused.ancestors_with_self):
            return True, focused
        typing = isinstance(focused, Input)
        if typing and key != "escape":
            return False, None  # typed into the input
        active = self.screen.active_bindings.get(key)
        if active is None or not active.enabled:
            return False, None
        action = active.binding.action.split("(")[0].removeprefix("app.")
        if action in CLOSES:
            return True, focused
        return not typing and action in MOVES_FOCUS, None

    def expect_focus_in(self, where: DOMNode) -> None:
        """The next keys are for ``where`` (a dialog just pushed, the find bar just opened, a
        screen just shown, the pane focus goes back to): they wait until focus is inside it."""
        self.type_ahead.expect_focus_in(where)
        self._start_type_ahead_timer()

    def _start_type_ahead_timer(self) -> None:
        if self._type_ahead_timer is None:
            self._type_ahead_timer = self.set_interval(0.01, self._check_type_ahead)

    async def _check_type_ahead(self) -> None:
        await self.type_ahead.check()
        if not self.type_ahead.waiting and self._type_ahead_timer is not None:
            self._type_ahead_timer.stop()
            self._type_ahead_timer = None

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().push_screen(screen, *args, **kwargs)
        if isinstance(screen, Screen):
            self.expect_focus_in(screen)
        return result

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the app; on exit, do not wait for job threads still busy (they were cancelled,
        but a conversion cannot stop mid-way): every cache write is atomic, so leaving now
        loses nothing but that unfinished work."""
        result = super().run(*args, **kwargs)
        if job_threads_alive() and not kwargs.get("headless"):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.return_code or 0)
        return result

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="context")
        with TabbedContent(initial="model", id="tabs"):
            with TabPane(TAB_TITLES["model"], id="model"):
                yield ModelPane(id="model-pane")
            for name in LATER_PANES:
                yield TabPane(TAB_TITLES[name], id=name)  # built when first shown
        yield FindBar()
        yield JobBar()
        yield R8Footer()  # Ctrl+P (the palette) is in help

    def on_mount(self) -> None:
        self.show_context()
        self.active_pane.refresh_data()
        self.call_after_refresh(resume_collection)
        if self.session.opts.device != "cpu":
            self.call_after_refresh(self.find_device)

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    @property
    def active_pane(self) -> Pane:
        return self.query_one(f"#{self.tabs.active}-pane", Pane)

    def built_pane(self, screen: str) -> Pane | None:
        """The pane of ``screen`` once built and mounted, else None."""
        try:
            pane = self.query_one(f"#{screen}-pane", Pane)
        except NoMatches:
            return None
        return pane if pane.is_mounted or screen not in LATER_PANES else None

    async def build_pane(self, screen: str) -> Pane:
        """The pane of ``screen``, built the first time: its module imported, the pane
        mounted in its tab (callers wait for the one mount in progress)."""
        pending = self._building.get(screen)
        if pending is None:
            import importlib

            module_name, name = LATER_PANES[screen]
            module = importlib.import_module(module_name)
            self.add_screen_css(Path(str(module.__file__)).with_suffix(".tcss"))
            pane = getattr(module, name)(id=f"{screen}-pane")
            pending = self._building[screen] = self.query_one(f"TabPane#{screen}").mount(pane)
        await pending
        return self.query_one(f"#{screen}-pane", Pane)

    @property
    def model_pane(self) -> ModelPane:
        return self.query_one(ModelPane)

    @property
    def job_bar(self) -> JobBar:
        return self.query_one(JobBar)

    def show_context(self, width: int | None = None) -> None:
        # the main screen's header line, also while a modal is on top (a resize then)
        self.screen_stack[0].query_one("#context", Static).update(context_line(
            self.variant, self.input_text, self.view, self.device_text,
            width or self.size.width))

    def on_resize(self, event: events.Resize) -> None:
        if self.screen_stack and self.screen_stack[0].is_mounted:
            try:
                self.show_context(event.size.width)  # self.size follows a moment later
            except NoMatches:
                pass  # not composed yet: on_mount draws it

    def state_changed(self) -> None:
        self.show_context()
        self.active_pane.refresh_data()

    @on(TabbedContent.TabActivated)
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        screen = self.tabs.active
        pane = self.built_pane(screen) or await self.build_pane(screen)  # a click on its tab
        pane.refresh_data()
        self.apply_find()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do nothing on the current screen are off (and so not in the footer)."""
        if action == "find_match":
            return bool(self.find_query)
        if action in ("copy", "edge"):
            return isinstance(self.focused, (R8Table, Tree))
        if action not in self.LOCAL_ACTIONS or not self.is_mounted:
            return True
        try:
            screen = self.tabs.active
        except NoMatches:
            return True
        if screen == "model" and action in ("step_input", "open_input_prompt",
                                            "random_input"):
            # the input matters on the Model screen when activations are shown or coloured
            pane = self.model_pane
            return self.view == "activations" or pane.metric != "none"
        return action in self.SCREEN_ACTIONS.get(screen, frozenset())

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    # -- jobs ---------------------------------------------------------------------------------

    def start_job(self, target: MessagePump, stage: str, key: Hashable, fn: JobFn, label: str) -> None:
        """Run ``fn`` in a job thread; its result message goes to ``target``.

        Jobs are Textual workers grouped by stage: a new job of a stage cancels the older one
        (``exclusive``), unless that one is already computing the same key, in which case
        ``target`` just joins it. Cancelling a job sets its worker's ``cancelled_event``,
        which the engine checks between batches.
        """
        for worker in self.workers:
            if isinstance(worker, Job) and worker.group == stage and not worker.is_cancelled \
                    and not worker.is_finished and worker.key == key:
                if target not in worker.targets:
                    worker.targets.append(target)
                return
        job = Job(self, target, stage, key, fn, label)
        self.workers.add_worker(job, start=True, exclusive=True)
        self.show_jobs()

    @property
    def jobs(self) -> list[Job]:
        """Jobs still working for someone (Textual drops a worker once its task is done)."""
        return [w for w in self.workers
                if isinstance(w, Job) and not w.is_cancelled and not w.is_finished]

    @property
    def running_jobs(self) -> list[str]:
        return [job.description for job in self.jobs]

    def show_jobs(self) -> None:
        self.job_bar.show_jobs(self.running_jobs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where job state turns into the job bar and the log."""
        self.show_jobs()
        worker = event.worker
        if isinstance(worker, Job) and event.state == WorkerState.ERROR \
                and worker.error is not None and not isinstance(worker.error, R8Error):
            self.log.error(f"{worker.name} failed", worker.error)

    def on_stage_progress(self, event: StageProgress) -> None:
        """The bar shows the progress of the job its label names (the newest), only."""
        jobs = self.jobs
        if jobs and jobs[-1].stage == event.stage:
            self.job_bar.show_progress(event.done, event.total, event.what)

    def notify_error(self, message: str, title: str) -> None:
        """An error as one notification, shown once: the same one still on screen is not
        repeated (a rejected input is refused by the prompt's job and by the step job)."""
        if any(n.message == message for n in self._notifications):
            return
        self.notify(message, title=title, severity="error", timeout=10)

    def on_input_stepped(self, event: InputStepped) -> None:
        if event.key == self.input_text:
            self.apply_input(event.new, switch=False)

    def on_stage_failed(self, event: StageFailed) -> None:
        """Failures of the app's own jobs (input stepping) as one notification."""
        if not event.cancelled:
            self.notify_error(event.message, f"{event.stage} failed")

    def cancel_jobs(self, by_user: bool) -> int:
        """Cancel every job; jobs cancelled by the user say so in their pane."""
        jobs = self.jobs
        for job in jobs:
            job.cancel_job(by_user)
        self.show_jobs()
        return len(jobs)

    def action_cancel_jobs(self) -> None:
        """Escape: clears an active find first, else cancels the running jobs."""
        if self.find_query:
            self.clear_find()
            return
        if self.cancel_jobs(by_user=True):
            self.notify("cancelled", timeout=2)

    async def action_quit(self) -> None:
        """Cancel every job and leave at once (job threads are daemons: nothing waits)."""
        self.cancel_jobs(by_user=False)
        self.exit()

    def action_reload(self) -> None:
        self.active_pane.refresh_data()

    # -- state --------------------------------------------------------------------------------

    def action_show(self, screen: str) -> None:
        """Show a screen and focus its main widget (focus left in a hidden tab would pull
        TabbedContent back to that tab)."""
        if screen not in SCREENS or self.tabs.active == screen:
            return
        pane = self.built_pane(screen)
        if pane is None:
            self.expect_focus_in(self.query_one(f"#{screen}", TabPane))
            self.call_later(self._build_and_show, screen)
            return
        self.expect_focus_in(pane)
        self.screen.set_focus(None)
        self.tabs.active = screen
        self.call_after_refresh(pane.focus_default)

    def add_screen_css(self, path: Path) -> None:
        """A screen's own styles (``SCREEN.tcss`` beside its module), added to the app's when
        it is first built: as app styles, not as a widget's DEFAULT_CSS, so that they rank as
        they did in app.tcss. Only the Model screen's are parsed at start-up."""
        if path.exists():
            self.stylesheet.add_source(path.read_text(), read_from=(str(path), ""))
            self.stylesheet.reparse()

    async def _build_and_show(self, screen: str) -> None:
        await self.build_pane(screen)
        self.action_show(screen)

    def action_cycle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.state_changed()

    def action_cycle_metric(self) -> None:
        self.model_pane.cycle_metric()

    def action_step_input(self, step: int) -> None:
        text, session = self.input_text, self.session
        def stepped(p: ProgressFn, c: threading.Event) -> InputStepped:
            new = session.step_input(text, step)
            session.input_spec(new, c)  # a step past the end fails here, state unchanged
            return InputStepped(text, new)

        self.start_job(self, "step", text, stepped, "finding the next input")

    def action_random_input(self) -> None:
        self._random_seed += 1
        self.open_input(f"random:{self._random_seed}", switch=False)

    def open_input(self, text: str, switch: bool = True) -> None:
        """Show input ``text`` once it has been read; a bad one leaves the state as it was
        and says why, once."""
        session = self.session
        if session.known_input(text) is not None:
            self.apply_input(text, switch)
            return

        def check(p: ProgressFn, c: threading.Event) -> InputChecked:
            session.input_spec(text, c)
            return InputChecked(text, switch)

        self.start_job(self, "open-input", text, check, f"reading input {text}")

    def on_input_checked(self, event: InputChecked) -> None:
        self.apply_input(event.text, event.switch)

    def apply_input(self, text: str, switch: bool = True) -> None:
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

    # -- find, copy, top and bottom -----------------------------------------------------------

    @property
    def find_bar(self) -> FindBar:
        return self.query_one(FindBar)

    def action_find_layer(self) -> None:
        """/: find as you type over Keras, ONNX and PyTorch layer names."""
        bar = self.find_bar
        bar.input.value = self.find_query
        bar.open()
        self.expect_focus_in(bar)

    def on_find_bar_changed(self, event: FindBar.Changed) -> None:
        if event.cleared:
            self.clear_find()
            return
        self.find_query = event.query.strip()
        self.find_matches = layer_matches(self.session.known_layers() or (), self.find_query)
        self.apply_find(jump=True)
        if event.done:
            self.find_bar.close()
            if not self.find_query:
                self.clear_find()
            elif not self.find_matches:
                self.notify_error(f"no layer matches {self.find_query!r}; Esc clears the "
                                  "find, / edits it", "find")
            self.active_pane.focus_default()

    def clear_find(self) -> None:
        self.find_query, self.find_matches = "", []
        self.find_bar.close()
        self.apply_find()
        if self.focused is None or self.focused is self.find_bar.input:
            self.active_pane.focus_default()
        self.refresh_bindings()

    def apply_find(self, jump: bool = False) -> None:
        """Filter the active screen's layer tables; on the Model screen move the tree to the
        first match (``jump``)."""
        names = frozenset(self.find_matches)
        for table in self.query(R8Table):  # tables without a layer column ignore it
            table.set_filter(self.find_query, names)
        if self.find_query:
            total = len(self.session.known_layers() or ())
            needle = self.find_query.lower()
            by = "" if all(needle in n.lower() for n in self.find_matches) \
                else " by ONNX/PyTorch name"
            self.find_bar.show_count(f"{len(self.find_matches)} of {total} layers{by}")
        if jump and self.find_matches and self.tabs.active == "model":
            self.model_pane.layer_tree.select_layer(self.find_matches[0])
        self.refresh_bindings()

    def action_find_match(self, step: int) -> None:
        """n / N while a find is active: the next / previous matching layer."""
        focused = self.focused
        if isinstance(focused, R8Table):
            if focused.row_count:
                focused.move_cursor(row=(focused.cursor_row + step) % focused.row_count)
            return
        if not self.find_matches:
            self.notify_error(f"no layer matches {self.find_query!r}; Esc clears the find",
                              "find")
            return
        tree = self.model_pane.layer_tree
        current = tree.selected_layer.name if tree.selected_layer is not None else ""
        names = tree.layer_names
        here = names.index(current) if current in names else -1
        ordered = sorted(self.find_matches, key=names.index)
        after = [n for n in ordered if names.index(n) > here] if step > 0 else \
            [n for n in reversed(ordered) if names.index(n) < here]
        target = (after or (ordered if step > 0 else ordered[::-1]))[0]
        tree.select_layer(target)

    def action_copy(self) -> None:
        """y: copy the selected row (tab-separated) or layer name to the clipboard."""
        focused = self.focused
        text = ""
        if isinstance(focused, R8Table):
            row = focused.selected_row()
            if row is not None:
                text = "\t".join(export_cell_text(v) for v in row)
        elif isinstance(focused, Tree):
            node = focused.cursor_node
            data = node.data if node is not None else None
            text = getattr(data, "name", "") or (str(node.label) if node is not None else "")
        if not text:
            self.notify_error("nothing selected to copy; move the cursor to a row", "copy")
            return
        self.copy_to_clipboard(text)
        shown = text if len(text) <= 60 else text[:59] + "…"
        self.notify(f"copied: {shown}", title="clipboard", timeout=3)

    def action_edge(self, bottom: int) -> None:
        """g / G: first / last row of the focused tree (tables bind their own)."""
        focused = self.focused
        if isinstance(focused, Tree):
            focused.cursor_line = focused.last_line if bottom else 0
            focused.scroll_to_node(focused.cursor_node) if focused.cursor_node else None
        elif isinstance(focused, R8Table):
            focused.action_scroll_bottom() if bottom else focused.action_scroll_top()

    # -- export and help ----------------------------------------------------------------------

    def export_table(self, table: R8Table) -> tuple[list[str], list[list[Any]], dict[str, str]]:
        """(header, rows, meta) of ``table`` as a CSV holds it: numbers, not display (no bar
        columns), full class names, the layer of a per-layer table, the rows as shown (sorted
        and filtered), and what they were computed on."""
        keep = [i for i, h in enumerate(table.header) if h not in DISPLAY_COLUMNS]
        header = [full_class_header(table.header[i]) for i in keep]
        rows = [[row[i] for i in keep] for row in table.rows_in_view()]
        if table.table_name == "layer-stats" and self.model_pane.last_layer is not None:
            header = ["layer", *header]
            rows = [[self.model_pane.last_layer.name, *r] for r in rows]
        session = self.session
        meta = {"table": table.table_name, "variant": self.variant, "input": self.input_text,
                "subset": session.subset, "view": self.view}
        try:
            meta["model_sha256"] = session.ws.model_sha
        except R8Error:
            meta["model_sha256"] = "unknown"
        meta["r8"] = engine.__version__
        if table.filter_text:
            meta["find"] = table.filter_text
        return header, rows, meta

    def action_export(self, name: str = "") -> None:
        table: R8Table | None
        if name:
            table = next((t for t in self.query(R8Table) if t.table_name == name), None)
        else:
            table = self.active_pane.table_in_view()
        if table is None or not table.values:
            self.notify_error("nothing to export yet: this table is empty; wait for it to "
                              "load or pick another table", "export")
            return
        header, rows, meta = self.export_table(table)

        def write(target: Path, force: bool = False) -> None:
            try:
                written = write_csv(target, header, rows, force=force, meta=meta)
            except R8Error as exc:
                self.notify_error(str(exc), "export failed")
                return
            self.export_dir = written.resolve().parent
            self.notify(f"wrote {len(rows)} rows to {written.resolve()}", title="export")

        def chosen(path: str | None) -> None:
            if not path:
                return
            target = Path(path).expanduser()
            if not target.is_absolute():
                target = self.export_dir / target
            if not os.path.lexists(target):
                write(target)
                return

            def confirmed(answer: str | None) -> None:
                if (answer or "").lower() in ("y", "yes"):
                    write(target, force=True)
                else:
                    self.notify(f"kept {target}; nothing written", title="export")

            self.push_screen(PromptScreen(f"{target} exists: overwrite it?", "",
                                          "y to overwrite, Enter or Escape to keep it"),
                             confirmed)

        self.push_screen(PromptScreen(f"Export {table.table_name} as CSV",
                                      str(self.export_dir / f"r8-{table.table_name}.csv"),
                                      "path of the CSV file"), chosen)

    def screen_bindings(self) -> list[Binding]:
        """The keys that do something here and now, this screen's first: the focused
        panel's and the screen's own (r8's, not the ones every Textual table or tree
        inherits), then the app's keys that work on some screens only, then the rest."""
        widget: list[Binding] = []
        local: list[Binding] = []
        general: list[Binding] = []
        for active in self.screen.active_bindings.values():
            node, binding = active.node, active.binding
            own = binding in vars(type(node)).get("BINDINGS", ())
            if not (active.enabled and binding.description and own):
                continue
            if node is not self and not isinstance(node, Screen):  # Tab / Shift+Tab: general
                widget.append(binding)
            elif binding.action.split("(")[0] in self.LOCAL_ACTIONS:
                local.append(binding)
            else:
                general.append(binding)
        return widget + local + general

    def action_help(self) -> None:
        """?: the keys of this screen and panel first, then every other key."""
        title = TAB_TITLES[self.tabs.active].split(" ", 1)[1]  # "Every variant"
        self.push_screen(HelpScreen(self.screen_bindings(), title,
                                    self.BINDINGS))  # type: ignore[arg-type]

    # -- variants: picker, repair, device -------------------------------------------------------

    def action_pick_variant(self) -> None:
        """A modal list of the session's variants, the current one highlighted."""
        from tui.screens.variant_picker import VariantPicker, variant_note

        def picked(name: str | None) -> None:
            if name and name != self.variant and name in self.session.variants:
                self.variant = name
                self.state_changed()

        notes = {v: variant_note(v) for v in self.session.variants}
        self.push_screen(VariantPicker(self.session.variants, self.variant, notes), picked)

    def action_step_variant(self, step: int) -> None:
        names = self.session.variants
        self.variant = names[(names.index(self.variant) + step) % len(names)]
        self.state_changed()

    def action_repair(self) -> None:
        """The repair dialog; its variant is built in a job and then shown everywhere."""
        from engine import variants as V
        from engine.float_layers import quant_units
        from tui.screens.repair import RepairScreen
        from tui.session import RepairRequest

        session = self.session
        layers = session.known_layers()
        if layers is None:
            self.notify("the layer map is still loading; press R again once the tree shows",
                        severity="warning")
            return
        units = quant_units(layers)
        current = V.get(self.variant) if self.variant in V.names() else None
        if isinstance(current, V.QuantizedVariant):
            q = current.options(session.opts).quant
            marked = set(q.float_layers)
            initial = RepairRequest(current.base, (), q.bias_correction, q.method, q.calib)
        else:
            q = session.opts.quant
            marked = set()
            recipe = next((v for v in session.variants if v in V.QUANT_VARIANTS),
                          V.QUANT_VARIANTS[0])
            initial = RepairRequest(recipe, (), q.bias_correction, q.method, q.calib)
        selected = self.model_pane.layer_tree.selected_layer
        if selected is not None and not marked:  # the layer picked on the tree
            marked = {u.name for u in units if getattr(selected, "name", None) in u.layers}
        initial = RepairRequest(initial.recipe, tuple(sorted(marked)), initial.bias_correction,
                                initial.method, initial.calib)

        def chosen(req: RepairRequest | None) -> None:
            if req is not None:
                self.start_repair(req)

        self.push_screen(RepairScreen(V.QUANT_VARIANTS,
                                      [(u.name, u.describe()) for u in units],
                                      initial, session.repair_name), chosen)

    def start_repair(self, req: Any) -> None:
        """Build the variant of ``req`` (a RepairRequest) as a cancellable job."""
        session = self.session
        name = session.repair_name(req)

        def job(p: ProgressFn, c: threading.Event) -> VariantAdded:
            return VariantAdded(*session.repair(req, p, c))

        what = f"running the recommender for {req.recipe}" if req.recommend \
            else f"quantizing {name}"
        self.start_job(self, "repair", name, job, what)

    def on_variant_added(self, event: VariantAdded) -> None:
        """A repaired variant joins the session and is shown at once, on every screen."""
        from tui.screens.accuracy import AccuracyPane

        new = event.name not in self.session.variants
        self.session.add_variant(event.name)
        for pane in self.query(AccuracyPane):
            pane.report = None  # re-evaluated with the new variant
        self.variant = event.name
        self.state_changed()
        verb = "added" if new else "rebuilt"
        self.notify(f"{verb} {event.name} in {event.seconds:.1f} s: {event.detail}",
                    title="repair", timeout=8)

    def find_device(self) -> None:
        opts = self.session.opts

        def job(p: ProgressFn, c: threading.Event) -> DeviceFound:
            from engine.runners import choose_torch_device

            choice = choose_torch_device(opts.device)
            return DeviceFound(device_text(choice.device, opts.tf32, checked=True))

        self.start_job(self, "device", "device", job, "looking for the GPU")

    def on_device_found(self, event: DeviceFound) -> None:
        self.device_text = event.text
        self.show_context()


def resume_collection() -> None:
    """After the first frame: if start-up turned the cyclic garbage collector off
    (``tui_main.start``), freeze what it built (it lives as long as the app: later collections
    never scan it again) and turn the collector back on. A no-op when it was on."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def device_text(device: str, tf32: bool, checked: bool = False) -> str:
    """The header's device indicator: ``cpu``, or ``cuda · TF32 off``. A device asked for
    (``cuda``, ``auto``) reads ``cuda? · …`` until a job has looked for the GPU, and
    ``cpu (no CUDA)`` when there is none."""
    if device == "cpu":
        return "cpu (no CUDA)" if checked else "cpu"
    return f"{'cuda' if checked else 'cuda?'} · TF32 {'on' if tf32 else 'off'}"


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` in ``width`` cells, its middle replaced by … when it does not fit (both ends of
    a variant name say the most: ``onnx-int8@float=…,dense``)."""
    if len(text) <= width:
        return text
    keep = max(width - 1, 2)
    head = (keep + 1) // 2
    return text[:head] + "…" + text[len(text) - (keep - head):]


def context_line(variant: str, input_text: str, view: str, device: str, width: int) -> str:
    """The header line in ``width`` columns: the device indicator always shows; the view goes
    first when it does not fit, then the variant and the input lose their middles (…)."""
    def line(v: str, i: str, with_view: bool) -> tuple[str, int]:
        view_part = f"view [b]{escape(view)}[/]  " if with_view else ""
        markup = (f" [b]ResNet8[/]  variant [b]{escape(v)}[/]  input [b]{escape(i)}[/]  "
                  f"{view_part}[dim]{escape(device)}[/]")
        plain = (f" ResNet8  variant {v}  input {i}  "
                 f"{f'view {view}  ' if with_view else ''}{device}")
        return markup, len(plain)

    markup, n = line(variant, input_text, True)
    if n <= width:
        return markup
    markup, n = line(variant, input_text, False)
    if n <= width:
        return markup
    over = n - width
    v = middle_ellipsis(variant, max(len(variant) - over, 9))
    markup, n = line(v, input_text, False)
    if n > width:
        i = middle_ellipsis(input_text, max(len(input_text) - (n - width), 9))
        markup, n = line(v, i, False)
    return markup
