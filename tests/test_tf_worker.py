"""TensorFlow runs in its own process: the app's process never imports it, a dying worker is
one error line, cancel kills the worker, and nothing half-written is left in the cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine import tf_jobs
from engine.errors import CancelledError
from engine.tf_worker import TFWorker, WorkerError
from engine.workspace import Workspace
from tests.tui.conftest import sync, wait_idle, wait_until

ROOT = Path(__file__).resolve().parent.parent
GONE_WITHIN_S = 1.0
"""A cancelled or stopped worker's PID must be gone within this long."""

EVAL_THEN_MODULES = """
import json, sys
from cli import main
rc = main(["--cache-dir", sys.argv[1], "eval", "--variant", "keras,onnx,torch",
           "--subset", "first:300", "--json"])
print(json.dumps({"rc": rc, "heavy": [m for m in ("tensorflow", "tf_keras", "tf2onnx", "keras")
                                      if m in sys.modules]}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _leftovers(cache: Path) -> list[str]:
    """Entries of the conversion stage and any temp file anywhere in the cache."""
    onnx = [p.name for p in (cache / "onnx").glob("*")] if (cache / "onnx").exists() else []
    temps = [str(p) for p in cache.rglob(".tmp-*")]
    return onnx + temps


@pytest.mark.slow
def test_eval_of_every_float_variant_never_imports_tensorflow(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", EVAL_THEN_MODULES, str(tmp_path)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stderr[-2000:]
    evaluated = json.loads("\n".join(lines[:-1]))
    assert set(evaluated["variants"]) == {"keras", "onnx", "torch"}
    assert all(not v["details"]["cached"] for v in evaluated["variants"].values())  # computed
    assert evaluated["variants"]["keras"]["correct"] == evaluated["variants"]["torch"]["correct"]
    assert json.loads(lines[-1]) == {"rc": 0, "heavy": []}


@pytest.mark.slow
def test_killed_worker_is_one_error_line_and_the_next_run_succeeds(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cli", "--cache-dir", str(tmp_path), "convert"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    assert workers, "r8 convert started no worker process"
    time.sleep(1.0)  # inside the job: importing TensorFlow or converting
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("r8: error: the TensorFlow worker ended "
                                                   "abnormally (killed by SIGKILL"), err
    assert "pretrainedResnet.h5" in lines[0] and "converting" in lines[0]
    assert _leftovers(tmp_path) == []
    again = subprocess.run(cmd + ["--json"], cwd=ROOT, env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["onnx_cached"] is False
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1


def test_cancel_mid_conversion_kills_the_worker(tmp_path: Path) -> None:
    ws = Workspace.open(cache_dir=str(tmp_path), download=False)
    cancel = threading.Event()
    seen: list[str] = []
    failure: list[BaseException] = []

    def convert() -> None:
        try:
            ws.onnx_path(on_progress=lambda d, t, what: seen.append(what), cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    job = threading.Thread(target=convert)
    job.start()
    deadline = time.monotonic() + 60
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen and "loading the .h5" in seen[0]  # the worker is inside the conversion job
    pid = ws.tf_worker.pid
    assert pid is not None and _alive(pid)
    cancel.set()
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < GONE_WITHIN_S:
        time.sleep(0.01)
    assert not _alive(pid)
    job.join(GONE_WITHIN_S)
    assert not job.is_alive() and isinstance(failure[0], CancelledError)
    assert _leftovers(tmp_path) == []
    assert ws.onnx_cached() is None


@sync
async def test_escape_mid_conversion_in_the_tui_kills_the_worker(tmp_path: Path) -> None:
    from tui.app import R8App
    from tui.session import Session

    app = R8App(Session(cache_dir=str(tmp_path), download=False, variants=("keras", "onnx")))
    app.animation_level = "none"
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        session = app.session
        await wait_until(pilot, lambda: "ws" in vars(session)
                         and session.ws.tf_worker.pid is not None, timeout=60)
        pid = session.ws.tf_worker.pid
        await pilot.pause(0.5)  # the worker is importing TensorFlow or converting
        assert pid is not None and _alive(pid)
        await pilot.press("escape")
        t0 = time.monotonic()
        while _alive(pid) and time.monotonic() - t0 < GONE_WITHIN_S:
            await pilot.pause(0.01)
        assert not _alive(pid)
        await wait_idle(pilot)
        message = str(app.model_pane.query_one(".pane-message").render())
        assert message.startswith("Cancelled")
    assert _leftovers(tmp_path) == []


def test_worker_reports_errors_and_survives_them(ws: Workspace, tmp_path: Path) -> None:
    worker = TFWorker()
    try:
        bad = tmp_path / "not-a-model.tflite"
        bad.write_bytes(b"no flatbuffer here")
        with pytest.raises(Exception, match="cannot load .*not-a-model.tflite"):
            tf_jobs.tflite_check(worker, bad)
        pid = worker.pid
        x = np.asarray(ws.test_set.images[:8], np.float32)
        probs = tf_jobs.keras_predict(worker, ws.model_path, x)  # same process, still serving
        assert worker.pid == pid and probs.shape == (8, 10)
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="killed by SIGKILL"):
            tf_jobs.keras_predict(worker, ws.model_path, x)
        again = tf_jobs.keras_predict(worker, ws.model_path, x)  # a fresh worker
        assert worker.pid not in (None, pid)
        np.testing.assert_array_equal(again, probs)
    finally:
        pid = worker.pid
        worker.close()
    assert pid is not None and not _alive(pid)


@pytest.mark.slow
def test_cancelled_weight_job_stops_the_worker(ws: Workspace, tmp_path: Path) -> None:
    """weight_reports hands its cancel to the TF worker's job: set, the worker's PID is gone
    within a second, nothing is cached, and the next call (a fresh worker) succeeds."""
    from engine import weights
    from engine.layers import layer_map

    layer_map(ws)  # seed a fresh cache with the layer map only: the weights need the worker
    shutil.copytree(ws.cache.root / "layers", tmp_path / "layers")
    fresh = Workspace.open(cache_dir=str(tmp_path), download=False)
    cancel = threading.Event()
    failure: list[BaseException] = []

    def read() -> None:
        try:
            weights.weight_reports(fresh, "keras", cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    job = threading.Thread(target=read)
    job.start()
    deadline = time.monotonic() + 60
    while fresh.tf_worker.pid is None and job.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = fresh.tf_worker.pid
    assert pid is not None and _alive(pid), failure  # the weight job is in the worker
    time.sleep(0.3)  # importing TensorFlow or reading the .h5
    cancel.set()
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < GONE_WITHIN_S:
        time.sleep(0.01)
    assert not _alive(pid)
    job.join(GONE_WITHIN_S)
    assert not job.is_alive() and len(failure) == 1 and isinstance(failure[0], CancelledError)
    assert not (tmp_path / "weights").exists() or not list((tmp_path / "weights").iterdir())
    assert list(tmp_path.rglob(".tmp-*")) == []
    again = weights.weight_reports(fresh, "keras")
    assert {r.param for r in again if r.layer == "conv2d"} == {"kernel", "bias"}
    assert fresh.tf_worker.pid != pid
