"""Imported int8 .tflite models give TFLite Micro's bytes: numpy reference, native build and
emulated Cortex-M4 build against the tflite-micro interpreter, on random int8 inputs.

Models: the MLPerf Tiny int8 models from ../shared/models/mlperf_tiny (skipped when absent) and
small Keras models converted here with the TFLite converter (full-integer, int8 input and
output) that together use every operator the TFLite frontend maps.
"""

from __future__ import annotations

import copy
import functools
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.api import build
from edgeq.frontends.tflite_frontend import load_tflite
from edgeq.interpreter import run_int8
from edgeq.ir.graph import Graph
from edgeq.quant.quantize import compute_kernels
from tests.frontends.test_tflite_frontend import _tf, convert, edit

pytest.importorskip("tflite")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")

MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
HAVE_QEMU = shutil.which("qemu-system-arm") is not None and shutil.which("arm-none-eabi-gcc") is not None
N = 100


def _graph(path: Path) -> Graph:
    g = load_tflite(path)
    q = copy.deepcopy(g)
    compute_kernels(q)
    return q


def _inputs(g: Graph, n: int, seed: int = 0) -> np.ndarray:
    shape = g.tensors[g.inputs[0]].shape
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, *shape[1:]), dtype=np.int8)
    x[0], x[1] = -128, 127  # the extremes too
    return x


def _tflm(path: Path, x: np.ndarray) -> np.ndarray:
    interp = runtime.Interpreter.from_file(str(path))
    outs = []
    for sample in x:
        interp.set_input(sample[None], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0), dtype=np.int8).reshape(-1))
    return np.stack(outs)


def _check_numpy(path: Path, n: int = N) -> tuple[Graph, np.ndarray, np.ndarray]:
    g = _graph(path)
    x = _inputs(g, n)
    expected = _tflm(path, x)
    got = run_int8(g, [x])[0].reshape(n, -1)
    mismatched = int(np.sum(np.any(got != expected, axis=1)))
    assert mismatched == 0, f"{path.name}: {mismatched} of {n} samples differ from TFLite Micro"
    assert len({row.tobytes() for row in expected}) > 1  # the outputs are not all alike
    return g, x, expected


def _check_build(path: Path, x: np.ndarray, expected: np.ndarray, board: str, out: Path) -> None:
    built = build(path, board=board, out=out)
    got = np.asarray(built.run(x, raw=True)).reshape(len(x), -1)
    mismatched = int(np.sum(np.any(got != expected, axis=1)))
    assert mismatched == 0, f"{path.name} on {board}: {mismatched} of {len(x)} samples differ from TFLite Micro"


# -- MLPerf Tiny --------------------------------------------------------------------------------------

MLPERF_MODELS = ["ad01_int8", "pretrainedResnet_quant", "vww_96_int8"]
#: Samples under QEMU (every sample is an emulated inference).
QEMU_SAMPLES = {"ad01_int8": 100, "pretrainedResnet_quant": 100, "vww_96_int8": 100}


def _mlperf(name: str) -> Path:
    path = MLPERF / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@functools.cache
def _mlperf_reference(name: str) -> tuple[np.ndarray, np.ndarray]:
    _, x, expected = _check_numpy(_mlperf(name))
    return x, expected


@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_numpy_and_native_equal_tflm(name: str, tmp_path: Path) -> None:
    x, expected = _mlperf_reference(name)
    _check_build(_mlperf(name), x, expected, "native", tmp_path / "native")


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.arm
@pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_qemu_cortex_m4_equals_tflm(name: str, tmp_path: Path) -> None:
    x, expected = _mlperf_reference(name)
    n = QEMU_SAMPLES[name]
    _check_build(_mlperf(name), x[:n], expected[:n], "qemu-cortex-m4", tmp_path / "m4")


# -- converter-made models covering every mapped operator --------------------------------------------


def _convnet():
    """RELU, PAD, CONV_2D (fused RELU6 / NONE), DEPTHWISE_CONV_2D (multiplier 2, fused RELU), ADD (fused
    RELU), MUL, CONCATENATION, MAX_POOL_2D, AVERAGE_POOL_2D (SAME), MEAN (keep_dims both ways),
    SQUEEZE-like RESHAPE, FULLY_CONNECTED (per-channel), SOFTMAX."""
    tf = _tf()
    keras, layers = tf.keras, tf.keras.layers
    keras.utils.set_random_seed(1)
    x = keras.Input((12, 12, 3), batch_size=1)
    a = layers.ReLU()(x)
    a = layers.ZeroPadding2D(1)(a)
    a = layers.Conv2D(8, 3, strides=2, activation="relu6")(a)
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(a)
    c = layers.Conv2D(16, 1, padding="same")(a)
    d = layers.ReLU()(layers.Add()([b, c]))
    e = layers.Multiply()([d, c])
    f = layers.Concatenate()([e, b])
    g = layers.MaxPooling2D(2, padding="same")(f)
    h = layers.AveragePooling2D(2, strides=1, padding="same")(g)
    m1 = layers.GlobalAveragePooling2D(keepdims=True)(h)
    s = layers.Lambda(lambda t: tf.squeeze(t, axis=[1, 2]))(m1)
    m2 = layers.GlobalAveragePooling2D()(g)
    t = layers.Concatenate()([s, m2])
    return keras.Model(x, layers.Softmax()(layers.Dense(10)(t))), (12, 12, 3)


def _densenet():
    """FULLY_CONNECTED (fused RELU / RELU_N1_TO_1, rows of a reshaped input), TANH, LOGISTIC,
    QUANTIZE (int8 requantization before a concatenation), CONCATENATION, RESHAPE, RELU6."""
    tf = _tf()
    keras, layers = tf.keras, tf.keras.layers
    keras.utils.set_random_seed(2)
    x = keras.Input((24,), batch_size=1)
    a = layers.Dense(32, activation="relu")(x)
    b = layers.Dense(16, activation="tanh")(a)
    c = layers.Dense(16, activation="sigmoid")(a)
    e = layers.Reshape((4, 8))(layers.Concatenate()([b, c]))
    g = layers.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0))(layers.Dense(6)(e))
    i = layers.ReLU(max_value=6.0)(layers.Flatten()(g))
    return keras.Model(x, layers.Dense(5)(i)), (24,)


def _mean_only(keep_dims: bool):
    tf = _tf()
    keras = tf.keras
    x = keras.Input((5, 3, 8), batch_size=1)
    return keras.Model(x, keras.layers.GlobalAveragePooling2D(keepdims=keep_dims)(x)), (5, 3, 8)


def _ops(content: bytes) -> list[str]:
    tf = _tf()
    return [d["op_name"] for d in tf.lite.Interpreter(model_content=content)._get_ops_details()]


def _softmax_beta(beta: float):
    def fn(fb):
        import tflite

        for op in fb.subgraphs[0].operators:
            if fb.operatorCodes[op.opcodeIndex].builtinCode == tflite.BuiltinOperator.SOFTMAX:
                op.builtinOptions.beta = beta
    return fn


def _mean_same_params(fb):
    """MEAN's output takes its input's parameters: TFLite Micro's plain sum / count path."""
    sg = fb.subgraphs[0]
    (op,) = sg.operators
    src, dst = sg.tensors[op.inputs[0]].quantization, sg.tensors[op.outputs[0]].quantization
    dst.scale, dst.zeroPoint = copy.deepcopy(src.scale), copy.deepcopy(src.zeroPoint)


@functools.cache
def _model(kind: str) -> bytes:
    if kind.startswith("convnet"):
        content = convert(*_convnet())
        return edit(content, _softmax_beta(0.5)) if kind == "convnet_beta" else content
    if kind == "densenet":
        return convert(*_densenet())
    keep = kind.endswith("keep")
    content = convert(*_mean_only(keep), seed=3)
    return edit(content, _mean_same_params) if "same" in kind else content


MODELS = ["convnet", "convnet_beta", "densenet", "mean_keep", "mean_flat", "mean_same_keep", "mean_same_flat"]


def test_converter_models_cover_every_operator() -> None:
    ops = set()
    for kind in ("convnet", "densenet"):
        ops |= set(_ops(_model(kind)))
    expected = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                "MEAN", "PAD", "RESHAPE", "CONCATENATION", "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6",
                "QUANTIZE"}
    assert expected <= ops, expected - ops


@pytest.mark.parametrize("kind", MODELS)
def test_converter_model_numpy_and_native_equal_tflm(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(_model(kind))
    g, x, expected = _check_numpy(path, n=128)
    if kind.startswith("mean_same"):  # equal parameters: TFLite Micro still requantizes (no plain sum / count)
        assert g.tensors[g.inputs[0]].quant.same_as(g.tensors[g.outputs[0]].quant)
    _check_build(path, x, expected, "native", tmp_path / "native")


@pytest.mark.qemu
@pytest.mark.arm
@pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-arm / arm-none-eabi-gcc not installed")
def test_converter_models_qemu_cortex_m4(tmp_path: Path) -> None:
    for kind in ("convnet", "densenet", "mean_same_keep"):
        path = tmp_path / f"{kind}.tflite"
        path.write_bytes(_model(kind))
        _, x, expected = _check_numpy(path, n=N)
        _check_build(path, x, expected, "qemu-cortex-m4", tmp_path / f"m4_{kind}")
