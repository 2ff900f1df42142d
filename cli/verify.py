"""`r8 verify`: ONNX checker, shape inference, listings, output equivalence."""

from __future__ import annotations

import argparse

from rich.table import Table

from cli.common import add_output_options, out_console, positive_int, print_json, progress, workspace
from engine import convert, verify


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check the conversions: structure and numerical equivalence")
    p.add_argument("--opset", type=int, default=convert.DEFAULT_OPSET, help="ONNX opset")
    p.add_argument("--real", type=positive_int, default=verify.VERIFY_REAL_N,
                   help="number of real test images compared")
    p.add_argument("--random", type=positive_int, default=verify.VERIFY_RANDOM_N,
                   help="number of seeded random 0-255 inputs compared")
    p.add_argument("--seed", type=int, default=verify.VERIFY_SEED, help="random input seed")
    p.add_argument("--layers", action="store_true", help="also print the three model listings")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    convert.check_opset(args.opset)
    ws = workspace(args)
    with progress(not args.json) as (on_progress, _):
        rep = verify.verify(ws, args.opset, args.real, args.random, args.seed,
                            on_progress=on_progress)
    if args.json:
        print_json({
            "passed": rep.passed, "onnx": rep.onnx_path, "opset": rep.opset,
            "checker_ok": rep.checker_ok, "shape_inference_ok": rep.shape_inference_ok,
            "problems": list(rep.problems),
            "pairs": [p.to_dict() for p in rep.pairs],
            "keras_layers": rep.keras_layers, "onnx_nodes": rep.onnx_nodes,
            "torch_modules": rep.torch_modules,
        })
        return 0 if rep.passed else 1
    if args.layers:
        for title, rows in (("Keras layers", rep.keras_layers), ("ONNX nodes", rep.onnx_nodes),
                            ("PyTorch modules", rep.torch_modules)):
            t = Table(title=f"{title} ({len(rows)}, {sum(r.params for r in rows):,} parameters)")
            for col in ("name", "type", "output shape", "params"):
                t.add_column(col, justify="right" if col == "params" else "left")
            for r in rows:
                t.add_row(r.name, r.kind, str(r.output_shape), f"{r.params:,}")
            out_console.print(t)
    out_console.print(f"onnx.checker (full): {'ok' if rep.checker_ok else 'FAILED'}   "
                      f"strict shape inference: {'ok' if rep.shape_inference_ok else 'FAILED'}   "
                      f"Keras {len(rep.keras_layers)} layers / "
                      f"{sum(r.params for r in rep.keras_layers):,} params")
    t = Table(title="output equivalence")
    for col in ("a", "b", "inputs", "n", "max |diff|", "mean |diff|", "argmax agree", "ok"):
        t.add_column(col)
    for p in rep.pairs:
        t.add_row(p.a, p.b, p.inputs, str(p.n), f"{p.max_abs_diff:.2e}", f"{p.mean_abs_diff:.2e}",
                  f"{100 * p.argmax_agreement:.2f} %", "[green]pass[/]" if p.passed else "[red]FAIL[/]")
    out_console.print(t)
    for line in rep.problems:
        out_console.print(f"[red]problem:[/] {line}", highlight=False)
    out_console.print("[green]verified[/]" if rep.passed else "[red]verification failed[/]")
    return 0 if rep.passed else 1
