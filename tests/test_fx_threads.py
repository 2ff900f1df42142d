"""torch-int8 built from several threads at once (the app's jobs do this): FX tracing
patches module globals, so engine.quantize traces one model at a time (FX_TRACE_LOCK).
Without the lock all three threads failed ('CURRENT_PATCHER is None in finally block',
'module is not installed as a submodule')."""

from __future__ import annotations

import threading

import pytest

from engine import variants as V
from engine.weights import weight_arrays
from engine.workspace import Workspace


@pytest.mark.slow
def test_three_threads_build_torch_int8_at_once(ws: Workspace) -> None:
    errors: list[str] = []
    kernels: list[int] = []

    def build() -> None:
        try:
            got = weight_arrays(ws, "torch-int8", V.VariantOptions())
            kernels.append(sum(1 for _, p, _, d in got if p == "kernel" and d))
        except Exception as exc:  # recorded: the test fails on any
            errors.append(repr(exc))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(kernels) == 3 and len(set(kernels)) == 1 and kernels[0] >= 9
