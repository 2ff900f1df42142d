"""`r8 report`: every variant on one table against the float Keras baseline."""

from __future__ import annotations

import argparse
from functools import partial
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
from engine import export
from engine import format as fmt
from engine import report as R
from engine import variants as V
from engine.subsets import SUBSET_HELP, select_subset
from engine.types import CLASS_NAMES

SHOWN_FLIPS = 8
"""Flipped indices printed per row (all of them go to JSON and CSV)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="all variants vs the float baseline: accuracy, deltas, "
                                      "agreement, size, flipped images")
    p.add_argument("--variant", default=",".join(R.DEFAULT_REPORT_VARIANTS),
                   help=f"comma list of {', '.join(V.ALL_VARIANTS)} (default: all); an int8 "
                        "variant with settings side by side: VARIANT@recommended, VARIANT@bias-correction, "
                        "VARIANT@float=L1+L2")
    p.add_argument("--subset", default="all", help=SUBSET_HELP)
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p, ("DIR", "write one CSV per table into DIR"))
    p.set_defaults(run=run)


def report_json(rep: R.VariantsReport) -> dict[str, Any]:
    return {
        "dataset": {"name": rep.dataset, "size": rep.size},
        "baseline": rep.baseline,
        "notes": list(rep.notes),
        "variants": {
            r.variant: {
                "accuracy": r.accuracy, "correct": r.correct, "total": r.total,
                "delta_points": r.delta_points,
                "per_class_delta": dict(zip(CLASS_NAMES, r.per_class_delta, strict=True)),
                "agreement_with_float": r.agreement_with_float,
                "size_bytes": r.size_bytes,
                "float_right_variant_wrong": list(r.float_right_variant_wrong),
                "float_wrong_variant_right": list(r.float_wrong_variant_right),
                "images_per_second": rep.reports[r.variant].images_per_second,
                "details": r.details,
            }
            for r in rep.rows
        },
    }


def write_tables(rep: R.VariantsReport, folder: Path, force: bool = False) -> list[Path]:
    names = [r.variant for r in rep.rows]
    write_csv = partial(export.write_csv, force=force)
    return [
        write_csv(folder / "variants.csv",
                  ["variant", "accuracy", "correct", "total", "delta_points",
                   "agreement_with_float", "size_bytes", "float_right_variant_wrong",
                   "float_wrong_variant_right"],
                  [[r.variant, r.accuracy, r.correct, r.total, r.delta_points,
                    r.agreement_with_float, r.size_bytes,
                    " ".join(map(str, r.float_right_variant_wrong)),
                    " ".join(map(str, r.float_wrong_variant_right))] for r in rep.rows]),
        write_csv(folder / "per_class_delta.csv", ["class", *names],
                  [[c, *(r.per_class_delta[i] for r in rep.rows)]
                   for i, c in enumerate(CLASS_NAMES)]),
    ]


def _flips(ids: tuple[int, ...]) -> str:
    shown = " ".join(map(str, ids[:SHOWN_FLIPS]))
    return (shown + f" ... ({len(ids)})") if len(ids) > SHOWN_FLIPS else (shown or "-")


def print_tables(rep: R.VariantsReport) -> None:
    t = Table(title=f"variants on {rep.dataset} ({rep.size} images), baseline {rep.baseline}")
    for col in ("variant", "accuracy", "delta", "agree", "size", "float ok, variant wrong",
                "float wrong, variant ok"):
        t.add_column(col, justify="right" if col in ("accuracy", "delta", "agree", "size")
                     else "left")
    for r in rep.rows:
        size = fmt.size(r.size_bytes)
        t.add_row(r.variant, pct(r.accuracy), f"{r.delta_points:+.2f}",
                  pct(r.agreement_with_float), size, _flips(r.float_right_variant_wrong),
                  _flips(r.float_wrong_variant_right))
    out_console.print(t)
    pc = Table(title="per-class delta vs baseline (points)")
    pc.add_column("class")
    for r in rep.rows[1:]:
        pc.add_column(r.variant, justify="right")
    for i, c in enumerate(CLASS_NAMES):
        pc.add_row(c, *(f"{r.per_class_delta[i]:+.1f}" for r in rep.rows[1:]))
    out_console.print(pc)
    for r in rep.rows:
        q = r.details.get("quant")
        if q:
            out_console.print(
                f"{escape(q.get('label', r.variant))}"
                f"{' = ' + r.variant if r.variant != q['variant'] else ''}: "
                f"calib {r.details.get('calibration')}, {q['method']}, "
                f"{'per-channel' if q['per_channel'] else 'per-tensor'}, reduce_range "
                f"{'on' if q['reduce_range'] else 'off'} ({q['reduce_range_reason']})",
                highlight=False)


def run(args: argparse.Namespace) -> int:
    names = V.parse_variants(args.variant)
    ws = workspace(args)
    dataset = select_subset(ws, args.subset)
    opts = options.resolved_options(args, ws, names)
    with progress(not args.json) as (on_progress, cancel):
        rep = R.variants_report(ws, names, dataset, opts, on_progress, cancel)
    return emit(args, rep, report_json, print_tables, write_tables)
