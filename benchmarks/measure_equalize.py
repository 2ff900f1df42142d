"""Does cross-layer equalization (Nagel et al. 2019, AIMET's CLE) help this model's int8?

Run: python benchmarks/measure_equalize.py [--cache-dir DIR]
A measurement, not a feature: r8 has no --equalize (issue 11 asks for it only if it helps).
On the float ONNX model after ORT's pre-processing (BatchNorm folded into the convs), every
Conv -> Relu -> Conv chain whose ReLU output feeds only that second conv is rescaled per
channel i: s_i = sqrt(r1_i / r2_i), with r1_i = max |W1[i]| and r2_i = max |W2[:, i]|;
W1[i] and b1[i] are divided by s_i and W2[:, i] multiplied by it (ReLU(x / s) = ReLU(x) / s
for s > 0, so the float model is unchanged: checked). Both models are then quantized the
way r8 builds onnx-int8 and onnx-uint8 (QDQ, per-channel int8 weights, minmax ranges from
the default calibration set of training images) and evaluated on the whole test set. The
test set only reports the effect; nothing is chosen on it. Figures are printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def equalize(model) -> list[tuple[str, str, float, float]]:
    """Rescale every Conv -> Relu -> Conv pair in place; (conv1, conv2, range ratio spread
    before, after) per pair, the spread being max/min over channels of r1_i / r2_i."""
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = []
    for conv1 in g.node:
        if conv1.op_type != "Conv" or len(conv1.input) < 3:
            continue
        nxt = consumers.get(conv1.output[0], [])
        if len(nxt) != 1 or nxt[0].op_type != "Relu":
            continue
        after = consumers.get(nxt[0].output[0], [])
        if len(after) != 1 or after[0].op_type != "Conv" or after[0].input[0] != nxt[0].output[0]:
            continue
        conv2 = after[0]
        w1 = numpy_helper.to_array(inits[conv1.input[1]]).astype(np.float64)
        b1 = numpy_helper.to_array(inits[conv1.input[2]]).astype(np.float64)
        w2 = numpy_helper.to_array(inits[conv2.input[1]]).astype(np.float64)
        r1 = np.abs(w1).reshape(w1.shape[0], -1).max(1)
        r2 = np.abs(w2).transpose(1, 0, 2, 3).reshape(w2.shape[1], -1).max(1)
        s = np.sqrt(r1 / r2)
        before = float((r1 / r2).max() / (r1 / r2).min())
        w1 /= s[:, None, None, None]
        b1 /= s
        w2 *= s[None, :, None, None]
        r1n = np.abs(w1).reshape(w1.shape[0], -1).max(1)
        r2n = np.abs(w2).transpose(1, 0, 2, 3).reshape(w2.shape[1], -1).max(1)
        for name, arr in ((conv1.input[1], w1), (conv1.input[2], b1), (conv2.input[1], w2)):
            inits[name].CopyFrom(numpy_helper.from_array(arr.astype(np.float32), name))
        out.append((conv1.name, conv2.name, before, float((r1n / r2n).max() / (r1n / r2n).min())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    from engine import calibration, convert
    from engine import quantize as Q
    from engine.workspace import Workspace

    ws = Workspace.open(cache_dir=args.cache_dir, download=False)
    pre = Q._preprocessed(ws, convert.DEFAULT_OPSET)
    test = ws.test_set
    tmp = Path(tempfile.mkdtemp(prefix="r8-cle-"))
    model = onnx.load(str(pre))
    pairs = equalize(model)
    eq = tmp / "equalized.onnx"
    onnx.save(model, str(eq))
    for c1, c2, before, after in pairs:
        print(f"pair {c1} -> {c2}: per-channel range ratio spread {before:.1f}x -> {after:.2f}x")

    def probs(path: Path, images: np.ndarray) -> np.ndarray:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return np.concatenate([sess.run(None, {name: images[i:i + 500].astype(np.float32)})[0]
                               for i in range(0, len(images), 500)])

    def acc(path: Path) -> float:
        return float((probs(path, test.images).argmax(1) == test.labels).mean())

    diff = np.abs(probs(pre, test.images[:500]) - probs(eq, test.images[:500])).max()
    print(f"float model unchanged by equalization: max |probability diff| {diff:.2e} "
          f"(500 images); float accuracy {100 * acc(pre):.2f} % / {100 * acc(eq):.2f} %")
    for variant in ("onnx-int8", "onnx-uint8"):
        s = Q.settings(variant)
        calib = calibration.calibration_set(ws, s.calib, s.calib_seed)
        for label, src in (("plain", pre), ("equalized", eq)):
            t = time.perf_counter()
            out = tmp / f"{variant}-{label}.onnx"
            quantize_static(
                str(src), str(out),
                calibration.OnnxCalibrationReader(calib.images, convert.INPUT_NAME, "calib"),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8 if s.activations == "int8" else QuantType.QUInt8,
                weight_type=QuantType.QInt8, per_channel=s.per_channel,
                reduce_range=s.reduce_range, calibrate_method=Q._ort_methods()[s.method])
            print(f"{variant} {label:9s} (calib {calib.name}, {len(calib)} images, "
                  f"reduce_range {s.reduce_range}): test accuracy {100 * acc(out):.2f} % "
                  f"on {len(test)} images ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
