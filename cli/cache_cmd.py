"""`r8 cache ls|clear`."""

from __future__ import annotations

import argparse

from rich.table import Table

from cli.common import out_console, print_json
from engine.cache import Cache
from engine.workspace import Workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="list or clear cached results")
    p.add_argument("action", choices=["ls", "clear"], help="ls: list entries; clear: remove all")
    p.add_argument("--json", action="store_true", help="print JSON (ls)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cache: Cache = Workspace.open(cache_dir=args.cache_dir, download=False).cache
    if args.action == "clear":
        n = cache.clear()
        out_console.print(f"removed {n} cache entries from {cache.root}")
        return 0
    entries = cache.entries()
    if args.json:
        print_json([{"stage": e.stage, "key": e.key, "path": str(e.path),
                     "size_bytes": e.size_bytes, "meta": e.meta} for e in entries])
        return 0
    t = Table(title=f"cache {cache.root} ({len(entries)} entries, "
                    f"{sum(e.size_bytes for e in entries) / 1e6:.1f} MB)")
    for col in ("stage", "key", "size", "what"):
        t.add_column(col)
    for e in entries:
        what = ", ".join(f"{k}={v}" for k, v in e.meta.items()
                         if k in ("variant", "dataset", "opset", "n", "input", "backend"))
        t.add_row(e.stage, e.key, f"{e.size_bytes / 1e3:.0f} kB", what)
    out_console.print(t)
    return 0
