"""Quantization options shared by `r8 eval`, `r8 quantize` and `r8 report`."""

from __future__ import annotations

import argparse
from typing import Any

from engine.calibration import CALIB_HELP, DEFAULT_CALIB, DEFAULT_CALIB_SEED
from engine.float_layers import check_settings
from engine.quantize import DEFAULT_METHOD, METHODS
from engine.workspace import Workspace


def add(p: argparse.ArgumentParser) -> None:
    """Add the quantization flags to a subcommand."""
    g = p.add_argument_group("quantization (onnx-int8, onnx-uint8, torch-int8)")
    g.add_argument("--calib", default=DEFAULT_CALIB, metavar="SPEC",
                   help=f"calibration images: {CALIB_HELP} (random is synthetic, labelled so)")
    g.add_argument("--calib-method", choices=METHODS, default=None,
                   help=f"minmax (default: {DEFAULT_METHOD['onnx']}), entropy, percentile "
                        f"(ONNX Runtime); minmax, histogram (default: {DEFAULT_METHOD['torch']}) "
                        "(PyTorch)")
    g.add_argument("--calib-seed", type=int, default=DEFAULT_CALIB_SEED,
                   help="seed of the stratified or random calibration draw (default 0)")
    g.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor (default: per channel)")
    g.add_argument("--reduce-range", dest="reduce_range", action="store_true", default=None,
                   help="7-bit range (default: auto, on only for uint8 on x86 without VNNI)")
    g.add_argument("--no-reduce-range", dest="reduce_range", action="store_false",
                   help="full 8-bit range even where the CPU lacks VNNI")
    g.add_argument("--float-layers", default="", metavar="L1,L2",
                   help="Keras layers kept in float (a conv with its BN and ReLU, an add with "
                        "its ReLU, average_pooling2d, dense); `r8 sensitivity` ranks them")
    g.add_argument("--bias-correction", action="store_true",
                   help="empirical bias correction (Nagel et al. 2019) on the calibration "
                        "images")


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The quantization settings dict (VariantOptions.quant) from parsed flags."""
    return {
        "calib": args.calib,
        "calib_seed": args.calib_seed,
        "method": args.calib_method,
        "per_channel": not args.per_tensor,
        "reduce_range": args.reduce_range,
        "float_layers": args.float_layers,
        "bias_correction": args.bias_correction,
    }


def checked(args: argparse.Namespace, ws: Workspace, variants: list[str] | tuple[str, ...],
            ) -> dict[str, Any]:
    """from_args, after refusing layer settings that cannot apply to ``variants``."""
    quant = from_args(args)
    check_settings(ws, variants, quant, args.opset)
    return quant
