"""`r8 quantize --recommend`: the flags and output of the settings search (engine.recommend)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli import options
from cli.common import notice, out_console, pct, print_json, progress, variant_options
from engine import quantize as Q
from engine import recommend as RC


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings search (--recommend)")
    g.add_argument("--recommend", action="store_true",
                   help="search the smallest change (bias correction, then the fewest float "
                        "layers, then calibration) that brings --variant within "
                        "--target-delta of float, deciding on training images only")
    g.add_argument("--variant", default=None, help="onnx-int8, onnx-uint8 or torch-int8")
    g.add_argument("--target-delta", type=float, default=RC.DEFAULT_TARGET_DELTA,
                   metavar="POINTS", help="points below float allowed (default "
                                          f"{RC.DEFAULT_TARGET_DELTA})")
    g.add_argument("--max-float-layers", type=int, default=RC.DEFAULT_MAX_FLOAT_LAYERS,
                   metavar="N", help=f"most layers left float (default "
                                     f"{RC.DEFAULT_MAX_FLOAT_LAYERS})")


def rec_json(rec: RC.Recommendation) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(rec), "name": rec.name}


def print_rec(rec: RC.Recommendation) -> None:
    for line in rec.notes:
        notice(line)
    t = Table(title=f"{rec.variant}: settings tried on {rec.validation} ({rec.validation_size} "
                    f"images); float {pct(rec.float_val_accuracy)} there")
    for col in ("step", "settings", "validation", "delta"):
        t.add_column(col, justify="right" if col in ("validation", "delta") else "left")
    for c in rec.steps:
        q = Q.settings(rec.variant, c.quant)
        extra = f" ({q.calib}, {q.method})" if c.step == "calibration" else ""
        t.add_row(c.step, escape(c.label + extra), pct(c.val_accuracy), f"{c.val_delta_points:+.2f}")
    out_console.print(t)
    if rec.ranking:
        shown = ", ".join(f"{n} {d:+.2f}" for n, d in rec.ranking[:5])
        out_console.print(f"sensitivity ranking on validation (float-one, points): {shown} ...",
                          highlight=False)
    tf = rec.test
    verdict = "within" if rec.met_target else "NOT within"
    out_console.print(f"chosen: {escape(rec.chosen.label)} ({verdict} {rec.target_delta:.2f} points "
                      f"of float on validation); saved as {rec.name}", highlight=False)
    t = Table(title=f"on the test set {tf['dataset']} ({tf['size']} images)")
    for col in ("variant", "accuracy", "delta vs float", "size", "images/s"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for role, name in (("float", RC.FLOAT_REFERENCE), ("plain", rec.variant),
                       ("chosen", rec.chosen.label)):
        f = tf[role]
        size = f.get("size_bytes")
        ips = f.get("images_per_second")
        t.add_row(escape(name), pct(f["accuracy"]),
                  "-" if role == "float" else
                  f"{100 * (f['accuracy'] - tf['float']['accuracy']):+.2f}",
                  "-" if size is None else f"{size / 1024:.0f} KiB",
                  "-" if ips is None else f"{ips:,.0f}")
    out_console.print(t)
    out_console.print(f"{rec.seconds:.1f} s", highlight=False)


def run(args: argparse.Namespace) -> int:
    from cli.common import workspace

    if not args.variant:
        from engine.errors import UsageError

        raise UsageError("--recommend needs --variant onnx-int8, onnx-uint8 or torch-int8")
    ws = workspace(args)
    opts = variant_options(args, options.checked(args, ws, [args.variant]))
    RC.check_request(ws, args.variant, args.target_delta, args.max_float_layers, opts)
    with progress(not args.json) as (on_progress, cancel):
        rec = RC.recommend(ws, args.variant, None, args.target_delta, args.max_float_layers,
                           opts, on_progress=on_progress, cancel=cancel)
    if args.json:
        print_json(rec_json(rec))
    else:
        print_rec(rec)
    return 0
