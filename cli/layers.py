"""`r8 layers`: the map from every Keras layer to its ONNX nodes, PyTorch modules and the
tensors that carry it in the quantized variants."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from rich.table import Table

from cli import options
from cli.common import (
    add_device_options,
    add_output_options,
    out_console,
    print_json,
    variant_options,
    workspace,
)
from engine import layers as L
from engine import variants as V


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="map Keras layers to ONNX nodes and PyTorch modules")
    p.add_argument("--float-only", action="store_true",
                   help="leave out the quantized variants (no quantization on first use)")
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p)
    p.set_defaults(run=run)


def layers_json(layers: tuple[L.LayerInfo, ...]) -> dict[str, Any]:
    return {"layout": "NHWC", "layers": [
        {**asdict(x), "materialised": x.materialised} for x in layers]}


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    opts = variant_options(args)
    if args.float_only:
        layers = L.layer_map(ws, opts.opset)
    else:
        layers = L.quantized_layer_map(ws, opts)
    if args.json:
        print_json(layers_json(layers))
        return 0
    t = Table(title=f"ResNet8 layer map ({len(layers)} Keras layers, "
                    f"{sum(x.params for x in layers):,} parameters)")
    for col in ("#", "block", "layer", "kind", "shape (NHWC)", "params", "ONNX tensor",
                "PyTorch module", *([] if args.float_only else V.QUANT_VARIANTS), "notes"):
        t.add_column(col, overflow="fold")
    for x in layers:
        quant = [] if args.float_only else [
            "\n".join(x.quantized.get(v, ())) or "-" for v in V.QUANT_VARIANTS]
        t.add_row(str(x.index), x.block, x.name, x.kind, "x".join(map(str, x.output_shape)),
                  f"{x.params:,}", x.onnx_output or f"({L.NOT_MATERIALISED})",
                  x.torch_output or "-", *quant, x.notes)
    out_console.print(t)
    return 0
