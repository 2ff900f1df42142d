"""engine.format: one way to write numbers, percentages and sizes (tables, CSV, TUI)."""

from __future__ import annotations

import csv

import numpy as np

from engine import evaluate
from engine import format as fmt
from engine.data import make_dataset
from engine.export import write_csv


def test_hand_worked_values() -> None:
    assert fmt.pct(0.8719) == "87.19 %"
    assert fmt.pct(1.0) == "100.00 %" and fmt.pct(0.0) == "0.00 %"
    assert fmt.pct(None) == fmt.pct(float("nan")) == fmt.pct(float("inf")) == "-"
    assert fmt.points(0.25) == "+0.25" and fmt.points(-1.0) == "-1.00"
    assert fmt.size(None) == "-"
    assert fmt.size(316_416) == "309 KiB"
    assert fmt.size(1_117_184) == "1.1 MiB"
    assert fmt.size(1024 * 1024 - 1) == "1024 KiB"
    assert fmt.number(3.14159265) == "3.142" and fmt.number(7) == "7"
    assert fmt.number(float("nan")) == "-" and fmt.number(float("-inf")) == "-inf"
    assert fmt.csv_cell(None) == fmt.csv_cell(float("nan")) == ""
    assert fmt.csv_cell(0.5) == 0.5
    assert fmt.db(35.0) == "35.00" and fmt.db(32.391) == "32.39"  # one column lines up
    assert fmt.db(float("inf")) == "inf" and fmt.db(None) == "-"


def test_an_empty_class_is_nan_shown_as_dash_and_empty_in_csv(tmp_path) -> None:
    # 4 images of classes 0 and 1 only: classes 2-9 have no images
    labels = np.array([0, 0, 1, 1])
    probs = np.eye(10, dtype=np.float32)[[0, 1, 1, 1]]
    ds = make_dataset("tiny", np.zeros((4, 32, 32, 3), np.uint8), labels, np.arange(4))
    r = evaluate.accuracy_report("v", ds, probs)
    acc = r.per_class_accuracy
    assert acc[:2] == (0.5, 1.0)
    assert all(np.isnan(a) for a in acc[2:])
    assert [fmt.pct(a) for a in acc[:3]] == ["50.00 %", "100.00 %", "-"]
    path = write_csv(tmp_path / "pc.csv", ["class", "acc"], enumerate(acc))
    rows = list(csv.reader(path.open()))
    assert rows[1] == ["0", "0.5"] and rows[3] == ["2", ""]
