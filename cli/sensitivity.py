"""`r8 sensitivity`: per-layer accuracy of an int8 variant with one layer float (or int8)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli import options
from cli.common import (
    add_device_options,
    add_output_options,
    emit,
    out_console,
    pct,
    progress,
    workspace,
)
from engine import sensitivity as S
from engine.export import write_csv
from engine.subsets import SUBSET_HELP, select_subset

CSV_COLUMNS = ("layer", "accuracy", "correct", "delta_points", "gained", "lost", "p_value",
               "covers")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensitivity", help="per-layer accuracy of an int8 variant with one "
                                           "layer float (or only one int8)")
    p.add_argument("--variant", required=True, help="onnx-int8, onnx-uint8 or torch-int8")
    p.add_argument("--mode", choices=S.MODES, default="float-one",
                   help="float-one: only that layer float, vs all-int8 (default); int8-one: "
                        "only that layer int8, vs float")
    p.add_argument("--subset", default="all", help=f"evaluation images: {SUBSET_HELP}")
    p.add_argument("--layers", default="", metavar="L1,L2",
                   help="measure only these layers (default: every quantizable one)")
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p, ("FILE", "write the per-layer table to FILE (.csv)"))
    p.set_defaults(run=run)


def report_json(rep: S.SensitivityReport) -> dict[str, Any]:
    return {
        "variant": rep.variant, "mode": rep.mode,
        "dataset": {"name": rep.dataset, "size": rep.size},
        "baseline": rep.baseline, "baseline_accuracy": rep.baseline_accuracy,
        "int8_accuracy": rep.int8_accuracy, "float_accuracy": rep.float_accuracy,
        "noise_floor_points": rep.noise_floor_points,
        "noise_floor": {"method": rep.noise_method,
                        "accuracy_by_calibration_seed": rep.noise_accuracies},
        "layers": [{"layer": r.layer, "accuracy": r.accuracy, "correct": r.correct,
                    "delta_points": r.delta_points, "gained": r.gained, "lost": r.lost,
                    "p_value": r.p_value, "covers": list(r.layers)} for r in rep.layers],
        "seconds": rep.seconds, "notes": list(rep.notes),
    }


def _rows(rep: S.SensitivityReport) -> list[list[Any]]:
    return [[r.layer, r.accuracy, r.correct, round(r.delta_points, 4), r.gained, r.lost,
             r.p_value, " ".join(r.layers)] for r in rep.layers]


def write_table(rep: S.SensitivityReport, path: Path, force: bool = False) -> list[Path]:
    return [write_csv(path, CSV_COLUMNS, _rows(rep), force)]


def print_table(rep: S.SensitivityReport) -> None:
    what = "only this layer float" if rep.mode == "float-one" else "only this layer int8"
    t = Table(title=f"sensitivity of {escape(rep.variant)} ({rep.mode}: {what}) on "
                    f"{escape(rep.dataset)} ({rep.size} images); baseline "
                    f"{escape(rep.baseline)} "
                    f"{pct(rep.baseline_accuracy)}")
    for col in ("layer", "accuracy", "delta", "gained", "lost", "p (sign test)"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for r in rep.layers:
        mark = "[bold]" if abs(r.delta_points) > rep.noise_floor_points else ""
        t.add_row(r.layer, pct(r.accuracy),
                  f"{mark}{r.delta_points:+.2f}", str(r.gained), str(r.lost),
                  f"{r.p_value:.3f}")
    out_console.print(t)
    out_console.print(
        f"float {pct(rep.float_accuracy)}, {escape(rep.variant)} {pct(rep.int8_accuracy)}; "
        f"noise floor "
        f"{rep.noise_floor_points:.2f} points ({rep.noise_method}); deltas beyond it in bold; "
        f"{rep.seconds:.1f} s", highlight=False)


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    dataset = select_subset(ws, args.subset)
    opts = options.resolved_options(args, ws, [args.variant])
    layers = tuple(x.strip() for x in args.layers.split(",") if x.strip()) or None
    S.check_request(ws, args.variant, args.mode, dataset, layers, opts)
    with progress(not args.json) as (on_progress, cancel):
        rep = S.sensitivity(ws, args.variant, dataset, args.mode, opts, layers,
                            on_progress=on_progress, cancel=cancel)
    return emit(args, rep, report_json, print_table, write_table)
