"""The `r8` command line: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from engine.errors import R8Error

# Each module has add_parser(subparsers) and run(args) -> int.
COMMANDS = ("info", "convert", "verify", "eval", "cache_cmd", "quantize", "report",
            "layers", "weights", "activations", "compare", "sensitivity")
"""Subcommand modules, in help order. Later issues append theirs here."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r8", description="MLPerf Tiny ResNet8 across Keras, ONNX Runtime and PyTorch.")
    p.add_argument("--model", help="Keras .h5 model (default: $R8_MODEL, standard places, download)")
    p.add_argument("--data-dir", help="cifar-10-batches-py folder (default: $R8_DATA_DIR, ...)")
    p.add_argument("--cache-dir", help="results cache (default: $R8_CACHE_DIR or ./cache)")
    p.add_argument("--no-download", action="store_true", help="never download missing assets")
    p.add_argument("-v", "--verbose", action="store_true", help="show engine log messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f"tui.cli.{name}")
        mod.add_parser(sub)
    return p


class _OneLine(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from tui.cli.common import err_console

        err_console.print(f"[yellow]warning:[/] {record.getMessage()}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("engine").addHandler(_OneLine())
    logging.getLogger("engine").setLevel(logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:
        warnings.filterwarnings("ignore")
    try:
        return int(args.run(args) or 0)
    except R8Error as exc:
        sys.stderr.write(f"r8: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("r8: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
