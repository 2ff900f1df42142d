"""The app's one link to the engine: a workspace, the settings, and results already loaded.

Every method blocks and may take seconds on a cold cache, so the app calls them from worker
threads. Nothing here imports Textual; results are engine dataclasses, kept in memory so that
moving between layers, inputs and screens does not go back to the disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from engine import variants as V
from engine.errors import CancelledError, R8Error, UsageError
from engine.types import ProgressFn
from engine.workspace import Workspace

if TYPE_CHECKING:
    from engine.activations import LayerActivationStats
    from engine.compare import ComparisonReport
    from engine.inputs import InputSpec
    from engine.isolated import IsolatedReport
    from engine.layers import LayerInfo
    from engine.logits import VariantLogits
    from engine.qparams import QuantParamsReport
    from engine.quant_view import QuantView
    from engine.report import VariantsReport
    from engine.sensitivity import SensitivityReport
    from engine.weights import WeightReport

T = TypeVar("T")
WeightsByLayer = Mapping[str, "tuple[WeightReport, ...]"]
"""Layer name -> its parameter tensors in one variant."""
ActivationsByLayer = Mapping[str, "LayerActivationStats"]
"""Layer name -> statistics of its output on one input."""
QuantViewsByLayer = Mapping[str, "QuantView"]
"""Layer name -> its activation in float and int8 on one grid."""
WeightViewsByLayer = Mapping["tuple[str, str]", "QuantView"]
"""(layer, param) -> that weight in float and int8 on one grid."""
WAIT_POLL_S = 0.05
"""How often a job waiting for the same work in another job looks at its cancel event."""
SHARED_THREAD = "r8-job-shared-"
"""Name prefix of the threads computing shared cache artifacts (a job thread: tui.jobs
THREAD_PREFIX, so the app and the tests see them)."""


def onnx_key(opset: int) -> tuple[Hashable, ...]:
    """The session's key of the float ONNX model (prepare computes it; read_cached finds it)."""
    return ("artifact", "onnx", opset)


@dataclass(eq=False)
class _Flight:
    """One shared computation in flight: the jobs waiting for it and what it gave."""

    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when the last waiting job gave up: the work stops (and cleans up) then."""
    done: threading.Event = field(default_factory=threading.Event)
    waiters: int = 0
    listeners: list[ProgressFn] = field(default_factory=list)
    value: object = None
    error: BaseException | None = None

DEFAULT_VARIANTS = V.FLOAT_VARIANTS + V.QUANT_VARIANTS
"""The variants the app shows unless --variants says otherwise."""
DEFAULT_INPUT = "test:0"
"""The first input shown."""
DEFAULT_SUBSET = "all"
"""The data set of the Accuracy and Input screens."""
SET_KINDS = ("batch", "indices", "flipped")
"""Inputs of several images: n/p walk their images, the input itself stays."""


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


@dataclass(frozen=True)
class RepairRequest:
    """What the repair dialog asks for: an int8 variant with settings, or the recommender."""

    recipe: str
    """onnx-int8, onnx-uint8 or torch-int8."""
    float_layers: tuple[str, ...] = ()
    """Keras names of quantizable units left float."""
    bias_correction: bool = False
    """Empirical bias correction of the int8 layers."""
    method: str | None = None
    """Calibration method; None: the session's (else the backend's default)."""
    calib: str = ""
    """Calibration spec (train:N, mlperf, random:N); empty: the session's."""
    recommend: bool = False
    """Run `r8 quantize --recommend` instead (the settings above are then not used)."""


class Session:
    """Workspace, settings and an in-memory memo of the engine's (cached) results.

    Every result is computed once: a second caller asking for the same result (or for the
    same cache artifact: the float ONNX model, a quantized model) while it is being computed
    waits for the first instead of computing it again, and gives up waiting when its own
    ``cancel`` event is set; the work itself stops only when no caller waits for it any more
    (``_remember``). The ``known_*`` accessors never compute.
    """

    def __init__(
        self,
        model: str | None = None,
        data_dir: str | None = None,
        cache_dir: str | None = None,
        download: bool = True,
        variants: Sequence[str] = DEFAULT_VARIANTS,
        subset: str = DEFAULT_SUBSET,
        opts: V.VariantOptions | None = None,
        ws: Workspace | None = None,
    ) -> None:
        self.model = model
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.download = download
        self.variants: tuple[str, ...] = tuple(V.parse_variants(",".join(variants)))
        self.subset = subset
        self.opts = opts or V.VariantOptions()
        self._lock = threading.Lock()
        self._ws_lock = threading.Lock()
        self._flights: dict[tuple[Hashable, ...], _Flight] = {}
        self._memo: dict[tuple[Hashable, ...], object] = {}
        if ws is not None:
            self.__dict__["ws"] = ws  # opened already by the edge (tui_main), reused

    # -- plumbing ---------------------------------------------------------------------------

    @cached_property
    def ws(self) -> Workspace:
        return Workspace.open(model=self.model, data_dir=self.data_dir, cache_dir=self.cache_dir,
                              download=self.download)

    def read_cached(self, variant: str) -> None:
        """Read what the first screen shows (the layer map, ``variant``'s weights) from the
        cache, on this thread, when it is all there: on a warm start that is a few tens of
        milliseconds before Textual starts, and the first frame shows the data (issue 14:
        first paint). Nothing is computed, converted or downloaded (engine.cache.cached_only):
        what is missing, and any error, is left to the jobs, which show progress and say
        what is wrong."""
        from engine import layers
        from engine.cache import cached_only

        opset = self.opts.opset
        try:
            with cached_only():
                onnx = self.ws.onnx_path(opset)
                with self._lock:
                    self._memo.setdefault(onnx_key(opset), onnx)
                    self._memo.setdefault(("layers",), layers.layer_map(self.ws, opset))
                if self.variant_of(variant).has_weights:
                    by_layer = self._weights_by_layer(variant)
                    with self._lock:
                        self._memo.setdefault(("weights", variant), by_layer)
        except Exception:  # noqa: BLE001  (NotCached on a cold start; an error: the jobs
            pass           # that need it report it, with its fix)

    def _remember(self, key: tuple[Hashable, ...],
                  compute: Callable[[ProgressFn, threading.Event], T],
                  on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> T:
        """``compute(progress, stop)`` once per key (the session's one single-flight rule), in
        a thread of its own, for every job that asks meanwhile: a cancelled job stops waiting
        at once, but the work goes on for the others; ``stop`` (the flight's cancel event,
        never a caller's own ``cancel``) is set only when none waits any more, and its temp
        files are removed before a new caller starts it again: one computation in flight per
        key. ``progress`` reaches every caller still waiting."""
        while True:
            with self._lock:
                if key in self._memo:
                    return self._memo[key]  # type: ignore[return-value]
                if cancel is not None and cancel.is_set():
                    raise CancelledError("cancelled")
                flight = self._flights.get(key)
                stale = flight is not None and flight.cancel.is_set()
                start = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
                if not stale:
                    flight.waiters += 1
                    if on_progress is not None:
                        flight.listeners.append(on_progress)
            if not stale:
                break
            self._wait_flight(flight, cancel)  # the abandoned one is still cleaning up
        if start:
            threading.Thread(target=self._fly, args=(key, flight, compute), daemon=True,
                             name=f"{SHARED_THREAD}{key[0]}").start()
        try:
            self._wait_flight(flight, cancel)
        except CancelledError:
            with self._lock:
                flight.waiters -= 1
                if on_progress in flight.listeners:
                    flight.listeners.remove(on_progress)
                if flight.waiters == 0:
                    flight.cancel.set()
            raise
        if flight.error is not None:
            raise flight.error
        return flight.value  # type: ignore[return-value]

    @staticmethod
    def _wait_flight(flight: _Flight, cancel: threading.Event | None) -> None:
        while not flight.done.wait(WAIT_POLL_S):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled (the shared work goes on for the other jobs)")

    def _fly(self, key: tuple[Hashable, ...], flight: _Flight,
             compute: Callable[[ProgressFn, threading.Event], object]) -> None:
        def progress(n: int, total: int, what: str) -> None:
            with self._lock:
                listeners = list(flight.listeners)
            for listener in listeners:
                listener(n, total, what)

        try:
            flight.value = compute(progress, flight.cancel)
            with self._lock:
                self._memo[key] = flight.value
        except BaseException as exc:  # every waiting job raises it
            flight.error = exc
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def _known(self, key: tuple[Hashable, ...]) -> object | None:
        with self._lock:
            return self._memo.get(key)

    def prepare(self, variant: str, on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> None:
        """Build the cache artifacts ``variant`` runs from (float ONNX, quantized model), once.

        Every job calls this first, so that a cold start converts the model once and
        quantizes each int8 variant once, however many jobs need them at the same time.
        """
        from engine import quantize

        v = self.variant_of(variant)
        if v.kind == "reference":
            return
        opset = self.opts.opset
        self._remember(onnx_key(opset), lambda progress, stop: self.ws.onnx_path(
            opset, on_progress=progress, cancel=stop), on_progress, cancel)
        if isinstance(v, V.QuantizedVariant):
            # a variant registered at run time (VARIANT@recommended, a repaired one) is built
            # as its recipe with its own settings; the key holds them, so a re-registered
            # name with other settings is quantized again
            opts = v.options(self.opts)
            self._remember(("artifact", v.base, opts.quant, opset),
                           lambda progress, stop: quantize.quantize(
                               self.ws, [v.base], opts, progress, stop), on_progress, cancel)

    def variant_of(self, name: str) -> V.Variant:
        """The registered variant ``name``; ``VARIANT@recommended`` is registered here with
        the settings `r8 quantize --recommend` saved (a UsageError naming that command when
        none are), as the CLI does at its edge."""
        if name.endswith(V.RECOMMENDED) and name not in V.names():
            from engine import recommend

            with self._ws_lock:
                if name not in V.names():
                    recommend.register(self.ws, name, self.opts)
        return V.get(name)

    def is_quantized(self, name: str) -> bool:
        """An int8 variant: a built-in one or one registered at run time (never computes)."""
        return name in V.names(kind="quantized") or name.endswith(V.RECOMMENDED)

    def add_variant(self, name: str) -> None:
        """Show the registered variant ``name`` everywhere from now on (a repair's result);
        results in memory under that name are forgotten (it may name new settings)."""
        V.get(name)
        with self._lock:
            for key in [k for k in self._memo if name in k]:
                del self._memo[key]
            if name not in self.variants:
                self.variants = (*self.variants, name)

    @property
    def baseline(self) -> str:
        return V.BASELINE

    def compared_variant(self, variant: str) -> str:
        """The variant the Layers screen compares with the float baseline."""
        if variant != self.baseline:
            return variant
        others = [v for v in self.variants if self.is_quantized(v)] or [
            v for v in self.variants if v != self.baseline]
        return others[0] if others else self.baseline

    def repair_settings(self, req: RepairRequest) -> V.QuantSettings:
        """The session's quantization settings changed as ``req`` asks, checked (a UsageError
        naming the fix for a method the recipe lacks or a bad calibration spec); quick."""
        from engine import quantize

        if req.recipe not in quantize.VARIANT_BACKEND:
            raise UsageError(f"{req.recipe!r} is not an int8 recipe; use one of "
                             f"{', '.join(quantize.VARIANT_BACKEND)}")
        base = self.opts.quant
        quant = V.QuantSettings.parse({
            **base.to_mapping(), "float_layers": req.float_layers,
            "bias_correction": req.bias_correction, "method": req.method or base.method,
            "calib": req.calib or base.calib}, base.cpu)
        quantize.settings(req.recipe, quant)  # refuses a method of the other backend
        return quant

    def repair_name(self, req: RepairRequest) -> str:
        """The name the variant of ``req`` gets: engine.named_settings writes it, against the
        session's settings, so ``r8 --variant NAME`` with the same flags reads it back."""
        from engine import named_settings

        if req.recommend:
            return req.recipe + V.RECOMMENDED
        return named_settings.format(req.recipe, self.repair_settings(req), self.opts.quant)

    def repair(self, req: RepairRequest, on_progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> tuple[str, float, str]:
        """Build the variant ``req`` asks for and register it: (name, seconds, one line on
        what it is). Cancelled, nothing new stays registered (every cache write is atomic)."""
        from engine import named_settings, quantize, recommend

        t0 = time.perf_counter()
        if req.recommend:
            rec = recommend.recommend(self.ws, req.recipe, opts=self.opts,
                                      on_progress=on_progress, cancel=cancel)
            name = rec.name
            with self._ws_lock:
                recommend.register(self.ws, name, self.opts)
            detail = (f"{rec.chosen.label}: validation {rec.chosen.val_delta_points:+.2f} "
                      f"points vs float ({'within' if rec.met_target else 'outside'} the "
                      f"{rec.target_delta} target)")
        else:
            quant = self.repair_settings(req)
            name = named_settings.register_settings(req.recipe, quant,
                                                    base=self.opts.quant).name
            detail = quantize.settings(req.recipe, quant).describe()
        try:
            self.prepare(name, on_progress, cancel)
        except BaseException:
            if name not in self.variants and name not in V.ALL_VARIANTS:
                V.unregister(name)
            raise
        return name, time.perf_counter() - t0, detail

    # -- what is already in memory (never computes) -----------------------------------------

    def known_input(self, text: str) -> InputSpec | None:
        return self._known(("input", text))  # type: ignore[return-value]

    def known_layers(self) -> tuple[LayerInfo, ...] | None:
        return self._known(("layers",))  # type: ignore[return-value]

    def known_weights(self, variant: str) -> WeightsByLayer | None:
        return self._known(("weights", variant))  # type: ignore[return-value]

    def known_activations(self, variant: str, text: str) -> ActivationsByLayer | None:
        return self._known(("activations", variant, text))  # type: ignore[return-value]

    def known_comparison(self, a: str, b: str, text: str) -> ComparisonReport | None:
        return self._known(("compare", a, b, text))  # type: ignore[return-value]

    def known_report(self) -> VariantsReport | None:
        return self._known(("report", self.subset, self.variants))  # type: ignore[return-value]

    # -- model structure and weights --------------------------------------------------------

    def layer_map(self, on_progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None) -> tuple[LayerInfo, ...]:
        """engine.layers.layer_map (cached on disk, then in memory)."""
        from engine import layers

        self.prepare(V.BASELINE, on_progress, cancel)
        return self._remember(("layers",), lambda progress, stop: layers.layer_map(
            self.ws, self.opts.opset, on_progress=progress, cancel=stop), on_progress, cancel)

    def weights(self, variant: str, on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> WeightsByLayer:
        """Layer name -> that layer's WeightReports for ``variant``."""
        self.prepare(variant, on_progress, cancel)
        return self._remember(("weights", variant),
                              lambda _, stop: self._weights_by_layer(variant, stop),
                              on_progress, cancel)

    def _weights_by_layer(self, variant: str,
                          cancel: threading.Event | None = None) -> WeightsByLayer:
        from engine import weights

        by_layer: dict[str, list[WeightReport]] = {}
        for rep in weights.weight_reports(self.ws, variant, None, self.opts, cancel=cancel):
            by_layer.setdefault(rep.layer, []).append(rep)
        return {k: tuple(v) for k, v in by_layer.items()}

    # -- inputs and activations -------------------------------------------------------------

    def input_spec(self, text: str, cancel: threading.Event | None = None) -> InputSpec:
        from engine import inputs

        return self._remember(("input", text), lambda _, __: inputs.parse_input(self.ws, text),
                              cancel=cancel)

    def activations(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> ActivationsByLayer:
        """Layer name -> LayerActivationStats of ``variant`` on input ``text``."""
        from engine import activations

        def compute(progress: ProgressFn, stop: threading.Event) -> ActivationsByLayer:
            acts = activations.capture_activations(self.ws, variant, self.input_spec(text, stop),
                                                   self.opts, progress, stop)
            return {s.name: s for s in activations.activation_stats(acts)}

        spec = self.input_spec(text, cancel)  # a bad input fails before any model work
        del spec
        self.prepare(variant, on_progress, cancel)
        return self._remember(("activations", variant, text), compute, on_progress, cancel)

    def compare(self, a: str, b: str, text: str, on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> ComparisonReport:
        """engine.compare.compare_activations of ``a`` and ``b`` on input ``text``."""
        from engine import compare

        self.input_spec(text, cancel)
        self.prepare(a, on_progress, cancel)
        self.prepare(b, on_progress, cancel)
        return self._remember(("compare", a, b, text), lambda progress, stop: (
            compare.compare_activations(self.ws, a, b, self.input_spec(text, stop), self.opts,
                                        on_progress=progress, cancel=stop)), on_progress, cancel)

    def official_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(official indices sorted, the test-set row of each): maps an official index to its
        row whatever order the rows of the data copy are in."""
        def compute(_: ProgressFn, __: threading.Event) -> tuple[np.ndarray, np.ndarray]:
            indices = self.ws.test_set.indices
            order = np.argsort(indices, kind="stable")
            return indices[order], order

        return self._remember(("official-order",), compute)

    def rows_of(self, official: np.ndarray) -> np.ndarray:
        """Test-set rows of official indices (UsageError for one this copy lacks)."""
        ordered, rows = self.official_order()
        pos = np.searchsorted(ordered, official)
        ok = (pos < len(ordered)) & (ordered[np.minimum(pos, len(ordered) - 1)] == official)
        if not np.all(ok):
            missing = np.asarray(official)[~ok][:3].tolist()
            raise UsageError(f"official test indices {missing} are not in this copy of the "
                             "data; pick another image")
        return rows[pos]

    def step_input(self, text: str, step: int) -> str:
        """The next (step=1) or previous (step=-1) input after ``text``."""
        kind, _, arg = text.partition(":")
        if kind == "test" and arg.isdigit():
            official, _ = self.official_order()
            pos = int(np.searchsorted(official, int(arg)))
            if step < 0:
                pos -= 1
            elif pos < len(official) and official[pos] == int(arg):
                pos += 1
            return f"test:{int(official[pos % len(official)])}"
        if kind == "random" and arg.lstrip("-").isdigit():
            return f"random:{max(0, int(arg) + step)}"
        if kind == "class":
            name, _, n = arg.partition(":")
            return f"class:{name}:{max(0, int(n or 0) + step)}"
        if kind in SET_KINDS:  # a set stays the input; the step walks its images
            n_images = len(self.input_spec(text))
            self._set_positions[text] = (self.set_position(text) + step) % max(1, n_images)
            return text
        raise UsageError(f"cannot step from input {text!r}; use test:INDEX, class:NAME:N, "
                         "random:SEED or a set (batch:, indices:, flipped:)")

    def test_predictions(self, variant: str, on_progress: ProgressFn | None = None,
                         cancel: threading.Event | None = None) -> np.ndarray:
        """``variant``'s (N, 10) probabilities on the whole test set (rows as ws.test_set)."""
        from engine import evaluate

        self.prepare(variant, on_progress, cancel)
        return self._remember(("test-probs", variant), lambda progress, stop: (
            evaluate.predictions(self.ws, variant, self.ws.test_set, self.opts,
                                 on_progress=progress, cancel=stop).probs), on_progress, cancel)

    def predictions(self, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> InputPredictions:
        """Every variant's prediction for input ``text``; a variant that fails is noted."""
        from engine import data, evaluate

        spec = self.input_spec(text, cancel)
        probs: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        real = bool(len(spec.indices)) and bool(np.all(spec.indices >= 0))
        rows = self.rows_of(spec.indices) if real else None
        for variant in self.variants:
            try:
                if rows is not None:
                    probs[variant] = self.test_predictions(variant, on_progress, cancel)[rows]
                else:
                    self.prepare(variant, on_progress, cancel)
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
               cancel: threading.Event | None = None) -> VariantsReport:
        """engine.report.variants_report of every variant on the chosen subset."""
        from engine import report
        from engine.subsets import select_subset

        names = self.variants  # as they are now: a repair may add one meanwhile
        for variant in names:
            self.prepare(variant, on_progress, cancel)
        subset = self.subset
        return self._remember(("report", subset, names), lambda progress, stop: (
            report.variants_report(self.ws, list(names), select_subset(self.ws, subset),
                                   self.opts, on_progress=progress, cancel=stop)),
            on_progress, cancel)

    def test_labels(self) -> dict[int, int]:
        """Official test index -> label."""
        test = self.ws.test_set
        return self._remember(("test-labels",), lambda _, __: dict(zip(
            test.indices.tolist(), test.labels.tolist(), strict=True)))

    # -- diagnosis on the Model screen (isolated error, sensitivity, the int8 grid) ---------

    def known_isolated(self, variant: str, text: str) -> IsolatedReport | None:
        return self._known(("isolated", variant, text))  # type: ignore[return-value]

    def isolated(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> IsolatedReport:
        """engine.isolated.isolated_errors of int8 ``variant`` on input ``text``."""
        from engine import isolated

        isolated.check_isolated_variant(variant)
        self.input_spec(text, cancel)
        self.prepare(variant, on_progress, cancel)
        return self._remember(("isolated", variant, text), lambda progress, stop: (
            isolated.isolated_errors(self.ws, variant, self.input_spec(text, stop), self.opts,
                                     progress, stop)), on_progress, cancel)

    def known_sensitivity(self, variant: str) -> SensitivityReport | None:
        return self._known(("sensitivity", variant, self.subset))  # type: ignore[return-value]

    def sensitivity(self, variant: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> SensitivityReport:
        """engine.sensitivity.sensitivity (float-one) of int8 ``variant`` on the session's
        subset: slow the first time (one evaluation per layer and per noise seed), each
        point's predictions cached as it finishes, so a rerun reads them back."""
        from engine import sensitivity
        from engine.subsets import select_subset

        self.prepare(variant, on_progress, cancel)
        subset = self.subset
        return self._remember(("sensitivity", variant, subset), lambda progress, stop: (
            sensitivity.sensitivity(self.ws, variant, select_subset(self.ws, subset),
                                    opts=self.opts, on_progress=progress, cancel=stop)),
            on_progress, cancel)

    def known_quant_views(self, variant: str, text: str) -> QuantViewsByLayer | None:
        return self._known(("quant-views", variant, text))  # type: ignore[return-value]

    def quant_views(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> QuantViewsByLayer:
        """Layer -> the float and int8 distributions of its activation on ``text`` on one
        grid (engine.quant_view), from the float (onnx) and ``variant``'s cached captures."""
        from engine import activations, quant_view

        def compute(progress: ProgressFn, stop: threading.Event) -> QuantViewsByLayer:
            spec = self.input_spec(text, stop)
            q = activations.capture_activations(self.ws, variant, spec, self.opts,
                                                progress, stop)
            f = activations.capture_activations(self.ws, quant_view.FLOAT_REFERENCE, spec,
                                                self.opts, progress, stop)
            return quant_view.activation_views(f, q)

        self.input_spec(text, cancel)
        self.prepare(variant, on_progress, cancel)
        self.prepare(quant_view.FLOAT_REFERENCE, on_progress, cancel)
        return self._remember(("quant-views", variant, text), compute, on_progress, cancel)

    def known_weight_views(self, variant: str) -> WeightViewsByLayer | None:
        return self._known(("weight-views", variant))  # type: ignore[return-value]

    def weight_views(self, variant: str, on_progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None) -> WeightViewsByLayer:
        """(layer, param) -> the float and int8 weights on one grid, with per-channel
        ranges (engine.quant_view.weight_views)."""
        from engine import quant_view

        self.prepare(variant, on_progress, cancel)
        return self._remember(("weight-views", variant), lambda _, stop: (
            quant_view.weight_views(self.ws, variant, self.opts, cancel=stop)),
            on_progress, cancel)
    # -- any two variants, the same layer in every variant (issue 13) -----------------------

    def error_mode(self, a: str, b: str) -> str:
        """The comparison's errors: accumulated and isolated when one side is int8 (the
        isolated error exists only there), else accumulated only."""
        return "both" if self.is_quantized(a) or self.is_quantized(b) else "accumulated"

    def compare_errors(self, a: str, b: str, text: str, on_progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None) -> ComparisonReport:
        """engine.compare.compare_activations of ``a`` and ``b`` with the isolated error of the
        int8 side too, when there is one (error_mode)."""
        from engine import compare

        self.input_spec(text, cancel)
        self.prepare(a, on_progress, cancel)
        self.prepare(b, on_progress, cancel)
        error = self.error_mode(a, b)
        return self._remember(("compare-errors", a, b, text), lambda progress, stop: (
            compare.compare_activations(self.ws, a, b, self.input_spec(text, stop), self.opts,
                                        on_progress=progress, cancel=stop, error=error)),
            on_progress, cancel)

    def known_compare_errors(self, a: str, b: str, text: str) -> ComparisonReport | None:
        return self._known(("compare-errors", a, b, text))  # type: ignore[return-value]

    def qparams(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                cancel: threading.Event | None = None) -> QuantParamsReport:
        """engine.qparams.activation_qparams of int8 ``variant`` on input ``text``."""
        from engine import qparams

        self.input_spec(text, cancel)
        self.prepare(variant, on_progress, cancel)
        return self._remember(("qparams", variant, text), lambda progress, stop: (
            qparams.activation_qparams(self.ws, variant, self.input_spec(text, stop), self.opts,
                                       progress, stop)), on_progress, cancel)

    def known_qparams(self, variant: str, text: str) -> QuantParamsReport | None:
        return self._known(("qparams", variant, text))  # type: ignore[return-value]

    def capturable_variants(self) -> tuple[str, ...]:
        """The session's variants whose activations can be captured (tflite's cannot)."""
        can = V.names(capture=True)
        return tuple(v for v in self.variants if v in can)
    # -- sets of images, flipped images, the pinned typical image ---------------------------

    @cached_property
    def _set_positions(self) -> dict[str, int]:
        return {}

    def set_position(self, text: str) -> int:
        """Which image of input ``text`` the Input screen shows (0 unless n/p walked a set)."""
        return self._set_positions.get(text, 0)

    @cached_property
    def _pinned(self) -> list[str]:
        return [DEFAULT_INPUT]

    @property
    def pinned_input(self) -> str:
        """The typical image that a flipped image's layer-by-layer error is set against."""
        return self._pinned[0]

    def pin_input(self, text: str) -> None:
        """Pin the single-image input ``text`` (``test:N``, ``random:SEED``) as typical."""
        self._pinned[0] = text

    def all_test_probs(self, on_progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None) -> dict[str, np.ndarray]:
        """Variant -> (N, 10) probabilities on the whole test set, for every variant."""
        return {v: self.test_predictions(v, on_progress, cancel) for v in self.variants}

    def logits(self, text: str, on_progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> InputLogits:
        """Every variant's logits on input ``text`` (keras: the reason it has none)."""
        from engine.logits import variant_logits

        spec = self.input_spec(text, cancel)
        found: dict[str, VariantLogits] = {}
        errors: dict[str, str] = {}
        for variant in self.variants:
            try:
                self.prepare(variant, on_progress, cancel)
                found[variant] = self._remember(
                    ("logits", variant, text), lambda _, stop, v=variant: variant_logits(
                        self.ws, v, spec, self.opts, stop), on_progress, cancel)
            except CancelledError:
                raise
            except R8Error as exc:
                errors[variant] = str(exc)
        return InputLogits(text, found, errors)

    def flip_detail(self, variant: str, text: str, on_progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> FlipDetail:
        """Input ``text`` and the pinned image, each compared layer by layer: float against
        ``variant`` (the float variant of its framework)."""
        reference = float_reference(variant)
        pinned = self.pinned_input
        spec = self.input_spec(text, cancel)
        return FlipDetail(variant, reference, text, pinned, np.asarray(spec.images[0]),
                          self.compare(reference, variant, text, on_progress, cancel),
                          self.compare(reference, variant, pinned, on_progress, cancel))


def float_reference(variant: str) -> str:
    """The float variant a quantized one is compared with: the same framework's."""
    family = variant.split("-", 1)[0]
    return family if family in V.FLOAT_VARIANTS else V.BASELINE


@dataclass(frozen=True)
class FlipDetail:
    """One image's layer-by-layer error (float against an int8 variant) and the pinned
    typical image's, on the same pair."""

    variant: str
    """The int8 (or other) variant compared."""
    reference: str
    """The float variant it is compared with."""
    input: str
    """The image, e.g. ``test:1234``."""
    pinned: str
    """The pinned typical image."""
    image: np.ndarray
    """(32, 32, 3) pixels of ``input``."""
    this: ComparisonReport
    """``reference`` against ``variant`` on ``input``."""
    typical: ComparisonReport
    """The same on ``pinned``."""


@dataclass(frozen=True)
class InputLogits:
    """Every variant's logits on one input."""

    input: str
    """The input spec."""
    logits: dict[str, VariantLogits]
    """Variant -> its logits (and the probabilities of the same run)."""
    errors: dict[str, str] = field(default_factory=dict)
    """Variant -> why it has no logits (keras: they stay in the TensorFlow worker)."""
