"""Keras -> ONNX -> PyTorch conversion on the real model, and bad model files."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from engine import convert, frameworks
from engine.errors import ModelError, UsageError
from engine.runners import KerasRunner
from engine.tf_worker import TFWorker
from engine.verify import check_onnx
from engine.workspace import Workspace


def test_onnx_is_cached(ws, onnx_path):
    assert ws.onnx_path() == onnx_path  # second call: cache hit, same file
    assert ws.onnx_cached() == onnx_path
    assert onnx_path.stat().st_size > 300_000


def test_onnx_graph_keeps_keras_names_and_folds_bn(onnx_path):
    onnx = frameworks.onnx()
    m = onnx.load(str(onnx_path))
    ops = [n.op_type for n in m.graph.node]
    assert "BatchNormalization" not in ops  # folded into the convs
    assert ops.count("Conv") == 9
    names = {n.name for n in m.graph.node}
    assert "model/conv2d_3/BiasAdd" in names and "model/add_2/add" in names
    assert m.graph.input[0].name == convert.INPUT_NAME


def test_checker_and_shape_inference(onnx_path):
    checker_ok, shape_ok, problems, rows = check_onnx(onnx_path)
    assert checker_ok and shape_ok and problems == []
    assert sum(r.params for r in rows) > 70_000


def test_torch_module_matches_onnx(onnx_path, test_set):
    module = convert.onnx_to_torch(onnx_path)
    torch = frameworks.torch()
    x = test_set.images[:64].astype(np.float32)
    with torch.inference_mode():
        y = module(torch.from_numpy(x)).numpy()
    assert y.shape == (64, 10)
    np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-5)  # softmax kept


def test_opset_18(tmp_path):
    ws = Workspace.open(cache_dir=str(tmp_path), download=False)
    p = ws.onnx_path(18)
    onnx = frameworks.onnx()
    assert max(o.version for o in onnx.load(str(p)).opset_import if o.domain in ("", "ai.onnx")) == 18


@pytest.mark.parametrize("opset", [7, 12, 19])
def test_opset_out_of_range(ws, opset):
    with pytest.raises(UsageError, match="--opset between 13 and 18"):
        ws.onnx_path(opset)


@pytest.fixture(scope="module")
def worker():
    """One TensorFlow worker for this module's load checks (each failed load keeps it)."""
    w = TFWorker()
    yield w
    w.close()


def load_keras(path, worker=None):
    """Load a model file the way r8 does: h5py checks here, Keras in the TensorFlow worker."""
    runner = KerasRunner(path, worker=worker)
    try:
        runner.load()
    finally:
        runner.close()


def build_h5(code: str, path, **fmt) -> None:
    """Build a Keras .h5 with tf_keras in a child process (TensorFlow never enters pytest's)."""
    script = ("import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
              "import tf_keras\n" + code.format(path=str(path), **fmt))
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})


def test_missing_model(tmp_path, worker):
    with pytest.raises(ModelError, match="does not exist"):
        load_keras(tmp_path / "nope.h5", worker)


def test_not_hdf5(tmp_path, worker):
    p = tmp_path / "m.h5"
    p.write_bytes(b"this is not hdf5 at all")
    with pytest.raises(ModelError, match="not an HDF5 Keras model"):
        load_keras(p, worker)


def test_truncated_h5(tmp_path, ws, worker):
    p = tmp_path / "m.h5"
    p.write_bytes(ws.model_path.read_bytes()[:200_000])
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        load_keras(p, worker)


def test_hdf5_that_is_not_keras(tmp_path, worker):
    import h5py

    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        load_keras(p, worker)


OTHER_MODEL = """
inp = tf_keras.Input((32, 32, 3))
out = tf_keras.layers.Dense(10)(tf_keras.layers.Flatten()(inp))
tf_keras.Model(inp, out).save({path!r})
"""


def test_other_architecture(tmp_path, worker):
    p = tmp_path / "other.h5"
    build_h5(OTHER_MODEL, p)
    with pytest.raises(ModelError, match="not the MLPerf Tiny ResNet8"):
        load_keras(p, worker)  # refused by the architecture check, which runs in the worker


LAMBDA_MODEL = """
def payload(x):
    open({marker!r}, 'w').close()
    return x
inp = tf_keras.Input((32, 32, 3))
out = tf_keras.layers.Dense(10)(tf_keras.layers.Flatten()(tf_keras.layers.Lambda(payload)(inp)))
tf_keras.Model(inp, out).save({path!r})
"""
UNCHECKED_LOAD = """
try:
    tf_keras.models.load_model({path!r}, compile=False, safe_mode=False)
except Exception:
    pass
"""


def test_lambda_model_is_refused_before_its_code_runs(tmp_path, worker):
    """A model whose Lambda layer creates ``marker`` whenever Keras runs the layer's code."""
    marker = tmp_path / "code-ran"
    p = tmp_path / "lambda.h5"
    build_h5(LAMBDA_MODEL, p, marker=str(marker))
    marker.unlink()  # building the model ran the code once; loading must not
    for load in (lambda path: load_keras(path, worker), lambda path: Workspace.open(
            model=str(path), cache_dir=str(tmp_path / "c"), download=False).model_sha):
        with pytest.raises(ModelError, match="Lambda layer .*refused before loading"):
            load(p)
        assert not marker.exists()
    # the check is what stops it: loading the same file without the check runs the code
    build_h5(UNCHECKED_LOAD, p)
    assert marker.exists()


def test_real_model_config_passes(ws):
    convert.check_h5_config(ws.model_path)  # every layer type and object of ResNet8 allowed


def test_quiet_stderr_survives_a_replaced_stderr(monkeypatch, tmp_path):
    # Textual swaps sys.stderr for an object whose fileno() is -1; silencing must still work:
    # what C++ code writes to fd 2 inside is dropped, and fd 2 works again afterwards
    import io
    import os

    class Captured(io.StringIO):
        def fileno(self) -> int:
            return -1

    log = tmp_path / "fd2.txt"
    saved = os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT)
    os.dup2(fd, 2)
    try:
        monkeypatch.setattr("sys.stderr", Captured())
        with frameworks._quiet_stderr():
            os.write(2, b"inside: should be silenced\n")
        os.write(2, b"after: should be kept\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    text = log.read_text()
    assert "inside" not in text and "after: should be kept" in text, text
