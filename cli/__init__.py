"""The `r8` command line: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
import warnings

from cli import options
from engine.errors import R8Error

# Each module has add_parser(subparsers) and run(args) -> int.
COMMANDS = ("info", "convert", "verify", "eval", "cache_cmd", "quantize", "report",
            "layers", "weights", "activations", "compare", "sensitivity")
"""Subcommand modules, in help order. Later issues append theirs here."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r8", description="MLPerf Tiny ResNet8 across Keras, ONNX Runtime and PyTorch.")
    options.add_workspace_options(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show engine log messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f"cli.{name}")
        mod.add_parser(sub)
    return p


class _OneLine(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        from cli.common import err_console

        err_console.print(f"[yellow]warning:[/] {record.getMessage()}", highlight=False,
                          soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("engine").addHandler(_OneLine())
    logging.getLogger("engine").setLevel(logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:
        warnings.filterwarnings("ignore")
    from cli.common import json_stdout

    try:
        with json_stdout(bool(getattr(args, "json", False))):
            return int(args.run(args) or 0)
    except R8Error as exc:
        sys.stderr.write(f"r8: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("r8: interrupted\n")
        return 130
    except OSError as exc:
        if args.verbose:
            raise
        sys.stderr.write(f"r8: error: {os_error_line(exc)}\n")
        return 2
    except Exception as exc:  # a bug: still one line, the traceback with -v
        if args.verbose:
            raise
        sys.stderr.write(f"r8: error: internal error {type(exc).__name__}: {str(exc)[:200]}; "
                         "rerun with -v for the traceback and report it\n")
        return 3


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error the engine did not turn into an R8Error."""
    where = exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space on that disk or pass --cache-dir on another disk"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "fix its permissions or pass --cache-dir with a folder of your own"
    elif exc.errno == errno.ENOENT:
        fix = "it was removed meanwhile (another r8 cleared the cache?); run the command again"
    else:
        fix = "check the file and the disk, then run the command again"
    return f"{where}: {exc.strerror or exc}; {fix}"


if __name__ == "__main__":
    sys.exit(main())
