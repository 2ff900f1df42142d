"""Structure checks of the converted models and numerical equivalence between variants."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import convert, frameworks
from engine import variants as V
from engine.cache import make_key
from engine.data import random_inputs
from engine.errors import UsageError
from engine.evaluate import PREDICTION_LIBRARIES, predict
from engine.runners import KerasRunner, TorchRunner
from engine.types import OutputDiff, ProgressFn
from engine.workspace import Workspace

OUTPUT_TOLERANCE = 1e-4
"""Max abs difference allowed between float variants' softmax outputs (they agree to ~5e-6)."""
VERIFY_REAL_N = 1000
VERIFY_RANDOM_N = 200
VERIFY_SEED = 0


def compare_outputs(a: str, ya: np.ndarray, b: str, yb: np.ndarray, inputs: str,
                    tolerance: float = OUTPUT_TOLERANCE) -> OutputDiff:
    """Max/mean absolute and relative difference and argmax agreement of two output sets."""
    if ya.shape != yb.shape:
        raise UsageError(f"cannot compare {a} {ya.shape} with {b} {yb.shape}: shapes differ")
    n = int(ya.shape[0]) if ya.ndim else 0
    if n == 0:
        return OutputDiff(a, b, inputs, 0, float("nan"), float("nan"), float("nan"),
                          float("nan"), tolerance, False)
    da, db = ya.astype(np.float64), yb.astype(np.float64)
    diff = np.abs(da - db)
    finite = bool(np.isfinite(da).all() and np.isfinite(db).all())
    max_abs = float(diff.max()) if finite else float("nan")
    mean_abs = float(diff.mean()) if finite else float("nan")
    rel = float((diff / np.maximum(np.abs(da), 1e-12)).max()) if finite else float("nan")
    agree = float((ya.reshape(n, -1).argmax(1) == yb.reshape(n, -1).argmax(1)).mean())
    passed = finite and max_abs <= tolerance and agree == 1.0
    return OutputDiff(a, b, inputs, n, max_abs, mean_abs, rel, agree, tolerance, passed)


@dataclass(frozen=True)
class LayerRow:
    """One line of a model listing."""

    name: str
    """Layer, node or module name."""
    kind: str
    """Layer class, ONNX op type or module class."""
    output_shape: tuple[int | None, ...] | None
    """Output shape (None where unknown); batch dimension as None."""
    params: int
    """Parameter count (weights it owns)."""


@dataclass(frozen=True)
class VerifyReport:
    """Everything `r8 verify` checked."""

    onnx_path: str
    """The ONNX model checked."""
    opset: int
    """Its opset."""
    checker_ok: bool
    """onnx.checker.check_model(full_check=True) passed."""
    shape_inference_ok: bool
    """Strict shape inference passed and gave the (N, 10) output."""
    problems: tuple[str, ...]
    """What failed, one line each."""
    keras_layers: tuple[LayerRow, ...]
    """The Keras model's layers."""
    onnx_nodes: tuple[LayerRow, ...]
    """The ONNX graph's nodes."""
    torch_modules: tuple[LayerRow, ...]
    """The PyTorch module's leaf modules."""
    pairs: tuple[OutputDiff, ...]
    """Every pair of float variants on real and random inputs."""

    @property
    def passed(self) -> bool:
        return (self.checker_ok and self.shape_inference_ok and not self.problems
                and all(p.passed for p in self.pairs))


def check_onnx(path: Path) -> tuple[bool, bool, list[str], tuple[LayerRow, ...]]:
    """onnx.checker (full) and strict shape inference; returns the node listing too."""
    onnx = frameworks.onnx()
    problems: list[str] = []
    model = onnx.load(str(path))
    checker_ok = shape_ok = True
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        checker_ok = False
        problems.append(f"onnx.checker: {exc}")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except Exception as exc:
        shape_ok = False
        problems.append(f"shape inference: {exc}")
        inferred = model
    shapes: dict[str, tuple[int | None, ...]] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    out_shape = shapes.get(inferred.graph.output[0].name)
    if shape_ok and (out_shape is None or out_shape[-1] != 10):
        shape_ok = False
        problems.append(f"shape inference: output shape {out_shape}, expected (N, 10)")
    sizes = {init.name: int(np.prod(init.dims)) for init in model.graph.initializer}
    rows = tuple(
        LayerRow(node.name, node.op_type, shapes.get(node.output[0]),
                 sum(sizes.get(i, 0) for i in node.input))
        for node in model.graph.node
    )
    return checker_ok, shape_ok, problems, rows


def keras_listing(layers: list[dict[str, Any]]) -> tuple[LayerRow, ...]:
    """Rows from ``KerasRunner.layers()`` (read in the TensorFlow worker)."""
    return tuple(LayerRow(r["name"], r["kind"], tuple(r["shape"]), r["params"]) for r in layers)


def torch_listing(module: Any) -> tuple[LayerRow, ...]:
    torch = frameworks.torch()
    shapes: dict[str, tuple[int | None, ...]] = {}
    leaves = [(n, m) for n, m in module.named_modules() if n and not list(m.children())]
    handles = []
    for name, m in leaves:
        def hook(_m: Any, _i: Any, out: Any, name: str = name) -> None:
            if isinstance(out, torch.Tensor):
                shapes[name] = (None, *out.shape[1:])
        handles.append(m.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            module(torch.zeros(1, 32, 32, 3))
    finally:
        for h in handles:
            h.remove()
    return tuple(
        LayerRow(n, type(m).__name__, shapes.get(n),
                 sum(p.numel() for p in m.parameters(recurse=False)))
        for n, m in leaves
    )


def verify(
    ws: Workspace,
    opset: int = convert.DEFAULT_OPSET,
    n_real: int = VERIFY_REAL_N,
    n_random: int = VERIFY_RANDOM_N,
    seed: int = VERIFY_SEED,
    tolerance: float = OUTPUT_TOLERANCE,
    on_progress: ProgressFn | None = None,
) -> VerifyReport:
    """Check the ONNX model, list all three models and compare their outputs pairwise.

    The report is cached, keyed by the model, the settings and the library versions.
    """
    onnx_path = ws.onnx_path(opset)
    key = make_key("verify", {"model": ws.model_sha, "opset": opset, "n_real": n_real,
                              "n_random": n_random, "seed": seed, "tolerance": tolerance,
                              "data": ws.test_set.identity}, PREDICTION_LIBRARIES)
    return ws.cache.json_result(
        "verify", key,
        lambda: _verify(ws, onnx_path, opset, n_real, n_random, seed, tolerance, on_progress),
        asdict, _report_from_dict)


def _report_from_dict(d: dict[str, Any]) -> VerifyReport:
    def rows(items: list[dict[str, Any]]) -> tuple[LayerRow, ...]:
        return tuple(LayerRow(r["name"], r["kind"],
                              None if r["output_shape"] is None else tuple(r["output_shape"]),
                              r["params"]) for r in items)

    return VerifyReport(
        d["onnx_path"], d["opset"], d["checker_ok"], d["shape_inference_ok"],
        tuple(d["problems"]), rows(d["keras_layers"]), rows(d["onnx_nodes"]),
        rows(d["torch_modules"]), tuple(OutputDiff(**p) for p in d["pairs"]),
    )


def _verify(ws: Workspace, onnx_path: Path, opset: int, n_real: int, n_random: int, seed: int,
            tolerance: float, on_progress: ProgressFn | None) -> VerifyReport:
    checker_ok, shape_ok, problems, onnx_rows = check_onnx(onnx_path)
    opts = V.VariantOptions(opset=opset)
    real = ws.test_set.images[:n_real]
    rand = random_inputs(n_random, seed)
    outputs: dict[str, dict[str, np.ndarray]] = {}
    listings: dict[str, tuple[LayerRow, ...]] = {}
    for variant in V.FLOAT_VARIANTS:
        runner = V.open_runner(ws, variant, opts)
        try:
            outputs[variant] = {
                "real": predict(runner, real, on_progress=on_progress)[0],
                "random": predict(runner, rand, on_progress=on_progress)[0],
            }
            if isinstance(runner, KerasRunner):
                listings[variant] = keras_listing(runner.layers())
            elif isinstance(runner, TorchRunner):
                listings[variant] = torch_listing(runner.module)
        finally:
            runner.close()
    pairs = tuple(
        compare_outputs(a, outputs[a][kind], b, outputs[b][kind], kind, tolerance)
        for kind in ("real", "random")
        for i, a in enumerate(V.FLOAT_VARIANTS) for b in V.FLOAT_VARIANTS[i + 1:]
    )
    for p in pairs:
        if not p.passed:
            problems.append(
                f"{p.a} vs {p.b} on {p.n} {p.inputs} inputs: max abs diff {p.max_abs_diff:.3g} "
                f"(tolerance {p.tolerance:g}), argmax agreement {100 * p.argmax_agreement:.2f} %"
            )
    return VerifyReport(str(onnx_path), opset, checker_ok, shape_ok, tuple(problems),
                        listings["keras"], onnx_rows, listings["torch"], pairs)
