"""`r8 activations`: every layer's output for one input (or a few), with statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from engine import activations as A
from engine import inputs as I
from engine import layers as L
from engine.export import write_csv
from engine.stats import TensorStats
from tui.cli import quant_options
from tui.cli.common import (
    add_device_options,
    add_output_options,
    notice,
    out_console,
    pct,
    print_json,
    progress,
    variant_options,
    workspace,
)

STAT_COLUMNS = ("min", "max", "mean", "std", "mean_abs", "zeros_fraction", "p1", "p5", "p50",
                "p95", "p99", "count", "nonfinite")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activations", help="capture every layer's output and its statistics")
    p.add_argument("--input", required=True, help=I.INPUT_HELP)
    p.add_argument("--variant", default="torch",
                   help=f"one of {', '.join(A.CAPTURE_VARIANTS)} (default: torch)")
    p.add_argument("--layer", help="only this Keras layer (default: all)")
    add_device_options(p)
    quant_options.add(p)
    add_output_options(p, ("FILE", "write one row per layer to FILE"))
    p.set_defaults(run=run)


def stats_fields(s: TensorStats) -> dict[str, Any]:
    d = s.to_dict()
    return {k: d[k] for k in STAT_COLUMNS}


def rows_json(layers: tuple[L.LayerInfo, ...], acts: A.ActivationSet,
              stats: tuple[A.LayerActivationStats, ...], only: str | None) -> list[dict[str, Any]]:
    by_name = {s.name: s for s in stats}
    out = []
    for x in layers:
        if only and x.name != only:
            continue
        s = by_name.get(x.name)
        if s is None:
            out.append({"name": x.name, "kind": x.kind, "block": x.block,
                        "shape": None, "materialised": False,
                        **dict.fromkeys(STAT_COLUMNS), "saturated_fraction": None})
            continue
        out.append({"name": x.name, "kind": x.kind, "block": x.block, "shape": list(s.shape),
                    "materialised": True, **stats_fields(s.stats),
                    "saturated_fraction": s.saturated_fraction,
                    "histogram": s.histogram.to_dict()})
    return out


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    opts = variant_options(args, quant_options.checked(args, ws, [args.variant]))
    A.check_variant(args.variant)
    layers = L.layer_map(ws, opts.opset)
    if args.layer:
        L.find_layer(layers, args.layer)
    spec = I.parse_input(ws, args.input)
    with progress(not args.json) as (on_progress, cancel):
        acts = A.capture_activations(ws, args.variant, spec, opts, on_progress, cancel)
    stats = A.activation_stats(acts)
    rows = rows_json(layers, acts, stats, args.layer)
    if args.csv:
        cols = ["name", "kind", "block", "shape", "materialised", *STAT_COLUMNS,
                "saturated_fraction"]
        path = write_csv(Path(args.csv), cols, [
            [("x".join(map(str, r[c])) if c == "shape" and r[c] else r[c]) for c in cols]
            for r in rows])
        if not args.json:
            out_console.print(f"wrote {path}")
    if args.json:
        print_json({"variant": acts.variant, "input": spec.text, "images": len(spec),
                    "labels": spec.labels.tolist(), "indices": spec.indices.tolist(),
                    "layout": acts.layout, "notes": list(spec.notes), "layers": rows,
                    "probs": acts.probs.tolist()})
        return 0
    for line in spec.notes:
        notice(line)
    quant = any(r["saturated_fraction"] is not None for r in rows)
    t = Table(title=f"activations of {acts.variant} on {spec.text} ({len(spec)} image(s), "
                    f"{acts.layout})")
    for col in ("layer", "shape", "min", "max", "mean", "std", "zeros", "p1", "p99",
                *(["saturated"] if quant else [])):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for r in rows:
        if not r["materialised"]:
            t.add_row(r["name"], f"[dim]({L.NOT_MATERIALISED})[/]")
            continue
        t.add_row(r["name"], "x".join(map(str, r["shape"][1:])),
                  *(f"{r[k]:.4g}" for k in ("min", "max", "mean", "std")),
                  pct(r["zeros_fraction"]), f"{r['p1']:.4g}", f"{r['p99']:.4g}",
                  *([pct(r["saturated_fraction"])] if quant else []))
    out_console.print(t)
    return 0
