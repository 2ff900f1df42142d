"""`r8 convert`: Keras .h5 -> ONNX -> PyTorch, cached."""

from __future__ import annotations

import argparse
import time

from cli.common import add_output_options, out_console, print_json, workspace
from engine import convert


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert the Keras model to ONNX and PyTorch (cached)")
    p.add_argument("--opset", type=int, default=convert.DEFAULT_OPSET,
                   help=f"ONNX opset ({convert.OPSET_RANGE[0]}-{convert.OPSET_RANGE[1]})")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    convert.check_opset(args.opset)
    ws = workspace(args)
    t0 = time.perf_counter()
    cached = ws.onnx_cached(args.opset) is not None
    with out_console.status("converting Keras -> ONNX (tf2onnx)", spinner="dots"):
        onnx_path = ws.onnx_path(args.opset)
    t1 = time.perf_counter()
    with out_console.status("converting ONNX -> PyTorch (onnx2torch)", spinner="dots"):
        module = convert.onnx_to_torch(onnx_path)
    t2 = time.perf_counter()
    result = {
        "model": str(ws.model_path), "model_sha256": ws.model_sha, "opset": args.opset,
        "onnx": str(onnx_path), "onnx_cached": cached, "onnx_seconds": round(t1 - t0, 3),
        "torch_modules": sum(1 for _ in module.modules()) - 1,
        "torch_weights": sum(v.numel() for v in module.state_dict().values()),
        "torch_seconds": round(t2 - t1, 3),
    }
    if args.json:
        print_json(result)
    else:
        src = "cache hit" if cached else f"converted in {result['onnx_seconds']} s"
        out_console.print(f"ONNX    {onnx_path} ({src})")
        out_console.print(f"PyTorch {result['torch_modules']} modules, {result['torch_weights']:,} "
                          "weights incl. graph constants (BatchNorm folded into the convs; "
                          f"onnx2torch, {result['torch_seconds']} s)")
    return 0
