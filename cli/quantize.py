"""`r8 quantize`: write the int8 models to the cache, or run the calibration sweep."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli import options, recommend
from cli.common import (
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
from engine import format as fmt
from engine import quantize as Q
from engine import sweep as S
from engine.subsets import SUBSET_HELP, select_subset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="post-training static int8 quantization (ORT, PyTorch)")
    p.add_argument("--backend", choices=["onnx", "torch", "all"], default="all",
                   help="onnx: onnx-int8 + onnx-uint8; torch: torch-int8; all (default)")
    p.add_argument("--sweep", action="store_true",
                   help="evaluate calibration size x method x per-channel x reduce_range "
                        f"(sizes {', '.join(map(str, S.SWEEP_SIZES))}; each point cached)")
    p.add_argument("--subset", default="all", help=f"sweep evaluation images: {SUBSET_HELP}")
    add_device_options(p)
    options.add_quant_options(p)
    recommend.add_arguments(p)
    add_output_options(p)
    p.set_defaults(run=run)


def results_json(results: tuple[Q.QuantizeResult, ...]) -> dict[str, Any]:
    return {"variants": {r.variant: {
        "settings": r.settings, "calibration": r.calibration,
        "calibration_size": r.calibration_size, "path": r.path, "size_bytes": r.size_bytes,
        "seconds": r.seconds, "cached": r.cached, "structure": r.structure,
        "notes": list(r.notes)} for r in results}}


def sweep_json(rep: S.SweepReport) -> dict[str, Any]:
    return {
        "dataset": {"name": rep.dataset, "size": rep.size}, "baseline": rep.baseline,
        "baseline_accuracy": rep.baseline_accuracy, "notes": list(rep.notes),
        "rows": [{"variant": r.variant, "calib_size": r.point.calib_size,
                  "method": r.point.method, "per_channel": r.point.per_channel,
                  "reduce_range": r.point.reduce_range, "accuracy": r.accuracy,
                  "delta_points": r.delta_points,
                  "agreement_with_float": r.agreement_with_float, "cached": r.cached}
                 for r in rep.rows],
    }


def print_results(results: tuple[Q.QuantizeResult, ...]) -> None:
    t = Table(title="quantized models (in the cache)")
    for col in ("variant", "calib", "method", "reduce_range", "size", "structure", "time"):
        t.add_column(col, justify="right" if col in ("size", "time") else "left")
    for r in results:
        s, st = r.settings, r.structure
        shape = (f"{st['quantize_linear']}Q {st['dequantize_linear']}DQ "
                 f"{st['int8_weights']} int8 w" if "quantize_linear" in st else
                 f"{len(st['quantized_modules'])} int8 modules")
        t.add_row(escape(s.get("label", r.variant)), f"{s['calib']} ({r.calibration_size})",
                  f"{s['method']}/{'ch' if s['per_channel'] else 'tensor'}",
                  "on" if s["reduce_range"] else "off",
                  fmt.size(r.size_bytes), shape,
                  f"{r.seconds:.1f} s" + (" cached" if r.cached else ""))
    out_console.print(t)
    for r in results:
        state = "on" if r.settings["reduce_range"] else "off"
        out_console.print(f"{escape(r.settings.get('label', r.variant))}: reduce_range {state} - "
                          f"{r.settings['reduce_range_reason']}", highlight=False)
        if r.path is not None:
            out_console.print(f"{r.variant}: {r.path}", highlight=False)


def print_sweep(rep: S.SweepReport) -> None:
    t = Table(title=f"calibration sweep on {rep.dataset} ({rep.size} images); "
                    f"{rep.baseline} {pct(rep.baseline_accuracy)}")
    for col in ("variant", "calib", "method", "weights", "reduce_range", "accuracy", "delta",
                "agree"):
        t.add_column(col, justify="left" if col in ("variant", "method", "weights") else "right")
    for r in rep.rows:
        p = r.point
        t.add_row(r.variant, str(p.calib_size), p.method,
                  "per-channel" if p.per_channel else "per-tensor",
                  "on" if p.reduce_range else "off", pct(r.accuracy), f"{r.delta_points:+.2f}",
                  pct(r.agreement_with_float))
    out_console.print(t)


def run(args: argparse.Namespace) -> int:
    if args.recommend:
        return recommend.run(args)
    if args.variant:
        from engine.errors import UsageError

        raise UsageError("--variant goes with --recommend; use --backend onnx|torch|all to "
                         "quantize")
    names = Q.backend_variants(args.backend)
    ws = workspace(args)
    opts = variant_options(args, options.checked(args, ws, names))
    for v in names:
        Q.settings(v, opts.quant)  # refuse bad settings before any work
    with progress(not args.json) as (on_progress, cancel):
        if args.sweep:
            dataset = select_subset(ws, args.subset)
            rep = S.sweep(ws, names, dataset, opts, on_progress=on_progress, cancel=cancel)
        else:
            results = Q.quantize(ws, names, opts, on_progress, cancel)
    if args.sweep:
        if args.json:
            print_json(sweep_json(rep))
        else:
            for line in rep.notes:
                notice(line)
            print_sweep(rep)
        return 0
    if args.json:
        print_json(results_json(results))
        return 0
    for line in dict.fromkeys(n for r in results for n in r.notes):
        notice(line)
    print_results(results)
    return 0
