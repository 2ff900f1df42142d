"""`r8 compare`: per-layer SQNR, cosine, MSE and max |diff| between two variants."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from cli import options
from cli.common import (
    add_device_options,
    add_output_options,
    emit,
    out_console,
    progress,
    workspace,
)
from engine import activations as A
from engine import compare as C
from engine import inputs as I
from engine import variants as V
from engine.export import write_csv

SUMMARY = ("min", "max", "mean", "std", "zeros_fraction")
DIFF = ("sqnr_db", "cosine", "mse", "max_abs_diff")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two variants layer by layer on the same input")
    p.add_argument("--a", required=True, help=f"reference variant ({', '.join(A.CAPTURE_VARIANTS)})")
    p.add_argument("--b", required=True, help="compared variant")
    p.add_argument("--input", required=True, help=I.INPUT_HELP)
    p.add_argument("--threshold", type=float, default=C.DIVERGENCE_DB, metavar="DB",
                   help=f"first-divergence SQNR threshold in dB (default {C.DIVERGENCE_DB:g})")
    p.add_argument("--layer", metavar="NAME",
                   help=f"show only this layer's row (a Keras layer name, or {C.LOGITS})")
    p.add_argument("--error", choices=C.ERROR_MODES, default="accumulated",
                   help="accumulated: b against a at each layer (default); isolated: the error "
                        "each layer of the int8 side adds by itself, split into weights and "
                        "requant parts; both")
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p, ("FILE", "write one row per layer to FILE"))
    p.set_defaults(run=run)


def isolated_json(r: C.LayerComparison) -> dict[str, Any] | None:
    iso = r.isolated
    if iso is None:
        return None
    return {**iso.diff.to_dict(), "weight_sqnr_db": iso.weight_sqnr_db,
            "requant_sqnr_db": iso.requant_sqnr_db, "exact": iso.diff.sqnr_db == math.inf,
            "weights_exact": iso.weight_sqnr_db == math.inf,  # JSON writes inf as null
            "requant_exact": iso.requant_sqnr_db == math.inf, "kind": iso.kind,
            "layers": list(iso.layers), "requantized": iso.requantized}


def rows_json(rep: C.ComparisonReport) -> list[dict[str, Any]]:
    rows = []
    for r in rep.layers:
        row = {"name": r.name, "shape": list(r.shape), **{k: r.a[k] for k in SUMMARY},
               **r.diff.to_dict(), "exact": r.diff.sqnr_db == math.inf,
               "below_threshold": r.below_threshold, "b": {k: r.b[k] for k in SUMMARY}}
        if rep.error != "accumulated":
            row["isolated"] = isolated_json(r)
        rows.append(row)
    return rows


def report_json(rep: C.ComparisonReport) -> dict[str, Any]:
    return {"a": rep.a, "b": rep.b, "input": rep.input, "images": rep.n, "layout": rep.layout,
            "error": rep.error, "isolated_variant": rep.isolated_variant,
            "ort_optimization": rep.ort_optimization,
            "ties": {k: t.to_dict() for k, t in rep.ties.items()},
            "threshold_db": rep.threshold_db, "first_divergence": rep.first_divergence,
            "skipped": list(rep.skipped), "notes": list(rep.notes), "layers": rows_json(rep)}


def _db(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    return "exact" if math.isinf(x) and x > 0 else f"{x:.1f}"


ISOLATED = (*DIFF, "weight_sqnr_db", "requant_sqnr_db")


def _isolated_cells(r: C.LayerComparison) -> list[Any]:
    iso = isolated_json(r)
    return [None if iso is None else iso[k] for k in ISOLATED]


def write_table(rep: C.ComparisonReport, path: Path, force: bool = False) -> list[Path]:
    iso = rep.error != "accumulated"
    cols = ["name", "shape", *DIFF, "below_threshold", *(f"a_{k}" for k in SUMMARY),
            *(f"b_{k}" for k in SUMMARY), *((f"isolated_{k}" for k in ISOLATED) if iso else ())]
    return [write_csv(path, cols, [
        [r.name, "x".join(map(str, r.shape)), *(r.diff.to_dict()[k] for k in DIFF),
         r.below_threshold, *(r.a[k] for k in SUMMARY), *(r.b[k] for k in SUMMARY),
         *(_isolated_cells(r) if iso else ())]
        for r in rep.layers], force=force)]


def print_table(rep: C.ComparisonReport) -> None:
    ort = f", ONNX Runtime {rep.ort_optimization}" if rep.ort_optimization else ""
    t = Table(title=f"{rep.b} against {rep.a} on {rep.input} ({rep.n} image(s), "
                    f"{rep.layout}{ort})")
    acc = rep.error != "isolated"
    iso = rep.error != "accumulated"
    cols = ["layer"] if acc and iso else ["layer", "shape"]  # both: 80 columns
    if acc and iso:  # both: the key figures side by side (--json/--csv have them all)
        cols += ["acc. dB", "acc. max |diff|"]
    elif acc:
        cols += ["SQNR dB", "cosine", "MSE", "max |diff|", f"{rep.a} mean", f"{rep.b} mean"]
    if iso:
        cols += ["isol. dB", "weights dB", "requant dB", "isol. max |diff|"]
    for col in cols:
        t.add_column(col, justify="left" if col == "layer" else "right",
                     no_wrap=col == "layer")
    for r in rep.layers:
        if rep.error == "isolated" and r.isolated is None:
            continue
        cells = [r.name] if acc and iso else [r.name, "x".join(map(str, r.shape[1:]))]
        if acc and iso:
            cells += [_db(r.diff.sqnr_db), f"{r.diff.max_abs_diff:.3g}"]
        elif acc:
            cells += [_db(r.diff.sqnr_db), f"{r.diff.cosine:.6f}", f"{r.diff.mse:.3g}",
                      f"{r.diff.max_abs_diff:.3g}", f"{r.a['mean']:.4g}", f"{r.b['mean']:.4g}"]
        if iso:
            i = r.isolated
            cells += (["", "", "", ""] if i is None else
                      [_db(i.diff.sqnr_db), _db(i.weight_sqnr_db), _db(i.requant_sqnr_db),
                       f"{i.diff.max_abs_diff:.3g}"])
        t.add_row(*cells, style="red" if acc and r.below_threshold else "")
    out_console.print(t)
    for v, ties in rep.ties.items():
        out_console.print(f"{v}: {ties.tied} of {ties.n} image(s) with exactly tied top-2 "
                          f"probabilities; accuracy {100 * ties.accuracy_argmax:.2f} % by "
                          f"argmax, {100 * ties.accuracy_tie_broken:.2f} % with ties broken "
                          "by the logits")
    first = rep.first_divergence
    out_console.print(f"first divergence (SQNR < {rep.threshold_db:g} dB): "
                      + (f"[bold red]{first}[/]" if first else "none"))


def run(args: argparse.Namespace) -> int:
    for v in (args.a, args.b):
        V.parse_variants(v)  # VARIANT@recommended is registered once the workspace is open
    ws = workspace(args)
    opts = options.resolved_options(args, ws, [args.a, args.b])
    for v in (args.a, args.b):
        A.check_variant(v)
    C.check_error_mode(args.a, args.b, args.error)
    if args.layer is not None:
        C.check_row_name(ws, args.layer, opts.opset)
    spec = I.parse_input(ws, args.input)
    with progress(not args.json) as (on_progress, cancel):
        rep = C.compare_activations(ws, args.a, args.b, spec, opts, args.threshold,
                                    on_progress, cancel, args.error)
    if args.layer is not None:
        rep = dataclasses.replace(rep, layers=tuple(r for r in rep.layers if r.name == args.layer))
    return emit(args, rep, report_json, print_table, write_table)
