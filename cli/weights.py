"""`r8 weights`: kernels, biases and BatchNorm parameters per layer and variant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from cli import options
from cli.activations import STAT_COLUMNS, stats_fields
from cli.common import (
    add_device_options,
    add_output_options,
    out_console,
    pct,
    print_json,
    variant_options,
    workspace,
)
from engine import weights as W
from engine.export import write_csv

QUANT_COLUMNS = ("dtype", "per_channel", "scale_min", "scale_max", "zero_point_min",
                 "zero_point_max", "sqnr_db", "max_abs_err", "clipped", "clip_fraction",
                 "at_limit")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="weight and bias statistics per layer and variant")
    p.add_argument("--variant", default="keras",
                   help=f"one of {', '.join(W.WEIGHT_VARIANTS)} (default: keras)")
    p.add_argument("--layer", help="only this Keras layer (default: all)")
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p, ("FILE", "write one row per parameter to FILE"))
    p.set_defaults(run=run)


def row_json(r: W.WeightReport) -> dict[str, Any]:
    return {"layer": r.layer, "param": r.param, "shape": list(r.shape), **stats_fields(r.stats),
            "quant": r.quant, "histogram": r.histogram.to_dict()}


def run(args: argparse.Namespace) -> int:
    W.check_weight_variant(args.variant)
    ws = workspace(args)
    opts = variant_options(args)
    reports = W.weight_reports(ws, args.variant, args.layer, opts)
    if args.csv:
        cols = ["layer", "param", "shape", *STAT_COLUMNS, *QUANT_COLUMNS]
        path = write_csv(Path(args.csv), cols, [
            [r.layer, r.param, "x".join(map(str, r.shape)),
             *(stats_fields(r.stats)[k] for k in STAT_COLUMNS),
             *((r.quant or {}).get(k) for k in QUANT_COLUMNS)] for r in reports],
            force=args.force)
        if not args.json:
            out_console.print(f"wrote {path}")
    if args.json:
        print_json({"variant": args.variant, "layer": args.layer,
                    "params": [row_json(r) for r in reports]})
        return 0
    quant = any(r.quant for r in reports)
    t = Table(title=f"weights of {args.variant}" + (f", layer {args.layer}" if args.layer else ""))
    for col in ("layer", "param", "shape", "min", "max", "mean", "std", "mean |x|", "zeros",
                *(["scale", "SQNR dB", "max err", "clipped"] if quant else [])):
        t.add_column(col, justify="left" if col in ("layer", "param") else "right")
    for r in reports:
        s = r.stats
        extra = []
        if quant:
            q = r.quant or {}
            extra = [f"{q['scale_min']:.3g}-{q['scale_max']:.3g}" if q else "-",
                     "-" if q.get("sqnr_db") is None else f"{q['sqnr_db']:.1f}",
                     "-" if q.get("max_abs_err") is None else f"{q['max_abs_err']:.3g}",
                     "-" if q.get("clipped") is None else str(q["clipped"])]
        t.add_row(r.layer, r.param, "x".join(map(str, r.shape)), f"{s.min:.4g}", f"{s.max:.4g}",
                  f"{s.mean:.4g}", f"{s.std:.4g}", f"{s.mean_abs:.4g}", pct(s.zeros_fraction),
                  *extra)
    out_console.print(t)
    return 0
