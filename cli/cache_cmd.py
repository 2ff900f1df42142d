"""`r8 cache ls|clear`."""

from __future__ import annotations

import argparse

from rich.table import Table

from cli.common import notice, out_console, print_json
from engine.cache import Cache
from engine.workspace import Workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="list or clear cached results")
    p.add_argument("action", choices=["ls", "clear"], help="ls: list entries; clear: remove all")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cache: Cache = Workspace.open(cache_dir=args.cache_dir, download=False).cache
    if args.action == "clear":
        n = cache.clear()
        if args.json:
            print_json({"root": cache.root, "removed_entries": n})
        else:
            out_console.print(f"removed {n} cache entries from {cache.root}")
        return 0
    done = cache.tidied  # what tidying it (before its first write, or now) removed
    tidy = cache.tidy()
    stale = done.stale_temps + tidy.stale_temps
    orphans = done.orphans + tidy.orphans
    entries = cache.entries()
    if args.json:
        print_json({
            "root": cache.root, "writable": cache.writable,
            "entries": [{"stage": e.stage, "key": e.key, "path": str(e.path),
                         "size_bytes": e.size_bytes, "meta": e.meta, "problem": e.problem}
                        for e in entries],
            "live_temp_files": [str(p) for p in tidy.live_temps],
            "stale_temp_files_removed": [str(p) for p in stale],
            "orphaned_sidecars_removed": [str(p) for p in orphans],
            "removed_bytes": done.removed_bytes + tidy.removed_bytes,
        })
        return 0
    t = Table(title=f"cache {cache.root} ({len(entries)} entries, "
                    f"{sum(e.size_bytes for e in entries) / 1e6:.1f} MB)"
                    + ("" if cache.writable else ", read-only"))
    for col in ("stage", "key", "size", "what"):
        t.add_column(col)
    for e in entries:
        what = ", ".join(f"{k}={v}" for k, v in e.meta.items()
                         if k in ("variant", "dataset", "opset", "n", "input", "backend"))
        t.add_row(e.stage, e.key, f"{e.size_bytes / 1e3:.0f} kB",
                  f"[red]{e.problem}[/] (recomputed on use)" if e.problem else what)
    out_console.print(t)
    if stale or orphans:
        notice(f"removed {len(stale)} stale temp files of dead r8 processes and "
               f"{len(orphans)} orphaned sidecars "
               f"({(done.removed_bytes + tidy.removed_bytes) / 1e3:.0f} kB)")
    if tidy.live_temps:
        notice(f"{len(tidy.live_temps)} temp files of running r8 processes "
               f"({sum(_size(p) for p in tidy.live_temps) / 1e3:.0f} kB)")
    return 0


def _size(p) -> int:  # noqa: ANN001
    try:
        return p.stat().st_size
    except OSError:
        return 0
