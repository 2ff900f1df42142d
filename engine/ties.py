"""Output ties: images whose two highest probabilities are exactly equal.

An int8 softmax output has 1/256 steps, so two classes often share the top probability;
argmax then picks the lower class index, whatever the logits say. This module counts those
images and gives the accuracy with ties broken by the logits instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OutputTies:
    """Exact top-2 ties of one variant's probabilities over an input set."""

    n: int
    """Images."""
    tied: int
    """Images whose two highest probabilities are exactly equal."""
    labelled: int
    """Images with a label (random inputs have none)."""
    correct_argmax: int
    """Labelled images that argmax of the probabilities (lowest index on a tie) gets right."""
    correct_tie_broken: int
    """Labelled images right when a tie is broken by the logits (highest logit wins among
    the tied classes)."""

    @property
    def accuracy_argmax(self) -> float:
        return self.correct_argmax / self.labelled if self.labelled else float("nan")

    @property
    def accuracy_tie_broken(self) -> float:
        return self.correct_tie_broken / self.labelled if self.labelled else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_argmax": self.accuracy_argmax,
                "accuracy_tie_broken": self.accuracy_tie_broken}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputTies:
        return cls(int(d["n"]), int(d["tied"]), int(d["labelled"]), int(d["correct_argmax"]),
                   int(d["correct_tie_broken"]))

    def __add__(self, o: OutputTies) -> OutputTies:
        return OutputTies(self.n + o.n, self.tied + o.tied, self.labelled + o.labelled,
                          self.correct_argmax + o.correct_argmax,
                          self.correct_tie_broken + o.correct_tie_broken)


def tie_broken_argmax(probs: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per row: among the classes sharing the highest probability, the one with the highest
    logit (the plain argmax where there is no tie)."""
    p = np.asarray(probs)
    top = p == p.max(axis=1, keepdims=True)
    masked = np.where(top, np.asarray(logits, np.float64), -np.inf)
    return masked.argmax(axis=1)


def output_ties(probs: np.ndarray, logits: np.ndarray, labels: np.ndarray) -> OutputTies:
    """Count exact top-2 ties in ``probs`` (N, C) and score both argmax rules on ``labels``
    (N,; negative = no label)."""
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape != np.asarray(logits).shape or len(p) != len(labels):
        raise ValueError(f"probs {p.shape}, logits {np.shape(logits)} and labels "
                         f"{np.shape(labels)} do not match")
    if len(p) == 0:
        return OutputTies(0, 0, 0, 0, 0)
    top2 = np.sort(p, axis=1)[:, -2:]
    tied = int(np.count_nonzero(top2[:, 0] == top2[:, 1]))
    lab = np.asarray(labels)
    has = lab >= 0
    plain = p.argmax(axis=1)
    broken = tie_broken_argmax(p, logits)
    return OutputTies(len(p), tied, int(has.sum()), int(np.count_nonzero((plain == lab) & has)),
                      int(np.count_nonzero((broken == lab) & has)))
