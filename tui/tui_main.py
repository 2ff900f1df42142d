"""`r8-tui`: start the Textual explorer."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.app import R8App

PROG = "r8-tui"


def parser() -> argparse.ArgumentParser:
    from cli import options
    from engine import variants as V
    from engine.subsets import SUBSET_HELP

    p = argparse.ArgumentParser(prog=PROG, description="Explore the MLPerf Tiny ResNet8 model "
                                "across Keras, ONNX Runtime and PyTorch, in the terminal.")
    options.add_workspace_options(p)
    p.add_argument("--variants", default=",".join(V.FLOAT_VARIANTS + V.QUANT_VARIANTS),
                   help=f"comma list of {', '.join(V.ALL_VARIANTS)}, or an int8 one with "
                        "@recommended (after `r8 quantize --recommend`)")
    p.add_argument("--subset", default="all",
                   help=f"data of the Accuracy screen: {SUBSET_HELP}")
    p.add_argument("--input", default="test:0",
                   help="first input: test:INDEX | class:NAME:N | random:SEED")
    options.add_device_options(p)
    options.add_quant_options(p)
    return p


def make_app(args: argparse.Namespace) -> R8App:
    """The app for these arguments; bad ones raise R8Error (one line at the edge). The
    workspace is opened here, before Textual starts: it is a few milliseconds on the main
    thread, and a tenth of a second or more in a thread next to Textual's start-up."""
    from cli import options
    from engine import variants as V

    variants = V.parse_variants(args.variants)
    opts = options.variant_options(args)  # the same flags and parsing as r8
    ws = options.workspace(args)
    if any("@" in v for v in variants):
        # as r8 does: VARIANT@recommended is registered with its saved settings before
        # the app starts, or one line names `r8 quantize --recommend`; VARIANT@SETTINGS
        # (engine.named_settings, the names of repaired variants) with its settings
        options.register_named(ws, variants, opts)
    options.check_quant(opts, variants)
    from tui.app import R8App
    from tui.session import Session

    session = Session(model=args.model, data_dir=args.data_dir, cache_dir=args.cache_dir,
                      download=not args.no_download, variants=variants,
                      subset=args.subset, opts=opts, ws=ws)
    return R8App(session, input_text=args.input)


def start(argv: list[str] | None = None) -> R8App:
    """The app for the command line ``argv``, made as ``r8-tui`` makes it: with the cyclic
    garbage collector off from here to the app's first frame (``R8App.on_mount`` turns it
    back on). Nearly everything start-up allocates (modules, styles, widgets) lives as long as
    the app, and collecting it anyway took ~50 ms of a ~500 ms first paint here (208
    collections); the modules are imported here, after the collector is off."""
    gc.disable()
    return make_app(parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    from engine.errors import R8Error

    try:
        start(argv).run()
    except R8Error as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        gc.enable()  # a start that failed never reached the first frame
    return 0


if __name__ == "__main__":
    sys.exit(main())
