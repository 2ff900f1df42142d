"""Quantization options shared by `r8 eval`, `r8 quantize` and `r8 report`.

Filled in by the quantization work (engine.quantize); until then no options.
"""

from __future__ import annotations

import argparse
from typing import Any


def add(p: argparse.ArgumentParser) -> None:
    """Add the quantization flags to a subcommand."""


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The quantization settings dict (VariantOptions.quant) from parsed flags."""
    return {}
