"""TensorFlow in its own process: the worker and the handle the engine talks to it through.

The CLI and the TUI never import TensorFlow. Everything that needs it (loading the ``.h5``,
Keras -> ONNX, Keras and TFLite inference, Keras activations and weights; see
``engine.tf_jobs``) runs in a child process, ``python -m engine.tf_worker``, started on first
use and kept for the next request. So:

- a crash in TensorFlow or h5py on a broken or hostile file ends the worker, not the app:
  the call raises :class:`WorkerError` (one line naming the file and the fix) and the next
  call starts a fresh worker;
- ``cancel`` (a ``threading.Event``) kills the worker within the polling interval; files it
  was writing are the caller's temp files, which the cache removes, so nothing half-written
  is left;
- progress lines the worker sends reach the caller's ``on_progress`` in the caller's thread;
- TensorFlow and PyTorch never share a process (torchvision segfaults when imported after
  TensorFlow 2.21), so no import order has to be kept anywhere.

Protocol: frames on the worker's stdin/stdout, each a 4-byte length + JSON header and an
8-byte length + payload (``np.savez`` bytes, read back with ``allow_pickle=False``; no pickle
crosses the pipe). Requests: ``{"op", "args"}`` + input arrays. Replies: any number of
``{"progress": [done, total, what]}``, then ``{"ok": result}`` + arrays or
``{"error": class name, "message"}``. The worker's fd 1 is pointed at its stderr so stray
prints from TensorFlow cannot corrupt the stream; its stderr is drained and its last lines
are quoted when it dies.
"""

from __future__ import annotations

import collections
import errno
import io
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine import errors
from engine.errors import CancelledError, R8Error
from engine.types import ProgressFn

POLL_SECONDS = 0.05
"""How often a waiting call looks at its cancel event."""
STOP_SECONDS = 2.0
"""How long a worker asked to stop (stdin closed) gets before it is killed."""
STDERR_LINES = 20
"""Last lines of the worker's stderr kept for error messages."""
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
              "CUDA_VISIBLE_DEVICES": ""}
"""The worker runs Keras 2 (tf_keras) on CPU, quietly (r8 runs Keras and TFLite on CPU)."""
_HEADER = struct.Struct(">I")
_PAYLOAD = struct.Struct(">Q")

Arrays = dict[str, np.ndarray]


class WorkerError(R8Error):
    """The TensorFlow worker process ended abnormally (a crash, a kill, out of memory)."""


# -- framing (both sides) -------------------------------------------------------------------
def _pack_arrays(arrays: Mapping[str, np.ndarray] | None) -> bytes:
    if not arrays:
        return b""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack_arrays(payload: bytes) -> Arrays:
    if not payload:
        return {}
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def write_frame(f: IO[bytes], header: dict[str, Any], arrays: Mapping[str, np.ndarray] | None
                = None) -> None:
    head = json.dumps(header).encode()
    payload = _pack_arrays(arrays)
    f.write(_HEADER.pack(len(head)) + head + _PAYLOAD.pack(len(payload)))
    f.write(payload)
    f.flush()


def _read_exact(f: IO[bytes], n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(f: IO[bytes]) -> tuple[dict[str, Any], Arrays] | None:
    """The next frame, or None at end of stream (or a truncated frame)."""
    raw = _read_exact(f, _HEADER.size)
    if raw is None:
        return None
    head = _read_exact(f, _HEADER.unpack(raw)[0])
    size = _read_exact(f, _PAYLOAD.size)
    if head is None or size is None:
        return None
    payload = _read_exact(f, _PAYLOAD.unpack(size)[0])
    if payload is None:
        return None
    return json.loads(head), _unpack_arrays(payload)


# -- the parent's handle --------------------------------------------------------------------
class TFWorker:
    """A handle on one TensorFlow worker process, started on first use, shared by threads.

    One request runs at a time (a lock); a request's ``cancel`` kills the worker only while
    that request is the one in flight. The process is stopped by :meth:`close`, when the
    handle is garbage-collected, and at interpreter exit.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._frames: queue.Queue[tuple[dict[str, Any], Arrays] | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._finalizer: weakref.finalize | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs, else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def call(self, op: str, args: Mapping[str, Any] | None = None,
             arrays: Mapping[str, np.ndarray] | None = None, *, what: str = "",
             on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> tuple[Any, Arrays]:
        """Run ``op`` (an ``engine.tf_jobs`` job) in the worker; returns (result, arrays).

        ``what`` names the work for messages (e.g. ``converting /path/model.h5 to ONNX``).
        Raises the R8Error the job raised, CancelledError when ``cancel`` is set (the worker
        is killed), or WorkerError when the worker dies.
        """
        what = what or op
        while not self._lock.acquire(timeout=POLL_SECONDS):
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"{what}: cancelled")
        try:
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"{what}: cancelled")
            proc, frames = self._running()
            try:
                assert proc.stdin is not None
                write_frame(proc.stdin, {"op": op, "args": dict(args or {})}, arrays)
            except (BrokenPipeError, OSError):
                pass  # it died; the reader reports the end of its stream below
            try:
                return self._wait(frames, what, on_progress, cancel)
            except BaseException as exc:
                if not isinstance(exc, R8Error) or isinstance(exc, CancelledError):
                    self._kill()  # Ctrl-C, cancel or a failing callback: the reply is abandoned
                raise
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker (it is started again by the next call)."""
        with self._lock:
            proc, self._proc = self._proc, None
            if self._finalizer is not None:
                self._finalizer.detach()
            if proc is not None:
                _stop(proc)

    # -- internals ---------------------------------------------------------------------------
    def _wait(self, frames: queue.Queue[Any], what: str, on_progress: ProgressFn | None,
              cancel: threading.Event | None) -> tuple[Any, Arrays]:
        while True:
            try:
                frame = frames.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if cancel is not None and cancel.is_set():
                    raise CancelledError(f"{what}: cancelled") from None
                continue
            if frame is None:
                raise self._died(what)
            header, out = frame
            if "progress" in header:
                if on_progress is not None:
                    done, total, label = header["progress"]
                    on_progress(int(done), int(total), str(label))
                if cancel is not None and cancel.is_set():
                    raise CancelledError(f"{what}: cancelled")
                continue
            if "ok" in header:
                return header["ok"], out
            raise _error_from(header)

    def _running(self) -> tuple[subprocess.Popen[bytes], queue.Queue[Any]]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc, self._frames
        env = {**self._env, **WORKER_ENV}
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.tf_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=root,
            start_new_session=True)  # Ctrl-C in a terminal reaches r8, which then stops it
        frames: queue.Queue[tuple[dict[str, Any], Arrays] | None] = queue.Queue()
        self._stderr.clear()
        threading.Thread(target=_pump_frames, args=(proc.stdout, frames), daemon=True,
                         name=f"tf-worker-{proc.pid}-out").start()
        threading.Thread(target=_pump_lines, args=(proc.stderr, self._stderr), daemon=True,
                         name=f"tf-worker-{proc.pid}-err").start()
        self._proc, self._frames = proc, frames
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _stop, proc)
        return proc, frames

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def _died(self, what: str) -> WorkerError:
        proc, self._proc = self._proc, None
        code = proc.wait() if proc is not None else None
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        last = next((ln for ln in reversed(self._stderr) if ln.strip()), "")
        tail = f", last output: {last.strip()[:160]}" if last else ""
        return WorkerError(
            f"the TensorFlow worker ended abnormally ({how}{tail}) while {what}; nothing was "
            "cached: if the file is damaged or not MLPerf's, pass pretrainedResnet.h5 with "
            "--model, else run the command again")


def _error_from(header: dict[str, Any]) -> R8Error:
    cls = getattr(errors, str(header.get("error")), None)
    message = str(header.get("message", "the TensorFlow worker failed"))
    if isinstance(cls, type) and issubclass(cls, R8Error):
        return cls(message) if cls is not CancelledError else CancelledError(message)
    return WorkerError(f"TensorFlow worker: {message}")


def _pump_frames(stream: IO[bytes], frames: queue.Queue[Any]) -> None:
    try:
        while (frame := read_frame(stream)) is not None:
            frames.put(frame)
    except (OSError, ValueError):
        pass
    frames.put(None)


def _pump_lines(stream: IO[bytes], lines: collections.deque[str]) -> None:
    try:
        for raw in stream:
            lines.append(raw.decode(errors="replace").rstrip())
    except (OSError, ValueError):
        pass


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Close the worker's stdin (it exits at end of input); kill it if it lingers."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=STOP_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


# -- the worker process ---------------------------------------------------------------------
def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer requests until end of input."""
    from engine import tf_jobs

    state: dict[str, Any] = {}
    while (request := read_frame(stdin)) is not None:
        header, arrays = request

        def progress(done: int, total: int, what: str) -> None:
            write_frame(stdout, {"progress": [done, total, what]})

        try:
            result, out = tf_jobs.run(str(header.get("op")), header.get("args") or {}, arrays,
                                      state, progress)
        except R8Error as exc:
            write_frame(stdout, {"error": type(exc).__name__, "message": str(exc)})
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # writing a cache temp file
                written = exc.filename or (header.get("args") or {}).get("out") or ""
                where = os.path.dirname(str(written)) or "the cache folder"
                write_frame(stdout, {"error": "CacheFullError", "message": (
                    f"the disk holding cache folder {where} is full ({exc.strerror}); free "
                    "space there or pass --cache-dir on another disk")})
                continue
            write_frame(stdout, {"error": "Exception",
                                 "message": f"{type(exc).__name__}: {exc}"})
            continue
        except Exception as exc:  # a bug or an unexpected framework error: report, keep serving
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            write_frame(stdout, {"error": "Exception",
                                 "message": f"{type(exc).__name__}: {first}"})
            continue
        write_frame(stdout, {"ok": result}, out)


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by a library goes to stderr, not into the frame stream
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
