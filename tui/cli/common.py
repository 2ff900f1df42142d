"""Shared CLI plumbing: workspace from flags, rich progress, JSON and CSV output."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.types import ProgressFn
from engine.variants import VariantOptions
from engine.workspace import Workspace

err_console = Console(stderr=True)
out_console = Console()
_json_out: list[Any] = []
"""The real stdout while a --json command runs (see json_stdout)."""


@contextmanager
def json_stdout(enabled: bool) -> Iterator[None]:
    """Under --json, everything printed while the command runs (ONNX Runtime's calibration
    chatter, print() in a library, C code writing to fd 1) goes to stderr; only print_json
    writes to the real stdout, so stdout holds one JSON object and nothing else."""
    if not enabled:
        yield
        return
    old_stdout = sys.stdout
    try:
        on_fd1 = old_stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        on_fd1 = False  # stdout replaced by a caller (a test's capture): write to it
    if not on_fd1:
        sys.stdout = sys.stderr
        _json_out.append(old_stdout)
        try:
            yield
        finally:
            _json_out.remove(old_stdout)
            sys.stdout = old_stdout
        return
    old_stdout.flush()
    saved = os.dup(1)
    real = os.fdopen(os.dup(saved), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _json_out.append(real)
    try:
        yield
    finally:
        _json_out.remove(real)
        sys.stderr.flush()
        sys.stdout = old_stdout
        os.dup2(saved, 1)
        os.close(saved)
        real.close()


def workspace(args: argparse.Namespace, on_progress: ProgressFn | None = None) -> Workspace:
    return Workspace.open(
        model=args.model, data_dir=args.data_dir, cache_dir=args.cache_dir,
        download=not args.no_download, on_progress=on_progress,
    )


def add_device_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                   help="where PyTorch and ONNX Runtime run (default: cpu)")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 convolutions on CUDA (faster, less exact; off by default)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="intra-op threads for ONNX Runtime and PyTorch")
    p.add_argument("--opset", type=int, default=13, help="ONNX opset of the conversion (13-18)")


def add_output_options(p: argparse.ArgumentParser, csv: tuple[str, str] | None = None) -> None:
    """--json (one JSON object on stdout) and, when ``csv`` = (METAVAR, help), --csv."""
    p.add_argument("--json", action="store_true", help="print one JSON object")
    if csv is not None:
        p.add_argument("--csv", metavar=csv[0], help=csv[1])
        p.add_argument("--force", action="store_true",
                       help="let --csv overwrite existing files (refused otherwise)")


def variant_options(args: argparse.Namespace, quant: dict[str, Any] | None = None) -> VariantOptions:
    return VariantOptions(device=args.device, tf32=args.tf32, threads=args.threads,
                          opset=args.opset, quant=quant or {})


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive; use 1 or more")
    return value


@contextmanager
def progress(enabled: bool = True) -> Iterator[tuple[ProgressFn, threading.Event]]:
    """A rich progress bar on stderr; yields (on_progress, cancel event)."""
    cancel = threading.Event()
    if not enabled or not err_console.is_terminal:
        yield (lambda done, total, what: None), cancel
        return
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err_console, transient=True)
    tasks: dict[str, Any] = {}

    def on_progress(done: int, total: int, what: str) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total or None)
        bar.update(tasks[what], completed=done, total=total or None)

    with bar:
        yield on_progress, cancel


def emit(
    args: argparse.Namespace,
    rep: Any,
    to_json: Callable[[Any], Any],
    print_tables: Callable[[Any], None],
    write_tables: Callable[[Any, Path, bool], list[Path]],
) -> int:
    """The one output path of table commands: --csv DIR, then --json or notes + rich tables."""
    if args.csv:
        for path in write_tables(rep, Path(args.csv), args.force):
            if not args.json:
                out_console.print(f"wrote {path}")
    if args.json:
        print_json(to_json(rep))
        return 0
    for line in rep.notes:
        notice(line)
    print_tables(rep)
    return 0


def jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy values and NaN into plain JSON values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def print_json(obj: Any) -> None:
    out = _json_out[-1] if _json_out else sys.stdout
    out.write(json.dumps(jsonable(obj), indent=1) + "\n")
    out.flush()


def notice(text: str) -> None:
    err_console.print(f"[yellow]note:[/] {text}", highlight=False)


def pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"
