"""The app's one link to the engine: a workspace, the settings, and results already loaded.

Every method blocks and may take seconds on a cold cache, so the app calls them from worker
threads. Nothing here imports Textual; results are engine dataclasses, kept in memory so that
moving between layers, inputs and screens does not go back to the disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from engine import variants as V
from engine.errors import CancelledError, R8Error, UsageError
from engine.types import ProgressFn
from engine.workspace import Workspace

DEFAULT_VARIANTS = V.FLOAT_VARIANTS + V.QUANT_VARIANTS
"""The variants the app shows unless --variants says otherwise."""
DEFAULT_INPUT = "test:0"
"""The first input shown."""
DEFAULT_SUBSET = "all"
"""The data set of the Accuracy and Input screens."""

Job = Callable[[ProgressFn, threading.Event], Any]
"""What the app runs in a worker: (on_progress, cancel) -> result."""


@dataclass(frozen=True)
class InputPredictions:
    """Every variant's class probabilities for one input."""

    input: str
    """The input spec, e.g. ``test:17``."""
    images: np.ndarray
    """uint8-range (N, 32, 32, 3) pixels of the input."""
    labels: np.ndarray
    """True classes (-1 for random inputs)."""
    indices: np.ndarray
    """Official test indices (-1 for random inputs)."""
    probs: dict[str, np.ndarray]
    """Variant -> (N, 10) probabilities, for the variants that could run."""
    errors: dict[str, str] = field(default_factory=dict)
    """Variant -> one-line reason it has no predictions."""


class Session:
    """Workspace, settings and an in-memory memo of the engine's (cached) results."""

    def __init__(
        self,
        model: str | None = None,
        data_dir: str | None = None,
        cache_dir: str | None = None,
        download: bool = True,
        variants: Sequence[str] = DEFAULT_VARIANTS,
        subset: str = DEFAULT_SUBSET,
        opts: V.VariantOptions | None = None,
    ) -> None:
        self.model = model
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.download = download
        self.variants: tuple[str, ...] = tuple(V.parse_variants(",".join(variants)))
        self.subset = subset
        self.opts = opts or V.VariantOptions()
        self._lock = threading.Lock()
        self._memo: dict[tuple, Any] = {}

    # -- plumbing ---------------------------------------------------------------------------

    @cached_property
    def ws(self) -> Workspace:
        return Workspace.open(model=self.model, data_dir=self.data_dir, cache_dir=self.cache_dir,
                              download=self.download)

    def _remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
        return value

    def known(self, *key: Any) -> Any | None:
        """A result already in memory, or None (never computes)."""
        with self._lock:
            return self._memo.get(key)

    @property
    def baseline(self) -> str:
        return V.BASELINE

    def compared_variant(self, variant: str) -> str:
        """The variant the Layers screen compares with the float baseline."""
        if variant != self.baseline:
            return variant
        others = [v for v in self.variants if v in V.QUANT_VARIANTS] or [
            v for v in self.variants if v != self.baseline]
        return others[0] if others else self.baseline

    # -- model structure and weights --------------------------------------------------------

    def layer_map(self, on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> tuple[Any, ...]:
        """engine.layers.layer_map (cached on disk, then in memory); converts on a cold cache."""
        from engine import layers

        return self._remember(("layers",), lambda: layers.layer_map(
            self.ws, self.opts.opset, on_progress=on_progress, cancel=cancel))

    def weights(self, variant: str) -> dict[str, tuple[Any, ...]]:
        """Layer name -> that layer's WeightReports for ``variant``."""
        from engine import weights

        def compute() -> dict[str, tuple[Any, ...]]:
            by_layer: dict[str, list[Any]] = {}
            for rep in weights.weight_reports(self.ws, variant, None, self.opts):
                by_layer.setdefault(rep.layer, []).append(rep)
            return {k: tuple(v) for k, v in by_layer.items()}

        return self._remember(("weights", variant), compute)

    # -- inputs and activations -------------------------------------------------------------

    def input_spec(self, text: str) -> Any:
        from engine import inputs

        return self._remember(("input", text), lambda: inputs.parse_input(self.ws, text))

    def activations(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> dict[str, Any]:
        """Layer name -> LayerActivationStats of ``variant`` on input ``text``."""
        from engine import activations

        def compute() -> dict[str, Any]:
            acts = activations.capture_activations(self.ws, variant, self.input_spec(text),
                                                   self.opts, on_progress, cancel)
            return {s.name: s for s in activations.activation_stats(acts)}

        return self._remember(("activations", variant, text), compute)

    def compare(self, a: str, b: str, text: str, on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> Any:
        """engine.compare.compare_activations of ``a`` and ``b`` on input ``text``."""
        from engine import compare

        return self._remember(("compare", a, b, text), lambda: compare.compare_activations(
            self.ws, a, b, self.input_spec(text), self.opts, on_progress=on_progress,
            cancel=cancel))

    def step_input(self, text: str, step: int) -> str:
        """The next (step=1) or previous (step=-1) input after ``text``."""
        kind, _, arg = text.partition(":")
        if kind == "test" and arg.isdigit():
            official = self.ws.test_set.indices
            pos = int(np.searchsorted(official, int(arg)))
            if step < 0:
                pos -= 1
            elif pos < len(official) and official[pos] == int(arg):
                pos += 1
            return f"test:{int(official[pos % len(official)])}"
        if kind == "random" and arg.lstrip("-").isdigit():
            return f"random:{int(arg) + step}"
        if kind == "class":
            name, _, n = arg.partition(":")
            return f"class:{name}:{max(0, int(n or 0) + step)}"
        raise UsageError(f"cannot step from input {text!r}; use test:INDEX, class:NAME:N or "
                         "random:SEED")

    def test_predictions(self, variant: str, on_progress: ProgressFn | None = None,
                         cancel: threading.Event | None = None) -> np.ndarray:
        """``variant``'s (N, 10) probabilities on the whole test set (rows as ws.test_set)."""
        from engine import evaluate

        return self._remember(("test-probs", variant), lambda: evaluate.predictions(
            self.ws, variant, self.ws.test_set, self.opts, on_progress=on_progress,
            cancel=cancel).probs)

    def predictions(self, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> InputPredictions:
        """Every variant's prediction for input ``text``; a variant that fails is noted."""
        from engine import data, evaluate

        spec = self.input_spec(text)
        probs: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        test = self.ws.test_set
        real = bool(len(spec.indices)) and bool(np.all(spec.indices >= 0))
        rows = np.searchsorted(test.indices, spec.indices) if real else None
        for variant in self.variants:
            try:
                if rows is not None:
                    probs[variant] = self.test_predictions(variant, on_progress, cancel)[rows]
                else:
                    ds = data.make_dataset(f"input[{text}]", np.asarray(spec.images),
                                           np.asarray(spec.labels), np.asarray(spec.indices))
                    probs[variant] = evaluate.predictions(self.ws, variant, ds, self.opts,
                                                          on_progress=on_progress,
                                                          cancel=cancel).probs
            except CancelledError:
                raise
            except R8Error as exc:
                errors[variant] = str(exc)
        return InputPredictions(text, np.asarray(spec.images), np.asarray(spec.labels),
                                np.asarray(spec.indices), probs, errors)

    # -- accuracy ---------------------------------------------------------------------------

    def report(self, on_progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Any:
        """engine.report.variants_report of every variant on the chosen subset."""
        from engine import report
        from engine.subsets import select_subset

        return self._remember(("report", self.subset), lambda: report.variants_report(
            self.ws, list(self.variants), select_subset(self.ws, self.subset), self.opts,
            on_progress=on_progress, cancel=cancel))
