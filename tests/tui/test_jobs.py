"""The app never hangs: jobs under key storms on a cold cache, quit, shared artifacts, and
the official index -> row mapping on a data copy whose rows are shuffled."""

from __future__ import annotations

import pickle
import random
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from engine import convert, evaluate
from engine.data import make_dataset
from engine.errors import CancelledError
from engine.workspace import Workspace
from tests.tui.conftest import built, make_app, screen_text, sync, wait_idle, wait_until
from tui.app import R8App
from tui.jobs import THREAD_PREFIX, Job
from tui.messages import PredictionsLoaded, StageProgress
from tui.session import Session

T = TypeVar("T")
STORM_KEYS = tuple("1234Vwnpcxjk") + ("escape", "r")
"""Keys a user may hammer (no prompt opens on any of them)."""


def unique(messages: Iterable[T]) -> list[T]:
    """Each message once (the hook sees a message at every pump it passes through)."""
    out: dict[int, T] = {}
    for m in messages:
        out.setdefault(id(m), m)
    return list(out.values())


def live_job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX) and t.is_alive()]


class CountingConversions:
    """convert.keras_to_onnx, the real one, counted: started, finished, most at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.finished = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        real = convert.keras_to_onnx

        def counting(*args, **kwargs):
            with self._lock:
                self.started += 1
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                real(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1
            with self._lock:
                self.finished += 1

        monkeypatch.setattr(convert, "keras_to_onnx", counting)


def tmp_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob(".tmp-*"))


def wait_for_job_threads(timeout: float = 120) -> None:
    """Cancelled job threads (and shared-artifact threads) end at the engine's next check."""
    deadline = time.monotonic() + timeout
    while live_job_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_job_threads(), "cancelled job threads end"


@pytest.mark.slow
@sync
async def test_key_storm_on_a_cold_cache_never_hangs(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    conversions = CountingConversions(monkeypatch)
    cache = tmp_path / "cold"
    session = Session(cache_dir=str(cache), download=False,
                      variants=("keras", "onnx", "onnx-int8"))
    app = R8App(session)
    app.animation_level = "none"
    rng = random.Random(15)
    async with app.run_test(size=(100, 30)) as pilot:
        # the sequence first, then hundreds of random keys, in bursts of 20 (Pilot
        # waits for the screen after each burst, not after each key)
        await pilot.press("3", *"V" * 20, "2", *"V" * 7, "4", "1")  # V steps, v opens a picker
        for _ in range(12):
            await pilot.press(*(rng.choice(STORM_KEYS) for _ in range(20)))
        await pilot.press("1")
        pane = app.model_pane
        await wait_until(pilot, lambda: pane.layer_infos, timeout=300)
        await wait_until(pilot, lambda: not app.running_jobs, timeout=300)
        await wait_idle(pilot)
        assert "loading the layer map" not in screen_text(app)
        assert not app.job_bar.has_class("-busy"), "no job is left running"
        # the app answers keys: the tree moves and the side pane follows
        before = pane.layer_tree.selected_layer
        await pilot.press("j")
        await pilot.pause()
        after = pane.layer_tree.selected_layer
        assert before is not None and after is not None and after.index == before.index + 1
        assert after.name in screen_text(app)
        await pilot.press("r")  # reload answers too: it finishes, no job hangs
        await wait_idle(pilot)
        assert not app.running_jobs
    wait_for_job_threads()
    # the float model is converted once: jobs cancelled by the storm stop waiting, but the
    # conversion goes on for the jobs still asking (it restarts only when none was left)
    assert conversions.most_at_once == 1, "one conversion in flight at a time"
    assert conversions.finished == 1, f"the float model was converted {conversions.finished} times"
    assert tmp_files(cache) == [], "no temp file is left after the app quits"
    print(f"key storm: {conversions.started} conversion(s) started, 1 finished")


@pytest.mark.slow
def test_a_shared_artifact_survives_the_cancel_of_the_job_converting_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session.prepare: the job that started the conversion is cancelled, the conversion goes
    on for the two others; when the only job asking is cancelled, the conversion stops and
    leaves no temp file, and the next job converts again (never two at once)."""
    conversions = CountingConversions(monkeypatch)
    cache = tmp_path / "cold"
    session = Session(cache_dir=str(cache), download=False, variants=("keras", "onnx"))
    session.ws  # noqa: B018  (opened here, not in the timed part)
    outcome: dict[int, str] = {}

    def job(i: int, cancel: threading.Event) -> threading.Thread:
        def body() -> None:
            try:
                session.prepare("onnx", cancel=cancel)
                outcome[i] = "ok"
            except CancelledError:
                outcome[i] = "cancelled"
        thread = threading.Thread(target=body)
        thread.start()
        return thread

    def wait_converting() -> None:
        deadline = time.monotonic() + 120
        while not (conversions.running and tmp_files(cache)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tmp_files(cache), "the conversion writes a temp file"
        time.sleep(1.0)  # well inside the conversion (seconds)

    # the only job asking is cancelled: the conversion stops, its temp file goes
    alone = threading.Event()
    thread = job(0, alone)
    wait_converting()
    alone.set()
    thread.join(timeout=60)
    wait_for_job_threads()
    assert outcome == {0: "cancelled"}
    assert conversions.started == 1 and conversions.finished == 0
    assert tmp_files(cache) == [] and not list(cache.rglob("*.onnx"))
    assert session.ws.onnx_cached(session.opts.opset) is None

    # the job that started the conversion is cancelled mid-way: the two others still get it
    events = [threading.Event() for _ in range(3)]
    threads = [job(1, events[0])]
    wait_converting()
    threads += [job(i, e) for i, e in enumerate(events[1:], start=2)]
    time.sleep(0.5)  # both wait for the conversion in flight
    events[0].set()
    for thread in threads:
        thread.join(timeout=300)
    wait_for_job_threads()
    assert outcome == {0: "cancelled", 1: "cancelled", 2: "ok", 3: "ok"}
    assert conversions.started == 2, "the conversion was not restarted for the jobs left"
    assert conversions.finished == 1 and conversions.most_at_once == 1
    assert tmp_files(cache) == []
    assert session.ws.onnx_cached(session.opts.opset) is not None


@sync
async def test_quit_cancels_every_job_and_leaves_at_once(ws: Workspace) -> None:
    seed = time.time_ns() % 1_000_000_000  # a fresh subset: seconds of work even when warm
    app = make_app(ws, variants=("keras", "onnx", "torch"), subset=f"stratified:9000:{seed}")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: any("evaluating" in j for j in app.running_jobs),
                         timeout=30)
        jobs = [w for w in app.workers if isinstance(w, Job)]
        await pilot.pause(0.5)  # the evaluation is under way in its thread
        t0 = time.monotonic()
        await pilot.press("q")
    left_after = time.monotonic() - t0
    assert app.return_code == 0
    assert all(job.cancelled_event.is_set() for job in jobs), "quit cancels every job"
    # the engine checks the cancel event between batches: the threads end on their own
    deadline = time.monotonic() + 60
    while live_job_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live_job_threads()
    print(f"quit: the app left {left_after:.2f} s after q")


def shuffled_copy(ws: Workspace, folder: Path, n: int = 600, seed: int = 3) -> np.ndarray:
    """A cifar-10-batches-py folder whose test_batch holds ``n`` images in shuffled order with a
    valid ``indices`` key; returns the official indices in file order."""
    folder.mkdir()
    for item in ws.data_dir.iterdir():
        if item.name != "test_batch":
            (folder / item.name).symlink_to(item)
    test = ws.test_set
    rows = np.random.default_rng(seed).permutation(len(test.labels))[:n]
    data = test.images[rows].transpose(0, 3, 1, 2).reshape(n, 3072)
    batch = {b"data": np.ascontiguousarray(data), b"labels": test.labels[rows].tolist(),
             b"indices": test.indices[rows]}
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    assert not np.all(np.diff(test.indices[rows]) > 0), "rows really out of order"
    return test.indices[rows]


@sync
async def test_shuffled_rows_show_the_right_images_predictions(ws: Workspace,
                                                               tmp_path: Path) -> None:
    order = shuffled_copy(ws, tmp_path / "data")
    # an image whose row is not where sorted order would put it
    position = next(i for i in range(len(order)) if np.searchsorted(order, order[i]) != i)
    official = int(order[position])
    session = Session(data_dir=str(tmp_path / "data"), cache_dir=str(ws.cache_dir),
                      download=False, variants=("onnx",))
    app = R8App(session, input_text=f"test:{official}")
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        shown = pane.shown
        await wait_idle(pilot)
    truth = ws.test_set  # the official order: row == index on this copy's sorted rows
    row = int(np.flatnonzero(truth.indices == official)[0])
    assert int(shown.indices[0]) == official and int(shown.labels[0]) == int(truth.labels[row])
    assert np.array_equal(shown.images[0], truth.images[row])
    one = make_dataset("one", truth.images[row:row + 1], truth.labels[row:row + 1],
                       truth.indices[row:row + 1])
    expected = evaluate.predictions(ws, "onnx", one).probs[0]
    np.testing.assert_allclose(shown.probs["onnx"][0], expected, atol=1e-5)
    # stepping walks official indices in order, whatever the order of the rows
    assert session.step_input(f"test:{int(np.sort(order)[0])}", 1) == \
        f"test:{int(np.sort(order)[1])}"


@sync
async def test_progress_coalesces_and_stale_results_are_dropped(ws: Workspace) -> None:
    seen: list[object] = []
    app = make_app(ws)
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        await pilot.press("2")
        pane = await built(pilot, "input")
        await wait_until(pilot, lambda: pane.shown is not None)
        await wait_idle(pilot)
        # a burst of progress reports: each replaces the one of its stage still queued
        seen.clear()
        for n in range(1, 101):
            app.post_message(StageProgress("burst", n, 100, "images"))
        app.post_message(StageProgress("other", 100, 100, "images"))
        await pilot.pause()
        await pilot.pause()
        burst = unique(m for m in seen if isinstance(m, StageProgress) and m.stage == "burst")
        other = unique(m for m in seen if isinstance(m, StageProgress) and m.stage == "other")
        assert 1 <= len(burst) <= 2 and burst[-1].done == 100, [m.done for m in burst]
        assert len(other) == 1, "another stage's report is not swallowed"
        # three inputs asked for in a row: the first two jobs are replaced before they end,
        # so only the last one's result reaches the screen
        seen.clear()
        for text in ("random:101", "random:102", "random:103"):
            app.open_input(text, switch=False)
        await wait_until(pilot, lambda: pane.shown is not None and pane.shown.input == "random:103")
        await wait_idle(pilot)
    results = [m.predictions.input for m in unique(seen) if isinstance(m, PredictionsLoaded)]
    assert results == ["random:103"], results
