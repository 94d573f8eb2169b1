"""Requantization constants of float32 runtimes (graph.meta requantization = float32): the float32
multiplier held unnormalized with shift 0 rounds once, like PyTorch's and onnxruntime's float
multiply-and-round; the same integer kernels (numpy == generated C) run them."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ops import RELU, Activation, Clamp, Conv2D, DepthwiseConv2D, FullyConnected
from edgeq.ops.common import FLOAT32_REQUANT, REQUANT_META, per_channel_multipliers, requant_multiplier
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from tests.opcheck import check_generated_c, one_op_graph


def test_one_rounding_of_the_float32_product() -> None:
    rng = np.random.default_rng(0)
    in_s, out_s = np.float32(0.0123), np.float32(0.0571)
    w_s = rng.uniform(0.005, 0.05, size=32).astype(np.float32)
    mult, shift = per_channel_multipliers(float(in_s), w_s.astype(np.float64), float(out_s), 32, float32=True)
    assert np.all(shift == 0) and np.all(mult < 2**30)
    real = ((in_s * w_s).astype(np.float32) / out_s).astype(np.float32)
    acc = rng.integers(-40000, 40000, size=(5000, 32))
    ours = multiply_by_quantized_multiplier(acc, mult[None], shift[None])
    theirs = np.rint((acc.astype(np.float32) * real).astype(np.float32))
    # Equal but where the float32 product itself rounds across a half (1 of 160000 here).
    assert int((ours != theirs).sum()) <= 2
    # TFLite's constants round twice: hundreds of the same products differ.
    m2, s2 = per_channel_multipliers(float(in_s), w_s.astype(np.float64), float(out_s), 32)
    assert int((multiply_by_quantized_multiplier(acc, m2[None], s2[None]) != theirs).sum()) > 300


def test_outside_the_single_rounding_range_tflite_constants() -> None:
    for real in (3e-5, 1.5):  # below 2^-11, at least 1: TFLite's pair of the float32 multiplier
        assert requant_multiplier(real, np.float32(real)) == quantize_multiplier(float(np.float32(real)))
    assert requant_multiplier(0.3) == quantize_multiplier(0.3)
    assert requant_multiplier(0.3, np.float32(0.3)) == (round(float(np.float32(0.3)) * 2**31), 0)


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
def test_generated_c_equals_numpy(kind: str) -> None:
    rng = np.random.default_rng(["conv", "depthwise", "dense"].index(kind))
    if kind == "conv":
        g = one_op_graph(Conv2D(padding=(1, 1, 1, 1), activation=RELU), [(1, 6, 7, 3)],
                         [rng.normal(size=(5, 3, 3, 3)), rng.normal(size=5)])
    elif kind == "depthwise":
        g = one_op_graph(DepthwiseConv2D(padding=(1, 1, 1, 1)), [(1, 6, 7, 4)],
                         [rng.normal(size=(1, 3, 3, 4)), rng.normal(size=4)])
    else:
        g = one_op_graph(FullyConnected(activation=Activation(), per_channel=True), [(1, 40)],
                         [rng.normal(size=(9, 40)), rng.normal(size=9)])
    g.meta[REQUANT_META] = FLOAT32_REQUANT
    shape = g.tensors[g.inputs[0]].shape
    calib = rng.normal(size=(16, *shape[1:])).astype(np.float32)
    q = check_generated_c(g, calib, rng.normal(size=(8, *shape[1:])).astype(np.float32) * 3)
    k = q.nodes[0].kernel
    assert np.any((np.asarray(k.shifts) == 0) & (np.asarray(k.multipliers) < 2**30))


@pytest.mark.parametrize("kind", ["mul", "concat", "clamp"])
def test_rescaling_ops_generated_c_equals_numpy(kind: str) -> None:
    """MUL, CONCAT's requantized parts and a requantizing CLAMP with the float32 constants."""
    from tests.ops.test_ops_conformance import _branch_graph

    rng = np.random.default_rng(40 + ["mul", "concat", "clamp"].index(kind))
    g = one_op_graph(Clamp(activation=Activation(-1.0, 2.0)), [(1, 4, 5, 3)]) if kind == "clamp" \
        else _branch_graph(kind, rng)
    g.meta[REQUANT_META] = FLOAT32_REQUANT
    calib = rng.normal(size=(16, 4, 5, 3)).astype(np.float32)
    q = check_generated_c(g, calib, rng.normal(size=(8, 4, 5, 3)).astype(np.float32) * 3)
    k = q.nodes[-1].kernel
    pairs = [(p.multiplier, p.shift) for p in k.parts if p is not None] if kind == "concat" else \
        [(k.output_multiplier, k.output_shift)] if kind == "mul" else [(k.multiplier, k.shift)]
    # The clamp narrows the range (a multiplier above 1: TFLite's left shift, one rounding too).
    assert pairs and all(s == 0 for m, s in pairs) == (kind != "clamp")
