"""`r8 eval`: accuracy, per-class accuracy, confusion and agreement across variants."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table

from cli import options
from cli.common import (
    add_device_options,
    add_output_options,
    emit,
    out_console,
    pct,
    positive_int,
    progress,
    workspace,
)
from engine import evaluate, export
from engine import variants as V
from engine.subsets import SUBSET_HELP, select_subset
from engine.types import CLASS_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate variants on the CIFAR-10 test set")
    p.add_argument("--variant", default=",".join(V.FLOAT_VARIANTS),
                   help=f"comma list of {', '.join(V.ALL_VARIANTS)} (default: float "
                        "variants); an int8 variant with settings side by side: "
                        "VARIANT@recommended, VARIANT@bias-correction, VARIANT@float=L1+L2")
    p.add_argument("--subset", default="all", help=SUBSET_HELP)
    p.add_argument("--batch-size", type=positive_int, default=evaluate.DEFAULT_BATCH_SIZE)
    add_device_options(p)
    options.add_quant_options(p)
    add_output_options(p, ("DIR", "write one CSV per table into DIR"))
    p.set_defaults(run=run)


def report_json(rep: evaluate.EvalReport) -> dict[str, Any]:
    return {
        "dataset": {"name": rep.dataset, "size": rep.size},
        "notes": list(rep.notes),
        "variants": {
            name: {
                "accuracy": r.accuracy, "correct": r.correct, "total": r.total,
                "per_class": {
                    c: {"accuracy": r.per_class_accuracy[i] if r.per_class_total[i] else None,
                        "correct": r.per_class_correct[i], "total": r.per_class_total[i]}
                    for i, c in enumerate(CLASS_NAMES)
                },
                "confusion": [list(row) for row in r.confusion],
                "images_per_second": r.images_per_second,
                "details": r.extra,
            }
            for name, r in rep.reports.items()
        },
        "agreement": [
            {"a": g.a, "b": g.b, "argmax_agreement": g.argmax_agreement,
             "max_abs_diff": g.max_abs_diff, "disagree_indices": list(g.disagree_indices)}
            for g in rep.agreements
        ],
    }


def write_tables(rep: evaluate.EvalReport, folder: Path, force: bool = False) -> list[Path]:
    names = list(rep.reports)
    write_csv = partial(export.write_csv, force=force)
    out = [
        write_csv(folder / "accuracy.csv", ["variant", "accuracy", "correct", "total",
                                            "images_per_second"],
                  [[v, r.accuracy, r.correct, r.total, r.images_per_second]
                   for v, r in rep.reports.items()]),
        write_csv(folder / "per_class.csv", ["class", *names],
                  [[c, *(rep.reports[v].per_class_accuracy[i] for v in names)]
                   for i, c in enumerate(CLASS_NAMES)]),
        write_csv(folder / "agreement.csv", ["a", "b", "argmax_agreement", "max_abs_diff",
                                             "disagree_indices"],
                  [[g.a, g.b, g.argmax_agreement, g.max_abs_diff,
                    " ".join(map(str, g.disagree_indices))] for g in rep.agreements]),
    ]
    for v, r in rep.reports.items():
        out.append(write_csv(folder / f"confusion_{v}.csv", ["true \\ predicted", *CLASS_NAMES],
                             [[c, *r.confusion[i]] for i, c in enumerate(CLASS_NAMES)]))
    return out


def print_tables(rep: evaluate.EvalReport) -> None:
    t = Table(title=f"accuracy on {rep.dataset} ({rep.size} images)")
    for col in ("variant", "accuracy", "correct", "images/s", "device"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for v, r in rep.reports.items():
        ips = "-" if r.images_per_second is None else f"{r.images_per_second:,.0f}"
        dev = str(r.extra.get("device", "cpu")) + (" (cache)" if r.extra.get("cached") else "")
        t.add_row(v, pct(r.accuracy), f"{r.correct}/{r.total}", ips, dev)
    out_console.print(t)
    pc = Table(title="per-class accuracy")
    pc.add_column("class")
    for v in rep.reports:
        pc.add_column(v, justify="right")
    for i, c in enumerate(CLASS_NAMES):
        pc.add_row(c, *(pct(r.per_class_accuracy[i]) for r in rep.reports.values()))
    out_console.print(pc)
    for v, r in rep.reports.items():
        cm = Table(title=f"confusion matrix: {v} (rows true, columns predicted)")
        cm.add_column("")
        for c in CLASS_NAMES:
            cm.add_column(c[:5], justify="right")
        for i, c in enumerate(CLASS_NAMES):
            cm.add_row(c, *(f"[bold]{n}[/]" if i == j else str(n)
                            for j, n in enumerate(r.confusion[i])))
        out_console.print(cm)
    if rep.agreements:
        ag = Table(title="agreement between variants")
        for col in ("a", "b", "argmax agree", "max |diff| prob", "disagreeing (official idx)"):
            ag.add_column(col)
        for g in rep.agreements:
            shown = " ".join(map(str, g.disagree_indices[:8]))
            if len(g.disagree_indices) > 8:
                shown += f" ... ({len(g.disagree_indices)})"
            ag.add_row(g.a, g.b, pct(g.argmax_agreement), f"{g.max_abs_diff:.2e}", shown or "-")
        out_console.print(ag)


def run(args: argparse.Namespace) -> int:
    names = V.parse_variants(args.variant)
    ws = workspace(args)
    dataset = select_subset(ws, args.subset)
    opts = options.resolved_options(args, ws, names)
    with progress(not args.json) as (on_progress, cancel):
        rep = evaluate.evaluate(ws, names, dataset, opts, args.batch_size, on_progress, cancel)
    return emit(args, rep, report_json, print_tables, write_tables)
