"""SOFTMAX, LOGISTIC and TANH int8: numpy reference == TFLite Micro == generated C, byte for byte.

(a) One-activation Keras models converted to full-integer int8 .tflite files run in TFLite
    Micro's own interpreter (the tflite-micro package); the op's numpy `run_int8`, built from
    the scales and zero points read from the .tflite, must give the same bytes.
(b) The generated C equals `run_int8` over all 256 input values and random shapes.
(c) The C fixed-point helpers equal their Python twins on random int32 values.
"""

from __future__ import annotations

import ctypes
import functools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeq.codegen.emitter import generate
from edgeq.compare import tflite_full_integer
from edgeq.interpreter import run_int8
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.tensor import DType, QuantParams
from edgeq.ops import Logistic, Softmax, Tanh
from edgeq.ops.activations import SoftmaxKernel
from edgeq.ops.base import Op
from edgeq.quant import fixedpoint as fx
from edgeq.quant.quantize import quantize_graph
from edgeq.toolchain.host import STRICT_FLAGS, SharedModel, compile_shared, host_cc

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "templates" / "runtime"
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def _op_graph(op: Op, shape: tuple[int, ...], in_q: QuantParams | None = None,
              out_q: QuantParams | None = None) -> tuple[Graph, Node]:
    g = Graph("act")
    g.add_tensor(Tensor("x", shape, DType.INT8 if in_q else DType.FLOAT32, quant=in_q))
    g.add_tensor(Tensor("y", shape, DType.INT8 if out_q else DType.FLOAT32, quant=out_q))
    node = g.add_node(Node("act", op, ["x"], ["y"], source="activation under test"))
    g.inputs, g.outputs = ["x"], ["y"]
    return g, node


# ---------------------------------------------------------------- (a) against TFLite Micro

@functools.cache
def _tflite(activation: str, shape: tuple[int, ...], lo: float, hi: float, beta: float = 1.0) -> bytes:
    tf = pytest.importorskip("tensorflow")
    model = tf.keras.Sequential([tf.keras.Input(shape=shape), tf.keras.layers.Activation(activation)])
    rng = np.random.default_rng(0)

    def representative():
        yield [np.full((1, *shape), lo, np.float32)]
        yield [np.full((1, *shape), hi, np.float32)]
        for _ in range(8):
            yield [rng.uniform(lo, hi, size=(1, *shape)).astype(np.float32)]

    content = tflite_full_integer(model, representative)
    if beta != 1.0:
        from tensorflow.lite.tools import flatbuffer_utils

        fb = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
        (operator,) = fb.subgraphs[0].operators
        operator.builtinOptions.beta = beta
        content = bytes(flatbuffer_utils.convert_object_to_bytearray(fb))
    return content


def _io_quant(content: bytes) -> tuple[tuple[int, ...], QuantParams, QuantParams, list[str]]:
    tf = pytest.importorskip("tensorflow")
    interp = tf.lite.Interpreter(model_content=content)
    interp.allocate_tensors()
    ops = [d["op_name"] for d in interp._get_ops_details() if d["op_name"] != "DELEGATE"]
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    assert i["dtype"] == np.int8 and o["dtype"] == np.int8
    qi = QuantParams.per_tensor(float(i["quantization"][0]), int(i["quantization"][1]))
    qo = QuantParams.per_tensor(float(o["quantization"][0]), int(o["quantization"][1]))
    return tuple(int(d) for d in i["shape"]), qi, qo, ops


def _check_against_tflm(op: Op, tflite_op: str, content: bytes, n_random: int) -> None:
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    shape, qi, qo, ops = _io_quant(content)
    assert ops == [tflite_op]  # the model is the activation alone: its input is the op's input
    graph, node = _op_graph(op, shape, qi, qo)
    kernel = op.quantize(node, graph)
    tflm = runtime.Interpreter.from_bytes(content)
    rng = np.random.default_rng(1)
    size = int(np.prod(shape))
    batches = [np.resize(ALL_INT8, size), np.resize(ALL_INT8[::-1], size),  # every value, twice
               np.full(size, -128, np.int8), np.full(size, 127, np.int8)]
    batches += [rng.integers(-128, 128, size=size, dtype=np.int8) for _ in range(n_random)]
    # Rows with a narrow spread (softmax differences near diff_min and zero).
    batches += [(rng.integers(-3, 4, size=size) + rng.integers(-120, 120)).astype(np.int8) for _ in range(8)]
    checked = 0
    for x in batches:
        x = x.reshape(shape)
        if isinstance(op, Softmax) and _tflm_softmax_aborts(x, kernel):
            continue
        checked += 1
        tflm.set_input(x, 0)
        tflm.invoke()
        expected = tflm.get_output(0)
        got = op.run_int8([x], kernel)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, expected, err_msg=f"{op} {qi} input {x.ravel()[:16]}")
    assert checked >= n_random // 2


def _tflm_softmax_aborts(x: np.ndarray, k: SoftmaxKernel) -> bool:
    """TFLite Micro's TFLITE_CHECK(exponent <= 31) fails for rows whose sum of exps is >= 512."""
    diff = x.astype(np.int64) - x.max(axis=-1, keepdims=True)
    valid = diff >= k.diff_min
    scaled = fx.multiply_by_quantized_multiplier_greater_than_one(np.where(valid, diff, 0), k.input_multiplier,
                                                                   k.input_left_shift)
    terms = np.where(valid, fx.rescale(fx.exp_on_negative_values(scaled, 5), 0, 12), 0)
    _, num_bits_over_unit = fx.get_reciprocal(fx.wrap_int32(terms.sum(axis=-1)), 12)
    return bool(np.any(num_bits_over_unit + 23 > 31))


# Input ranges: ordinary, tiny scale, asymmetric, saturating (beyond +-8 and +-16), huge.
RANGES = [(-6.0, 6.0), (-0.3, 0.2), (-2.0, 30.0), (-40.0, 40.0), (-500.0, 100.0)]


@pytest.mark.parametrize("lo,hi", RANGES)
def test_logistic_matches_tflm(lo: float, hi: float) -> None:
    _check_against_tflm(Logistic(), "LOGISTIC", _tflite("sigmoid", (256,), lo, hi), n_random=30)


@pytest.mark.parametrize("lo,hi", RANGES)
def test_tanh_matches_tflm(lo: float, hi: float) -> None:
    _check_against_tflm(Tanh(), "TANH", _tflite("tanh", (256,), lo, hi), n_random=30)


@pytest.mark.parametrize("shape,lo,hi,beta", [
    ((1,), -5.0, 5.0, 1.0),
    ((2,), -5.0, 5.0, 1.0),
    ((3, 10), -5.0, 5.0, 1.0),
    ((4, 10), -0.2, 0.3, 1.0),  # tiny scale: large left shift, no difference below diff_min
    ((2, 37), -60.0, 40.0, 1.0),  # large scale: many differences below diff_min
    ((1, 256), -10.0, 10.0, 1.0),
    ((1, 1000), -8.0, 8.0, 1.0),
    ((3, 10), -5.0, 5.0, 0.5),
    ((3, 10), -5.0, 5.0, 3.0),
])
def test_softmax_matches_tflm(shape: tuple[int, ...], lo: float, hi: float, beta: float) -> None:
    content = _tflite("softmax", shape, lo, hi, beta)
    _check_against_tflm(Softmax(beta=beta), "SOFTMAX", content, n_random=40)


# ---------------------------------------------------------------- (b) generated C == numpy

def _check_c(op: Op, shape: tuple[int, ...], lo: float, hi: float, samples: np.ndarray, tmp: Path) -> None:
    graph, _ = _op_graph(op, shape)
    rng = np.random.default_rng(2)
    calib = np.concatenate([np.full((1, *shape[1:]), lo), np.full((1, *shape[1:]), hi),
                            rng.uniform(lo, hi, size=(6, *shape[1:]))]).astype(np.float32)
    q = quantize_graph(graph, [calib])
    expected = run_int8(q, [samples])[0]
    src = generate(q, tmp / "src")
    lib = compile_shared(tmp / "src", tmp / "model.so")
    size = int(np.prod(shape))
    got = SharedModel(lib, src.c_name, size, size).run(samples)
    np.testing.assert_array_equal(got, expected.reshape(len(samples), -1))


@pytest.mark.parametrize("op", [Logistic(), Tanh()], ids=["logistic", "tanh"])
@pytest.mark.parametrize("lo,hi", [(-6.0, 6.0), (-0.3, 0.2), (-40.0, 40.0), (-500.0, 100.0)])
def test_sigmoid_c_matches_numpy(op: Op, lo: float, hi: float, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    shape = (1, 4, 8, 8)  # 256 elements: one sample is every int8 value
    samples = np.stack([np.resize(ALL_INT8, 256), rng.permutation(ALL_INT8), rng.integers(-128, 128, 256)])
    _check_c(op, shape, lo, hi, samples.astype(np.int8).reshape(-1, *shape[1:]), tmp_path)


@pytest.mark.parametrize("shape,lo,hi,beta", [
    ((1, 1), -5.0, 5.0, 1.0),
    ((1, 10), -5.0, 5.0, 1.0),
    ((1, 3, 7), -0.2, 0.3, 1.0),
    ((1, 2, 3, 37), -60.0, 40.0, 1.0),
    ((1, 256), -10.0, 10.0, 1.0),
    ((1, 5, 12), -5.0, 5.0, 0.25),
    ((1, 5, 12), -5.0, 5.0, 4.0),
    ((1, 2, 700), -1.0, 1.0, 1.0),  # sums of exps >= 512: where TFLite Micro aborts, all -128
])
def test_softmax_c_matches_numpy(shape: tuple[int, ...], lo: float, hi: float, beta: float,
                                 tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    size = int(np.prod(shape))
    rows = [np.resize(ALL_INT8, size), np.resize(ALL_INT8[::-1], size), np.full(size, 5, np.int8)]
    rows += [rng.integers(-128, 128, size) for _ in range(10)]
    rows += [rng.integers(-3, 4, size) + rng.integers(-120, 120) for _ in range(5)]
    samples = np.stack(rows).astype(np.int8).reshape(-1, *shape[1:])
    _check_c(Softmax(beta=beta), shape, lo, hi, samples, tmp_path)


# ---------------------------------------------------------------- (c) C helpers == Python twins

_SHIM = r"""
#include "edgeq_fixedpoint.h"
#define EACH(name, expr) \
    void name(const int32_t *a, int32_t *r, int n, int k) { for (int i = 0; i < n; ++i) r[i] = (expr); (void)k; }
EACH(exp_neg, edgeq_exp_on_negative_values(a[i], k))
EACH(logistic, edgeq_fixed_logistic(a[i], k))
EACH(tanh_, edgeq_fixed_tanh(a[i], k))
EACH(one_over, edgeq_one_over_one_plus_x(a[i]))
EACH(srmbpot, edgeq_srmbpot(a[i], k))
EACH(half_sum, i % 2 == 0 ? edgeq_rounding_half_sum(a[i], a[i + 1]) : 0)
void recip(const int32_t *a, int32_t *r, int n, int k)
{
    for (int i = 0; i < n; ++i) {
        int32_t nb;
        r[2 * i] = edgeq_reciprocal(a[i], k, &nb);
        r[2 * i + 1] = nb;
    }
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(_SHIM)
    subprocess.run([host_cc(), *STRICT_FLAGS, "-O2", "-fPIC", "-shared", f"-I{RUNTIME_DIR}", str(d / "shim.c"),
                    "-o", str(d / "shim.so")], check=True, capture_output=True)
    return ctypes.CDLL(str(d / "shim.so"))


def _call(lib: ctypes.CDLL, name: str, a: np.ndarray, arg: int, out_per_item: int = 1) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.int32)
    r = np.zeros(a.size * out_per_item, dtype=np.int32)
    getattr(lib, name)(a.ctypes.data_as(ctypes.c_void_p), r.ctypes.data_as(ctypes.c_void_p), a.size, arg)
    return r.astype(np.int64)


def test_fixedpoint_helpers_c_matches_python(shim: ctypes.CDLL) -> None:
    rng = np.random.default_rng(5)
    anything = rng.integers(-(2**31), 2**31, 20000)
    negative = np.concatenate([-rng.integers(0, 2**31, 20000), [0, -1, -(2**31), -(2**31) + 1]])
    for bits in (0, 1, 3, 4, 5, 6, 8, 12):
        np.testing.assert_array_equal(_call(shim, "exp_neg", negative, bits), fx.exp_on_negative_values(negative, bits))
    # logistic/tanh inputs stay inside +-radius, well away from INT32_MIN.
    bounded = rng.integers(-(2**31) + 1, 2**31, 20000)
    for bits in (2, 4, 6):
        np.testing.assert_array_equal(_call(shim, "logistic", bounded, bits), fx.fixed_logistic(bounded, bits))
        np.testing.assert_array_equal(_call(shim, "tanh_", bounded, bits), fx.fixed_tanh(bounded, bits))
    unit = rng.integers(0, 2**31, 20000)
    np.testing.assert_array_equal(_call(shim, "one_over", unit, 0), fx.one_over_one_plus_x_for_x_in_0_1(unit))
    sums = np.concatenate([rng.integers(1, 2**31, 5000), rng.integers(2**19, 2**24, 5000), [1, 2**19, 2**31 - 1]])
    for digits in (0, 12):
        raw, nbou = fx.get_reciprocal(sums, digits)
        np.testing.assert_array_equal(_call(shim, "recip", sums, digits, 2), np.stack([raw, nbou], 1).ravel())
    for e in (-31, -12, -1, 1, 2, 5, 30):
        np.testing.assert_array_equal(_call(shim, "srmbpot", anything, e),
                                      fx.saturating_rounding_multiply_by_pot(anything, e))
    got = _call(shim, "half_sum", anything, 0)[::2]
    np.testing.assert_array_equal(got, fx.rounding_half_sum(anything[::2], anything[1::2]))


def test_helpers_approximate_the_real_functions() -> None:
    x = np.arange(-(2**30), 2**30, 2**21)
    assert np.max(np.abs(fx.fixed_logistic(x, 4) / 2**31 - 1 / (1 + np.exp(-x / 2**27)))) < 1e-6
    assert np.max(np.abs(fx.fixed_tanh(x, 4) / 2**31 - np.tanh(x / 2**27))) < 1e-6
    neg = np.arange(-(2**31), 1, 2**22)
    assert np.max(np.abs(fx.exp_on_negative_values(neg, 5) / 2**31 - np.exp(neg / 2**26))) < 1e-6


def test_softmax_sum_of_512_or_more_gives_minus_128() -> None:
    graph, node = _op_graph(Softmax(), (1, 600), QuantParams.per_tensor(0.05, 0), Softmax().fixed_output_quant())
    kernel = Softmax().quantize(node, graph)
    x = np.full((3, 600), 7, np.int8)
    x[1, :300] = -100  # a sum of 300: ordinary path
    y = Softmax().run_int8([x], kernel)
    assert np.all(y[0] == -128) and np.all(y[2] == -128)
    assert not _tflm_softmax_aborts(x[1:2], kernel) and _tflm_softmax_aborts(x[0:1], kernel)
    assert np.all(y[1, 300:] == -127)  # 1/300 of 256 steps rounds to 1


def test_fixed_output_is_required() -> None:
    graph, node = _op_graph(Logistic(), (1, 4), QuantParams.per_tensor(0.1, 0), QuantParams.per_tensor(0.01, 0))
    with pytest.raises(ValueError, match="output must have"):
        Logistic().quantize(node, graph)

