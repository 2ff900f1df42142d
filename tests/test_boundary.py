"""The engine never imports the UI, and `import engine` loads no heavy framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "torch", "onnxruntime", "onnx2torch", "tf2onnx", "onnx")
UI = ("textual", "rich", "tui", "plotext")


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout.split()
    return {m.split(".")[0] for m in out}


def test_import_engine_is_light():
    mods = loaded_after(
        "import engine, engine.assets, engine.cache, engine.data, engine.evaluate, "
        "engine.verify, engine.variants, engine.workspace, engine.subsets, engine.export, "
        "engine.tf_worker, engine.tf_jobs, engine.runners"
    )
    assert not mods & set(HEAVY), mods & set(HEAVY)
    assert not mods & set(UI), mods & set(UI)


def test_engine_source_has_no_ui_imports():
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text()
        for ui in UI:
            assert f"import {ui}" not in text and f"from {ui}" not in text, (path, ui)


def test_warm_eval_from_cache_imports_no_framework(ws, test_set):
    # fill the cache, then read it back in a fresh process: no framework gets imported
    from engine.evaluate import predictions

    predictions(ws, "onnx", test_set)
    mods = loaded_after(
        "from engine.workspace import Workspace\nfrom engine.evaluate import predictions\n"
        f"ws = Workspace.open(cache_dir={str(ws.cache_dir)!r}, download=False)\n"
        "p = predictions(ws, 'onnx', ws.test_set)\nassert p.cached"
    )
    assert not mods & set(HEAVY), mods & set(HEAVY)
