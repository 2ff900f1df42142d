"""`r8 activations`: every layer's output for one input (or a few), with statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from cli import options
from cli.common import (
    add_device_options,
    add_output_options,
    emit,
    notice,
    out_console,
    pct,
    print_json,
    progress,
    workspace,
)
from engine import activations as A
from engine import inputs as I
from engine import layers as L
from engine import qparams as Q
from engine import variants as V
from engine.export import write_csv
from engine.stats import TensorStats

STAT_COLUMNS = ("min", "max", "mean", "std", "mean_abs", "zeros_fraction", "p1", "p5", "p50",
                "p95", "p99", "count", "nonfinite")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("activations", help="capture every layer's output and its statistics")
    p.add_argument("--input", required=True, help=I.INPUT_HELP)
    p.add_argument("--variant", default="torch",
                   help=f"one of {', '.join(A.CAPTURE_VARIANTS)} (default: torch)")
    p.add_argument("--layer", help="only this Keras layer (default: all)")
    p.add_argument("--quant", action="store_true",
                   help="int8 variants: scale, zero point, representable vs observed float "
                        "range, levels used, clipped values and scale reuse of every "
                        "activation")
    add_device_options(p)
    options.add_quant_options(p)
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


QUANT_COLUMNS = ("name", "scale", "zero_point", "qmin", "qmax", "range_min", "range_max",
                 "float_min", "float_max", "levels_used", "levels", "clipped", "clipped_share",
                 "count", "reuses_input_scale", "input")


def quant_rows(rep: Q.QuantParamsReport) -> list[dict[str, Any]]:
    return [{k: getattr(r, k) for k in QUANT_COLUMNS} for r in rep.layers]


def quant_json(rep: Q.QuantParamsReport) -> dict[str, Any]:
    return {"variant": rep.variant, "input": rep.input, "images": rep.n,
            "reference": rep.reference, "notes": list(rep.notes), "quant": quant_rows(rep)}


def write_quant(rep: Q.QuantParamsReport, path: Path) -> list[Path]:
    return [write_csv(path, list(QUANT_COLUMNS),
                      [[r[c] for c in QUANT_COLUMNS] for r in quant_rows(rep)])]


def print_quant(rep: Q.QuantParamsReport, only: str | None) -> None:
    t = Table(title=f"activation quantization of {rep.variant} on {rep.input} ({rep.n} "
                    f"image(s); float range from {rep.reference})",
              caption="* reuses its input's scale and zero point; clipped: float values "
                      "beyond the range (counts)")
    for col in ("layer", "scale", "range", "float range", "levels", "clipped"):
        t.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
    for r in rep.layers:
        if only and r.name != only:
            continue
        t.add_row(r.name, f"{r.scale:.3g}{'*' if r.reuses_input_scale else ''}",
                  f"{r.range_min:.3g}..{r.range_max:.3g}",
                  f"{r.float_min:.3g}..{r.float_max:.3g}", f"{r.levels_used}/{r.levels}",
                  str(r.clipped))
    out_console.print(t)


def run(args: argparse.Namespace) -> int:
    V.parse_variants(args.variant)
    ws = workspace(args)
    opts = options.resolved_options(args, ws, [args.variant])
    A.check_variant(args.variant)
    layers = L.layer_map(ws, opts.opset)
    if args.layer:
        L.find_layer(layers, args.layer)
    if args.quant:
        Q.check_quant_variant(args.variant)
    spec = I.parse_input(ws, args.input)
    if args.quant:
        with progress(not args.json) as (on_progress, cancel):
            rep = Q.activation_qparams(ws, args.variant, spec, opts, on_progress, cancel)
        return emit(args, rep, quant_json, lambda r: print_quant(r, args.layer),
                    write_quant)
    with progress(not args.json) as (on_progress, cancel):
        acts = A.capture_activations(ws, args.variant, spec, opts, on_progress, cancel)
    stats = A.activation_stats(acts)
    rows = rows_json(layers, acts, stats, args.layer)
    if args.csv:
        cols = ["name", "kind", "block", "shape", "materialised", *STAT_COLUMNS,
                "saturated_fraction"]
        path = write_csv(Path(args.csv), cols, [
            [("x".join(map(str, r[c])) if c == "shape" and r[c] else r[c]) for c in cols]
            for r in rows], force=args.force)
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
