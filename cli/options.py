"""The options `r8` and `r8-tui` share: where the model, data and cache are, where the
models run, and every quantization setting. Parsed here, once, into a Workspace and
VariantOptions (with a typed QuantSettings). No rich, no textual: r8-tui imports it at start.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from engine.calibration import CALIB_HELP, DEFAULT_CALIB, DEFAULT_CALIB_SEED
from engine.convert import DEFAULT_OPSET
from engine.quantize import DEFAULT_METHOD, METHODS, settings
from engine.runners import DEVICES
from engine.types import ProgressFn, QuantSettings, VariantOptions
from engine.workspace import Workspace


def add_workspace_options(p: argparse.ArgumentParser) -> None:
    """--model, --data-dir, --cache-dir, --no-download."""
    p.add_argument("--model", help="Keras .h5 model (default: $R8_MODEL, standard places, download)")
    p.add_argument("--data-dir", help="cifar-10-batches-py folder (default: $R8_DATA_DIR, ...)")
    p.add_argument("--cache-dir", help="results cache (default: $R8_CACHE_DIR or ./cache)")
    p.add_argument("--no-download", action="store_true", help="never download missing assets")


def workspace(args: argparse.Namespace, on_progress: ProgressFn | None = None) -> Workspace:
    return Workspace.open(
        model=args.model, data_dir=args.data_dir, cache_dir=args.cache_dir,
        download=not args.no_download, on_progress=on_progress,
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive; use 1 or more")
    return value


def add_device_options(p: argparse.ArgumentParser) -> None:
    """--device, --tf32, --threads, --opset."""
    p.add_argument("--device", choices=list(DEVICES), default="cpu",
                   help="where PyTorch and ONNX Runtime run (default: cpu)")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 convolutions on CUDA (faster, less exact; off by default)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="intra-op threads for ONNX Runtime and PyTorch")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset of the conversion (13-18, default {DEFAULT_OPSET})")


def add_quant_options(p: argparse.ArgumentParser) -> None:
    """The quantization flags (onnx-int8, onnx-uint8, torch-int8)."""
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


def quant_settings(args: argparse.Namespace) -> QuantSettings:
    """QuantSettings from the parsed quantization flags (refuses a bad calibration spec)."""
    return QuantSettings.parse(from_args(args))


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The quantization flags as a settings mapping (QuantSettings.parse reads it)."""
    return {
        "calib": args.calib,
        "calib_seed": args.calib_seed,
        "method": args.calib_method,
        "per_channel": not args.per_tensor,
        "reduce_range": args.reduce_range,
        "float_layers": getattr(args, "float_layers", ""),
        "bias_correction": getattr(args, "bias_correction", False),
    }


def checked(args: argparse.Namespace, ws: Workspace, variants: Iterable[str]) -> QuantSettings:
    """quant_settings, after refusing layer settings (--float-layers, --bias-correction) that
    cannot apply to ``variants`` (no int8 variant among them, an unknown layer name)."""
    from engine.float_layers import check_settings

    quant = from_args(args)
    check_settings(ws, [v.partition("@")[0] for v in variants], quant,
                   getattr(args, "opset", DEFAULT_OPSET))
    return QuantSettings.parse(quant)


def resolved_options(args: argparse.Namespace, ws: Workspace,
                     variants: Iterable[str]) -> VariantOptions:
    """The options of a command that names ``variants``: settings checked against them
    (`checked`), parsed (`variant_options`), every ``VARIANT@recommended`` among them
    registered with its saved settings (`register_recommended`) and every
    ``VARIANT@bias-correction`` / ``VARIANT@float=L1+L2`` with those settings
    (engine.named_settings), so each is usable like any variant from here on."""
    names = list(variants)
    opts = variant_options(args, checked(args, ws, names))
    register_named(ws, names, opts)
    return opts


def register_named(ws: Workspace, variants: Iterable[str], opts: VariantOptions) -> None:
    """Register every ``VARIANT@recommended`` among ``variants`` (`register_recommended`) and
    every ``VARIANT@SETTINGS`` (engine.named_settings: ``torch-int8@float=dense@calib=
    train:500``, the names the TUI's repair dialog gives), for r8 and r8-tui alike."""
    from engine import named_settings

    names = list(variants)
    register_recommended(ws, names, opts)
    for name in names:
        if named_settings.is_named(name):
            named_settings.register(ws, name, opts)


def variant_options(args: argparse.Namespace,
                    quant: QuantSettings | dict[str, Any] | None = None) -> VariantOptions:
    """VariantOptions from the device and quantization flags (those a parser lacks keep their
    defaults), parsed once."""
    if quant is None:
        quant = quant_settings(args) if hasattr(args, "calib") else QuantSettings()
    return VariantOptions(device=getattr(args, "device", "cpu"), tf32=getattr(args, "tf32", False),
                          threads=getattr(args, "threads", None),
                          opset=getattr(args, "opset", DEFAULT_OPSET),
                          quant=QuantSettings.parse(quant))


def check_quant(opts: VariantOptions, variants: Iterable[str]) -> None:
    """Refuse settings a quantized variant cannot take (e.g. entropy for torch-int8) before
    any work starts."""
    from engine import variants as V

    for name in variants:
        v = V.get(name)
        if isinstance(v, V.QuantizedVariant):
            settings(v.base, v.options(opts).quant)


def register_recommended(ws: Workspace, variants: Iterable[str], opts: VariantOptions) -> None:
    """Register each ``VARIANT@recommended`` among ``variants`` with the settings `r8 quantize
    --recommend` saved (a UsageError naming that command when none are)."""
    wanted = [v for v in variants if v.endswith("@recommended")]
    if wanted:
        from engine import recommend

        recommend.register_requested(ws, wanted, opts)
