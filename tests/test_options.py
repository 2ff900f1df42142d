"""One options module for `r8` and `r8-tui`: the same flags, parsed the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from cli import build_parser
from cli import options as O
from engine import report
from engine import variants as V
from engine.types import QuantSettings
from tui.session import Session
from tui.tui_main import parser as tui_parser

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("--model", "--data-dir", "--cache-dir", "--no-download", "--device", "--tf32",
          "--threads", "--opset", "--calib", "--calib-method", "--calib-seed", "--per-tensor",
          "--reduce-range", "--no-reduce-range")


def _flags(p) -> set[str]:  # noqa: ANN001 - an argparse parser
    return {s for a in p._actions for s in a.option_strings}


def test_r8_tui_takes_the_same_model_data_device_and_quantization_flags_as_r8() -> None:
    r8 = build_parser()
    sub = next(a for a in r8._actions if a.dest == "command").choices["report"]
    assert set(SHARED) <= _flags(r8) | _flags(sub)
    assert set(SHARED) <= _flags(tui_parser())
    argv = ["--calib", "mlperf", "--per-tensor", "--calib-method", "minmax", "--opset", "15",
            "--threads", "2", "--no-reduce-range"]
    a = O.variant_options(tui_parser().parse_args(argv))
    b = O.variant_options(r8.parse_args(["report", *argv]))
    assert a == b
    assert a.opset == 15 and a.threads == 2
    assert a.quant == QuantSettings(calib="mlperf", method="minmax", per_channel=False,
                                    reduce_range=False)


def test_the_explorer_shows_a_model_quantized_with_non_default_settings(cache_dir: Path) -> None:
    args = tui_parser().parse_args(["--cache-dir", str(cache_dir), "--no-download",
                                    "--variants", "onnx-int8", "--subset", "first:200",
                                    "--calib", "train:100"])
    opts = O.variant_options(args)
    s = Session(cache_dir=args.cache_dir, download=False, variants=("onnx-int8",),
                subset=args.subset, opts=opts)
    got = s.report()
    row = next(r for r in got.rows if r.variant == "onnx-int8")
    assert row.details["quant"]["calib"] == "train:100"
    default = report.variants_report(s.ws, ["onnx-int8"], got_dataset(s))
    ref = next(r for r in default.rows if r.variant == "onnx-int8")
    assert ref.details["quant"]["calib"] == "train:1000"
    assert V.identity(s.ws, "onnx-int8", opts) != V.identity(s.ws, "onnx-int8")
    assert np.isfinite(row.accuracy)


def got_dataset(s: Session):  # noqa: ANN201
    from engine.subsets import select_subset

    return select_subset(s.ws, s.subset)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_python_m_tui_is_the_explorer_and_python_m_cli_is_r8() -> None:
    tui = _run("-m", "tui", "--help")
    assert tui.returncode == 0 and tui.stdout.startswith("usage: r8-tui"), tui.stdout[:80]
    cli = _run("-m", "cli", "--help")
    assert cli.returncode == 0 and cli.stdout.startswith("usage: r8 "), cli.stdout[:80]


def test_r8_tui_refuses_bad_quantization_flags_in_one_line() -> None:
    for argv, what in ((["--calib-method", "entropy"], "not available for torch-int8"),
                       (["--calib", "nope"], "unknown calibration set 'nope'")):
        proc = _run("-m", "tui", "--no-download", *argv)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("r8-tui: error:") and what in lines[0], lines[0]
