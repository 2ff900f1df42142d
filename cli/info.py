"""`r8 info`: what was found where, library versions, cache dir, CUDA."""

from __future__ import annotations

import argparse

from rich.table import Table

from cli.common import add_output_options, out_console, print_json, workspace
from engine import assets
from engine.cache import library_versions
from engine.errors import R8Error

LIBRARIES = ("numpy", "tensorflow", "tf_keras", "tf2onnx", "onnx", "onnxruntime", "torch",
             "torchvision", "onnx2torch", "textual", "rich", "plotext")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show where the model, data and cache are, and versions")
    add_output_options(p)
    p.add_argument("--no-cuda-check", action="store_true", help="skip importing torch for CUDA")
    p.set_defaults(run=run)


def _found(fn) -> str:  # noqa: ANN001
    try:
        return str(fn())
    except R8Error as exc:
        return f"NOT FOUND: {exc}"


def run(args: argparse.Namespace) -> int:
    ws = workspace(args)
    info: dict[str, object] = {
        "model": _found(lambda: ws.model_path),
        "data_dir": _found(lambda: ws.data_dir),
        "cache_dir": str(ws.cache_dir.resolve()),
        "download_dir": str(assets.user_cache_dir()),
        "versions": library_versions(LIBRARIES),
    }
    if not args.no_cuda_check:
        try:
            import torch

            info["cuda"] = {"available": bool(torch.cuda.is_available()),
                            "device": torch.cuda.get_device_name(0)
                            if torch.cuda.is_available() else None}
        except ImportError:
            info["cuda"] = {"available": False, "device": None}
        try:
            import onnxruntime

            info["onnxruntime_providers"] = onnxruntime.get_available_providers()
        except ImportError:
            info["onnxruntime_providers"] = []
    if args.json:
        print_json(info)
        return 0
    t = Table(title="r8 info", show_header=False)
    for k, v in info.items():
        if k == "versions":
            v = ", ".join(f"{n} {ver}" for n, ver in v.items())  # type: ignore[union-attr]
        t.add_row(k, str(v))
    out_console.print(t)
    return 0
