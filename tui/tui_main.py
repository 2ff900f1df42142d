"""`r8-tui`: start the Textual explorer."""

from __future__ import annotations

import argparse
import sys

from engine import variants as V
from engine.errors import R8Error
from engine.subsets import SUBSET_HELP

PROG = "r8-tui"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Explore the MLPerf Tiny ResNet8 model "
                                "across Keras, ONNX Runtime and PyTorch, in the terminal.")
    p.add_argument("--model", help="the Keras .h5 model (default: search, see README)")
    p.add_argument("--data-dir", help="the cifar-10-batches-py folder (default: search)")
    p.add_argument("--cache-dir", help="where results are cached (default: ./cache or "
                   "$R8_CACHE_DIR)")
    p.add_argument("--no-download", action="store_true",
                   help="never download a missing model or data set")
    p.add_argument("--variants", default=",".join(V.FLOAT_VARIANTS + V.QUANT_VARIANTS),
                   help=f"comma list of {', '.join(V.ALL_VARIANTS)}")
    p.add_argument("--subset", default="all",
                   help=f"data of the Accuracy screen: {SUBSET_HELP}")
    p.add_argument("--input", default="test:0",
                   help="first input: test:INDEX | class:NAME:N | random:SEED")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu",
                   help="where PyTorch and ONNX Runtime run (default: cpu)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from tui.app import R8App
        from tui.session import Session

        session = Session(model=args.model, data_dir=args.data_dir, cache_dir=args.cache_dir,
                          download=not args.no_download,
                          variants=V.parse_variants(args.variants), subset=args.subset,
                          opts=V.VariantOptions(device=args.device))
        R8App(session, input_text=args.input).run()
    except R8Error as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
