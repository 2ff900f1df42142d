"""`r8 compare`: per-layer SQNR, cosine, MSE and max |diff| between two variants."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from engine import activations as A
from engine import compare as C
from engine import inputs as I
from engine.export import write_csv
from tui.cli import quant_options
from tui.cli.common import (
    add_device_options,
    add_output_options,
    emit,
    out_console,
    progress,
    variant_options,
    workspace,
)

SUMMARY = ("min", "max", "mean", "std", "zeros_fraction")
DIFF = ("sqnr_db", "cosine", "mse", "max_abs_diff")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two variants layer by layer on the same input")
    p.add_argument("--a", required=True, help=f"reference variant ({', '.join(A.CAPTURE_VARIANTS)})")
    p.add_argument("--b", required=True, help="compared variant")
    p.add_argument("--input", required=True, help=I.INPUT_HELP)
    p.add_argument("--threshold", type=float, default=C.DIVERGENCE_DB, metavar="DB",
                   help=f"first-divergence SQNR threshold in dB (default {C.DIVERGENCE_DB:g})")
    add_device_options(p)
    quant_options.add(p)
    add_output_options(p, ("FILE", "write one row per layer to FILE"))
    p.set_defaults(run=run)


def rows_json(rep: C.ComparisonReport) -> list[dict[str, Any]]:
    return [{"name": r.name, "shape": list(r.shape), **{k: r.a[k] for k in SUMMARY},
             **r.diff.to_dict(), "exact": r.diff.sqnr_db == math.inf,
             "below_threshold": r.below_threshold,
             "b": {k: r.b[k] for k in SUMMARY}} for r in rep.layers]


def report_json(rep: C.ComparisonReport) -> dict[str, Any]:
    return {"a": rep.a, "b": rep.b, "input": rep.input, "images": rep.n, "layout": rep.layout,
            "threshold_db": rep.threshold_db, "first_divergence": rep.first_divergence,
            "skipped": list(rep.skipped), "notes": list(rep.notes), "layers": rows_json(rep)}


def _db(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    return "exact" if math.isinf(x) and x > 0 else f"{x:.1f}"


def write_table(rep: C.ComparisonReport, path: Path) -> list[Path]:
    cols = ["name", "shape", *DIFF, "below_threshold", *(f"a_{k}" for k in SUMMARY),
            *(f"b_{k}" for k in SUMMARY)]
    return [write_csv(path, cols, [
        [r.name, "x".join(map(str, r.shape)), *(r.diff.to_dict()[k] for k in DIFF),
         r.below_threshold, *(r.a[k] for k in SUMMARY), *(r.b[k] for k in SUMMARY)]
        for r in rep.layers])]


def print_table(rep: C.ComparisonReport) -> None:
    t = Table(title=f"{rep.b} against {rep.a} on {rep.input} ({rep.n} image(s), {rep.layout})")
    for col in ("layer", "shape", "SQNR dB", "cosine", "MSE", "max |diff|", f"{rep.a} mean",
                f"{rep.b} mean"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for r in rep.layers:
        style = "red" if r.below_threshold else ""
        t.add_row(r.name, "x".join(map(str, r.shape[1:])), _db(r.diff.sqnr_db),
                  f"{r.diff.cosine:.6f}", f"{r.diff.mse:.3g}", f"{r.diff.max_abs_diff:.3g}",
                  f"{r.a['mean']:.4g}", f"{r.b['mean']:.4g}", style=style)
    out_console.print(t)
    first = rep.first_divergence
    out_console.print(f"first divergence (SQNR < {rep.threshold_db:g} dB): "
                      + (f"[bold red]{first}[/]" if first else "none"))


def run(args: argparse.Namespace) -> int:
    for v in (args.a, args.b):
        A.check_variant(v)
    ws = workspace(args)
    opts = variant_options(args, quant_options.checked(args, ws, [args.a, args.b]))
    spec = I.parse_input(ws, args.input)
    with progress(not args.json) as (on_progress, cancel):
        rep = C.compare_activations(ws, args.a, args.b, spec, opts, args.threshold,
                                    on_progress, cancel)
    return emit(args, rep, report_json, print_table, write_table)
