"""The specialised kernels' DSP variant (SXTB16/SMLAD) on an emulated Cortex-M4, byte for
byte against the numpy int8 reference: one-op graphs built for qemu-cortex-m4 and run under
QEMU. (The portable variant is checked on the host by test_ops_conformance.py; the float-bias
requantization on both variants, on emulated Cortex-M4 and Cortex-M3, here.)"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops import NO_ACTIVATION, RELU, RELU6, Activation, Conv2D, DepthwiseConv2D, FullyConnected
from edgeq.ops.common import FLOAT32_REQUANT, REQUANT_META, bias64_constants
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import check_on_board, one_op_graph
from tests.ops.chains import mobilenet_chain, residual_block

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


def _conv(rng, x, oc, k, stride=1, dil=1, pad=(0, 0, 0, 0), act=RELU):
    return one_op_graph(Conv2D(stride=(stride, stride), dilation=(dil, dil), padding=pad, activation=act),
                        [x], [rng.normal(size=(oc, k, k, x[3])), rng.normal(size=oc)])


def _dw(rng, x, k, m=1, stride=1, pad=(0, 0, 0, 0), act=RELU6, dil=(1, 1)):
    return one_op_graph(DepthwiseConv2D(stride=(stride, stride), dilation=dil, padding=pad, depth_multiplier=m,
                                        activation=act),
                        [x], [rng.normal(size=(1, k, k, x[3] * m)), rng.normal(size=x[3] * m)])


def _dw_mixed(rng) -> Graph:
    """A 3x3 depthwise (the dsp kernel's 3x3 path) and a 5x5 one (its tap path) in one model."""
    g = Graph("dwmixed")
    g.add_tensor(Tensor("x", (1, 7, 6, 8)))
    g.inputs = ["x"]
    t = "x"
    for i, k in enumerate([3, 5]):
        op = DepthwiseConv2D(padding=(k // 2,) * 4, activation=RELU6)
        w = g.add_constant(f"w{i}", rng.normal(size=(1, k, k, 8)))
        b = g.add_constant(f"b{i}", rng.normal(size=8))
        g.add_tensor(Tensor(f"y{i}", (1, 7, 6, 8)))
        g.add_node(Node(f"dw{i}", op, [t, w, b], [f"y{i}"]))
        t = f"y{i}"
    g.outputs = [t]
    verify(g)
    return g


def _fc(rng, n_in, n_out, per_channel=False, act=NO_ACTIVATION):
    return one_op_graph(FullyConnected(activation=act, per_channel=per_channel), [(1, n_in)],
                        [rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)])


CASES = {
    "conv3x3_c3_odd": lambda r: _conv(r, (1, 7, 9, 3), 5, 3, pad=(1, 1, 1, 1)),
    "conv3x3_c8_s2": lambda r: _conv(r, (1, 9, 8, 8), 6, 3, stride=2, pad=(0, 1, 0, 1), act=Activation()),
    "conv3x3_c4_dil2": lambda r: _conv(r, (1, 8, 8, 4), 4, 3, dil=2, pad=(2, 2, 1, 1)),
    "conv1x1_c16": lambda r: _conv(r, (1, 5, 5, 16), 7, 1),
    "conv1x1_c6_s2": lambda r: _conv(r, (1, 6, 6, 6), 4, 1, stride=2),
    "conv1x1_c8_s2_odd": lambda r: _conv(r, (1, 5, 5, 8), 5, 1, stride=2),  # 9 pixels, 5 channels
    "conv1x1_c4_pad": lambda r: _conv(r, (1, 4, 3, 4), 6, 1, pad=(1, 0, 0, 1)),  # 1x1 with padding: im2col
    # few input channels: windows gathered as bytes (rows by words) or converted in place (1x1, 4k channels)
    "conv1x1_c1_odd": lambda r: _conv(r, (1, 5, 3, 1), 3, 1),  # 15 pixels
    "conv3x3_c1_s2_pad": lambda r: _conv(r, (1, 9, 7, 1), 4, 3, stride=2, pad=(1, 1, 1, 1)),
    "conv3x3_c2_pad": lambda r: _conv(r, (1, 5, 6, 2), 5, 3, pad=(1, 1, 1, 1)),
    "conv2x2_c2_pad": lambda r: _conv(r, (1, 5, 5, 2), 3, 2, pad=(0, 1, 0, 1)),  # 4-byte rows, 2 channels
    "conv1x1_c3": lambda r: _conv(r, (1, 4, 5, 3), 6, 1),
    "conv3x3_c3_s2_pad": lambda r: _conv(r, (1, 11, 11, 3), 8, 3, stride=2, pad=(0, 1, 0, 1)),  # as VWW's first
    "conv1x1_c5_s2_odd": lambda r: _conv(r, (1, 5, 5, 5), 4, 1, stride=2),  # 9 pixels
    # windows of 3 rows of 9 bytes (the dsp im2col's unaligned-word path) of other shapes: 3x9 of
    # 1 channel, 3x1 of 9, rows 2 apart; then depth 27 in 9 rows of 3 and 3x3 dilated by column
    "conv3x9_c1_s2": lambda r: one_op_graph(Conv2D(stride=(2, 1), padding=(1, 1, 4, 3), activation=RELU),
                                            [(1, 7, 12, 1)], [r.normal(size=(4, 3, 9, 1)), r.normal(size=4)]),
    "conv3x1_c9": lambda r: one_op_graph(Conv2D(padding=(1, 1, 0, 0), activation=RELU),
                                         [(1, 5, 3, 9)], [r.normal(size=(6, 3, 1, 9)), r.normal(size=6)]),
    "conv3x3_c3_dil2x1": lambda r: one_op_graph(Conv2D(dilation=(2, 1), padding=(2, 1, 1, 0), activation=RELU),
                                                [(1, 8, 7, 3)], [r.normal(size=(5, 3, 3, 3)), r.normal(size=5)]),
    "conv9x3_c1": lambda r: one_op_graph(Conv2D(padding=(4, 4, 1, 1), activation=RELU),
                                         [(1, 10, 5, 1)], [r.normal(size=(3, 9, 3, 1)), r.normal(size=3)]),
    "conv3x3_c3_dil1x2": lambda r: one_op_graph(Conv2D(dilation=(1, 2), padding=(1, 1, 2, 2), activation=RELU),
                                                [(1, 6, 9, 3)], [r.normal(size=(4, 3, 3, 3)), r.normal(size=4)]),
    # rows not whole words inside the input, group by group from the rows: 5 bytes (the groups across
    # rows carry 1, 2 and 3 bytes), 21 bytes, and rows of 2 bytes (two rows a group; one row a window)
    "conv5x5_c1_pad": lambda r: _conv(r, (1, 9, 8, 1), 4, 5, pad=(2, 2, 2, 2)),
    "conv7x7_c3_s2": lambda r: _conv(r, (1, 13, 12, 3), 6, 7, stride=2, pad=(2, 3, 2, 3)),
    "conv2x2_c1": lambda r: _conv(r, (1, 5, 6, 1), 3, 2),
    "conv1x1_c2": lambda r: _conv(r, (1, 3, 5, 2), 4, 1),
    # border windows of few channels row by row: wholly in the padding (pad 3, 2x2), clipped on
    # both sides at once (input narrower than the window); 5 channels just below
    "conv2x2_c3_pad3": lambda r: _conv(r, (1, 4, 5, 3), 4, 2, pad=(3, 3, 3, 3)),
    "conv3x3_c1_w2_pad2": lambda r: _conv(r, (1, 5, 2, 1), 3, 3, pad=(2, 2, 2, 2)),
    "conv3x3_c5_pad": lambda r: _conv(r, (1, 6, 7, 5), 4, 3, pad=(1, 1, 1, 1)),
    "conv1x1_c8_odd": lambda r: _conv(r, (1, 7, 5, 8), 6, 1),  # 35 pixels
    "conv3x3_c8_pad_odd": lambda r: _conv(r, (1, 5, 3, 8), 4, 3, pad=(1, 1, 1, 1)),  # 15 pixels
    "dw3x3_c8": lambda r: _dw(r, (1, 7, 6, 8), 3, pad=(1, 1, 1, 1)),
    "dw3x3_c12_s2": lambda r: _dw(r, (1, 9, 9, 12), 3, stride=2, pad=(0, 1, 0, 1)),
    "dw3x3_c5_m2": lambda r: _dw(r, (1, 6, 6, 5), 3, m=2, pad=(1, 1, 1, 1)),
    # the dsp kernel's 3x3 path: odd widths, stride 2, no padding, windows wholly in the padding,
    # a one-column input, row dilation; then its tap path (dilated columns, 5x5) and both in one model
    "dw3x3_c4_w7": lambda r: _dw(r, (1, 5, 7, 4), 3, pad=(1, 1, 1, 1)),
    "dw3x3_c8_s2_odd": lambda r: _dw(r, (1, 7, 9, 8), 3, stride=2, pad=(1, 1, 1, 1)),
    "dw3x3_c16_valid": lambda r: _dw(r, (1, 6, 5, 16), 3, act=NO_ACTIVATION),
    "dw3x3_c12_pad2": lambda r: _dw(r, (1, 4, 5, 12), 3, pad=(2, 1, 2, 0)),
    "dw3x3_c4_w1": lambda r: _dw(r, (1, 5, 1, 4), 3, pad=(1, 1, 1, 1)),
    "dw3x3_c8_dil2x1": lambda r: _dw(r, (1, 8, 6, 8), 3, pad=(2, 2, 1, 1), dil=(2, 1)),
    "dw3x3_c8_s3": lambda r: _dw(r, (1, 10, 8, 8), 3, stride=3, pad=(1, 1, 1, 1)),  # rows needing two new pairs
    "dw3x3_c8_dil2": lambda r: _dw(r, (1, 8, 7, 8), 3, pad=(2, 2, 2, 2), dil=(2, 2)),
    "dw5x5_c8_s2": lambda r: _dw(r, (1, 9, 8, 8), 5, stride=2, pad=(2, 2, 2, 2)),
    "dw_mixed_3x3_5x5": _dw_mixed,
    "fc_37_11": lambda r: _fc(r, 37, 11),
    "fc_64_8_pc": lambda r: _fc(r, 64, 8, per_channel=True, act=RELU),
    "fc_rows3_21_12": lambda r: one_op_graph(FullyConnected(activation=RELU), [(1, 3, 21)],
                                             [r.normal(size=(12, 21)), r.normal(size=12)]),
    # output ranges far below the accumulators' step: multipliers above one (general requantization)
    "conv3x3_c8_gen": lambda r: _conv(r, (1, 6, 5, 8), 6, 3, pad=(1, 1, 1, 1), act=Activation(0.0, 0.02)),
    "dw3x3_c8_gen": lambda r: _dw(r, (1, 5, 6, 8), 3, pad=(1, 1, 1, 1), act=Activation(0.0, 0.02)),
    "fc_36_12_gen": lambda r: _fc(r, 36, 12, act=Activation(0.0, 0.02)),
    # several layers writing over their dying inputs (shifted in-place buffers)
    "chain_mobilenet": lambda r: mobilenet_chain(r),
    "chain_residual": lambda r: residual_block(r),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dsp_kernel_on_cortex_m4(case: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(sorted(CASES).index(case))
    graph = CASES[case](rng)
    shape = graph.tensors[graph.inputs[0]].shape
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    samples = rng.normal(size=(3, *shape[1:])).astype(np.float32) * 3
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    check_on_board(graph, q, xq, "qemu-cortex-m4", tmp_path / "build", f"opcheck_{case}")


#: Layers of the float-bias requantization (PyTorch fbgemm/x86 imports): (acc * m + K) >> 31.
BIAS64_CASES = {
    "conv3x3_c3_odd": CASES["conv3x3_c3_odd"],
    "conv1x1_c16": CASES["conv1x1_c16"],
    "dw3x3_c8": CASES["dw3x3_c8"],
    "dw3x3_c5_m1": lambda r: _dw(r, (1, 6, 5, 5), 3, pad=(1, 1, 1, 1)),  # channels not a multiple of 4
    "dw3x3_c5_m2": CASES["dw3x3_c5_m2"],  # the generic kernel
    "fc_37_11": CASES["fc_37_11"],
    "fc_64_8_pc": CASES["fc_64_8_pc"],
}


@pytest.mark.parametrize("board_id", ["qemu-cortex-m4", "qemu-cortex-m3", "qemu-cortex-m55"])  # dsp, portable, mve->dsp
@pytest.mark.parametrize("case", sorted(BIAS64_CASES))
def test_bias64_requantization(case: str, board_id: str, tmp_path: Path) -> None:
    """Float32 requantization constants and a bias fraction per channel (its extremes +-0.5 on
    the first two channels) in the 64-bit rounding constant, byte for byte."""
    rng = np.random.default_rng(100 + sorted(BIAS64_CASES).index(case))
    graph = BIAS64_CASES[case](rng)
    graph.meta[REQUANT_META] = FLOAT32_REQUANT
    shape = graph.tensors[graph.inputs[0]].shape
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    node = q.nodes[0]
    k = node.kernel
    assert np.all(k.shifts == 0)
    n = len(q.tensors[node.inputs[2]].data)
    fraction = rng.uniform(-0.5, 0.5, n)
    fraction[:2] = [0.5, -0.5]
    node.kernel = dataclasses.replace(k, bias64=bias64_constants(fraction, np.broadcast_to(k.multipliers, (n,))))
    samples = rng.normal(size=(3, *shape[1:])).astype(np.float32) * 3
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    build = check_on_board(graph, q, xq, board_id, tmp_path / "build", f"opcheck_b64_{case}")
    src = (build / "src" / "model.c").read_text() if (build / "src" / "model.c").exists() else None
    if src is not None and case != "dw3x3_c5_m2":
        assert "_bias64(" in src


@pytest.mark.parametrize("pointwise", [False, True])
def test_conv_wide_right_shifts_on_cortex_m4(pointwise: bool, tmp_path: Path) -> None:
    """A conv layer the short requantization refuses (right shifts up to 31, a channel with
    multiplier 0) takes the dsp kernel's "wide" one (SMMLAR, rounding in two halvings), byte for
    byte; accumulators near their bound (large biases) included."""
    rng = np.random.default_rng(7 + pointwise)
    k, shape = (1, (1, 5, 7, 16)) if pointwise else (3, (1, 6, 5, 8))
    w = rng.normal(size=(6, k, k, shape[3]))
    w[1] *= 1e-7  # multiplier far below one: right shift beyond 23
    w[4] *= 1e-4
    b = rng.normal(size=6) * 3
    graph = one_op_graph(Conv2D(padding=(0, 0, 0, 0) if pointwise else (1, 1, 1, 1), activation=Activation()),
                         [shape], [w, b])
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    node = q.nodes[0]
    mult, shifts = node.kernel.multipliers.copy(), node.kernel.shifts.copy()
    mult[2], shifts[2] = 0, 0  # a dead channel: its output is the offset
    shifts[5] = -31
    node.kernel = dataclasses.replace(node.kernel, multipliers=mult, shifts=shifts)
    assert node.op.kernel_context(node, q, ("dsp",))["rq_kind"] == "wide"
    samples = rng.normal(size=(4, *shape[1:])).astype(np.float32) * 3
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    xq[0] = 127  # the largest accumulators of both signs
    xq[1] = -128
    build = check_on_board(graph, q, xq, "qemu-cortex-m4", tmp_path / "build", f"opcheck_wide_{int(pointwise)}")
    assert "_conv2d_dsp_wide(" in (build / "src" / "model.c").read_text()
