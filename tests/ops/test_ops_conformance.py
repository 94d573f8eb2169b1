"""Every op: numpy int8 reference vs generated C, byte for byte, over random geometry."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ir import Tensor
from edgeq.ir.graph import Node
from edgeq.ops import (
    RELU,
    RELU6,
    Activation,
    Add,
    AvgPool2D,
    Clamp,
    Concat,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    MaxPool2D,
    Mul,
    Pad,
    Reshape,
    Transpose,
)
from edgeq.ops.common import same_padding
from edgeq.ops.pool2d import HALF_AWAY, HALF_EVEN, HALF_EVEN_ZP, ROUNDINGS, PoolKernel
from tests.opcheck import check_generated_c, float_close_enough, one_op_graph

RNG_SEEDS = range(6)


def _data(rng: np.random.Generator, shape: tuple[int, ...], n: int, scale: float = 1.0) -> np.ndarray:
    return (rng.normal(size=(n, *shape[1:])) * scale).astype(np.float32)


def _check(graph, rng, scale=1.0, n_samples=8, outlier=3.0):
    shape = graph.tensors[graph.inputs[0]].shape
    calib = _data(rng, shape, 16, scale)
    # Samples beyond the calibrated range exercise saturation.
    samples = _data(rng, shape, n_samples, scale * outlier)
    q = check_generated_c(graph, calib, samples)
    float_close_enough(graph, q, _data(rng, shape, 8, scale), min_corr=0.9)
    return q


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_conv2d_random_geometry(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kh, kw = rng.integers(1, 4, size=2)
    sh, sw = rng.integers(1, 3, size=2)
    dh, dw = rng.integers(1, 3, size=2)
    h, w = rng.integers(5, 11, size=2)
    cin, cout = rng.integers(1, 6, size=2)
    pad = (int(rng.integers(0, 2)), int(rng.integers(0, 2)), int(rng.integers(0, 2)), int(rng.integers(0, 2)))
    act = [Activation(), RELU, RELU6][seed % 3]
    op = Conv2D(stride=(int(sh), int(sw)), dilation=(int(dh), int(dw)), padding=pad, activation=act)
    g = one_op_graph(op, [(1, int(h), int(w), int(cin))],
                     [rng.normal(size=(cout, kh, kw, cin)), rng.normal(size=cout)])
    _check(g, rng)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_same_padding(stride: int) -> None:
    rng = np.random.default_rng(stride)
    t, b = same_padding(7, 3, stride)
    op = Conv2D(stride=(stride, stride), padding=(t, b, t, b), activation=RELU)
    _check(one_op_graph(op, [(1, 7, 7, 3)], [rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)]), rng)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_depthwise_random_geometry(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(1, 4))
    s, d = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    c, m = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    h = int(rng.integers(k * d + 1, 12))
    pad = tuple(int(v) for v in rng.integers(0, 2, size=4))
    op = DepthwiseConv2D(stride=(s, s), dilation=(d, d), padding=pad, depth_multiplier=m,
                         activation=[Activation(), RELU6][seed % 2])
    g = one_op_graph(op, [(1, h, h + 1, c)], [rng.normal(size=(1, k, k, c * m)), rng.normal(size=c * m)])
    _check(g, rng)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_fully_connected(seed: int, per_channel: bool) -> None:
    rng = np.random.default_rng(200 + seed)
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 20))
    op = FullyConnected(activation=[Activation(), RELU][seed % 2], per_channel=per_channel)
    _check(one_op_graph(op, [(1, n_in)], [rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)]), rng)


@pytest.mark.parametrize("op_type", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("seed", range(4))
def test_pools(op_type: type, seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    k, s = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    pad = (k // 2, k // 2, k // 2, k // 2) if seed % 2 else (0, 0, 0, 0)
    op = op_type(kernel_size=(k, k), stride=(s, s), padding=pad, activation=[Activation(), RELU][seed % 2])
    _check(one_op_graph(op, [(1, 8, 7, 3)]), rng)


def test_global_average_pool_rounding() -> None:
    rng = np.random.default_rng(7)
    _check(one_op_graph(AvgPool2D(kernel_size=(5, 5), stride=(1, 1)), [(1, 5, 5, 6)]), rng)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("seed", range(3))
def test_avg_pool_roundings_c(rounding: str, seed: int) -> None:
    """Every rounding, with padding (windows of several sizes) and even windows (ties), in C."""
    rng = np.random.default_rng(320 + seed)
    k = (2, 2) if seed == 0 else (int(rng.integers(2, 4)), int(rng.integers(2, 4)))
    pad = (0, 0, 0, 0) if seed == 0 else (1, 1, 0, 1)
    op = AvgPool2D(kernel_size=k, stride=(1, 2), padding=pad, rounding=rounding,
                   activation=[Activation(), RELU][seed % 2])
    q = _check(one_op_graph(op, [(1, 7, 8, 4)]), rng, n_samples=16)
    assert q.nodes[0].kernel.center == (q.tensors["in0"].quant.zp if rounding == HALF_EVEN_ZP else 0)


@pytest.mark.parametrize("zp", [-3, 0, 6])
def test_avg_pool_ties(zp: int) -> None:
    """Halves: away from zero (TFLite), to the even int8 value, to an even distance from the zero point."""
    x = np.random.default_rng(zp + 10).integers(-128, 128, size=(50, 4, 4, 3)).astype(np.int8)
    total = x.astype(np.int64).reshape(50, 2, 2, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(50, 2, 2, 4, 3).sum(3)
    half = total % 4 == 2
    assert half.mean() > 0.15
    expect = {HALF_AWAY: np.sign(total) * np.floor(np.abs(total) / 4 + 0.5), HALF_EVEN: np.rint(total / 4),
              HALF_EVEN_ZP: np.rint((total - zp * 4) / 4) + zp}
    for rounding, want in expect.items():
        op = AvgPool2D(kernel_size=(2, 2), stride=(2, 2), rounding=rounding)
        got = op.run_int8([x], PoolKernel(-128, 127, zp if rounding == HALF_EVEN_ZP else 0))
        np.testing.assert_array_equal(got, want, err_msg=rounding)
    with pytest.raises(ValueError, match="rounding"):
        AvgPool2D(rounding="up")


@pytest.mark.parametrize("act", [RELU, RELU6, Activation(-1.0, 1.0)])
def test_clamp(act: Activation) -> None:
    rng = np.random.default_rng(8)
    _check(one_op_graph(Clamp(activation=act), [(1, 4, 4, 3)]), rng, scale=4.0)


def test_shape_ops() -> None:
    rng = np.random.default_rng(9)
    _check(one_op_graph(Reshape(shape=(1, 60)), [(1, 3, 4, 5)]), rng)
    _check(one_op_graph(Transpose(perm=(0, 3, 1, 2)), [(1, 3, 4, 5)]), rng)
    _check(one_op_graph(Pad(padding=(1, 2, 0, 3)), [(1, 3, 4, 5)]), rng)


def _branch_graph(kind: str, rng: np.random.Generator):
    """x -> 1x1 conv -> y; op(x, y): operands with different quantization parameters."""
    g = one_op_graph(Conv2D(), [(1, 4, 5, 3)], [rng.normal(size=(3, 1, 1, 3)) * 2, rng.normal(size=3)])
    y = "out"
    if kind == "concat":
        op, shape = Concat(axis=-1), (1, 4, 5, 6)
    else:
        op, shape = (Add if kind == "add" else Mul)(activation=RELU if kind == "add" else Activation()), (1, 4, 5, 3)
    g.add_tensor(Tensor("z", shape))
    g.add_node(Node("op2", op, ["in0", y], ["z"]))
    g.outputs = ["z"]
    return g


@pytest.mark.parametrize("kind", ["add", "mul", "concat"])
@pytest.mark.parametrize("seed", range(3))
def test_two_operand_ops(kind: str, seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    _check(_branch_graph(kind, rng), rng)


def test_concat_same_params_copies() -> None:
    rng = np.random.default_rng(10)
    g = one_op_graph(Reshape(shape=(1, 2, 2, 3)), [(1, 2, 2, 3)])
    g.add_tensor(Tensor("z", (1, 2, 2, 6)))
    g.add_node(Node("cat", Concat(axis=3), ["out", "out"], ["z"]))
    g.outputs = ["z"]
    q = _check(g, rng)
    assert q.nodes[1].kernel.parts == (None, None)


def test_saturation_extremes() -> None:
    """Huge weights and inputs far outside the calibrated range saturate identically."""
    rng = np.random.default_rng(11)
    op = Conv2D(padding=(1, 1, 1, 1))
    g = one_op_graph(op, [(1, 5, 5, 2)], [rng.normal(size=(3, 3, 3, 2)) * 50, rng.normal(size=3) * 100])
    _check(g, rng, outlier=100.0)


@pytest.mark.parametrize("op_type", ["conv", "dense"])
def test_dead_channel_with_bias_fits_int32(op_type: str) -> None:
    """A channel whose weights are (almost) zero but whose bias is not — common after folding
    batch norm — gets a larger weight scale instead of a bias beyond int32."""
    rng = np.random.default_rng(12)
    if op_type == "conv":
        w = rng.normal(size=(4, 3, 3, 2))
        w[1] = 1e-12
        g = one_op_graph(Conv2D(padding=(1, 1, 1, 1)), [(1, 5, 5, 2)], [w, np.array([0.1, 50.0, -0.2, 0.3])])
    else:
        w = rng.normal(size=(3, 16))
        w[2] = 0.0
        g = one_op_graph(FullyConnected(per_channel=True), [(1, 16)], [w, np.array([0.1, -0.2, -80.0])])
    q = _check(g, rng)
    bias = q.tensors[q.nodes[0].inputs[2]].data
    assert np.all(np.abs(bias.astype(np.int64)) <= 2**30)
