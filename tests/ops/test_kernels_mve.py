"""The specialised kernels' Helium variant (MVE: VMLADAVA dot products, 32-bit lane depthwise,
vector requantization) on an emulated Cortex-M55, byte for byte against the numpy int8
reference: one-op graphs built for qemu-cortex-m55 and run under QEMU."""

from __future__ import annotations

import dataclasses
import shutil
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops import NO_ACTIVATION, RELU, RELU6, Activation, Conv2D, DepthwiseConv2D, FullyConnected
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import check_on_board, one_op_graph
from tests.ops.chains import mobilenet_chain, residual_block

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]

BOARD = "qemu-cortex-m55"


def _conv(rng, x, oc, k, stride=1, dil=1, pad=(0, 0, 0, 0), act=RELU):
    return one_op_graph(Conv2D(stride=(stride, stride), dilation=(dil, dil), padding=pad, activation=act),
                        [x], [rng.normal(size=(oc, k, k, x[3])), rng.normal(size=oc)])


def _dw(rng, x, k, m=1, stride=1, pad=(0, 0, 0, 0), act=RELU6):
    return one_op_graph(DepthwiseConv2D(stride=(stride, stride), padding=pad, depth_multiplier=m, activation=act),
                        [x], [rng.normal(size=(1, k, k, x[3] * m)), rng.normal(size=x[3] * m)])


def _fc(rng, n_in, n_out, per_channel=False, act=NO_ACTIVATION, rows=1):
    return one_op_graph(FullyConnected(activation=act, per_channel=per_channel), [(1, rows, n_in)],
                        [rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)])


def _fc_chain(rng, rows=3, sizes=(33, 40, 40, 21, 12)):
    """Dense layers over `rows` rows, each able to write over its dying input."""
    g = Graph("fc_chain")
    g.add_tensor(Tensor("x", (1, rows, sizes[0])))
    g.inputs, t = ["x"], "x"
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        w = g.add_constant(f"w{i}", rng.normal(size=(n_out, n_in)) * 0.5)
        b = g.add_constant(f"b{i}", rng.normal(size=n_out) * 0.1)
        g.add_tensor(Tensor(f"y{i}", (1, rows, n_out)))
        g.add_node(Node(f"fc{i}", FullyConnected(activation=RELU if i % 2 else NO_ACTIVATION), [t, w, b], [f"y{i}"]))
        t = f"y{i}"
    g.outputs = [t]
    verify(g)
    return g


CASES = {
    "conv3x3_c3_odd": lambda r: _conv(r, (1, 7, 9, 3), 5, 3, pad=(1, 1, 1, 1)),
    "conv3x3_c8_s2": lambda r: _conv(r, (1, 9, 8, 8), 6, 3, stride=2, pad=(0, 1, 0, 1), act=Activation()),
    "conv3x3_c4_dil2": lambda r: _conv(r, (1, 8, 8, 4), 4, 3, dil=2, pad=(2, 2, 1, 1)),
    "conv3x3_c21_oc13": lambda r: _conv(r, (1, 6, 5, 21), 13, 3, pad=(1, 1, 1, 1)),  # depth 189: tail 13
    "conv5x5_c16_s2": lambda r: _conv(r, (1, 11, 10, 16), 9, 5, stride=2, pad=(2, 2, 2, 2)),
    "conv1x1_c16": lambda r: _conv(r, (1, 5, 5, 16), 7, 1),
    "conv1x1_c6_s2": lambda r: _conv(r, (1, 6, 6, 6), 4, 1, stride=2),
    "conv1x1_c37_oc18": lambda r: _conv(r, (1, 4, 3, 37), 18, 1, act=NO_ACTIVATION),
    "conv1x1_c9_63px": lambda r: _conv(r, (1, 9, 7, 9), 6, 1),  # blocks of 32 pixels
    "conv1x1_c12_s2_56px": lambda r: _conv(r, (1, 15, 13, 12), 10, 1, stride=2),
    "conv1x1_c8_pad": lambda r: _conv(r, (1, 4, 4, 8), 8, 1, pad=(1, 1, 1, 1)),
    "dw3x3_c8": lambda r: _dw(r, (1, 7, 6, 8), 3, pad=(1, 1, 1, 1)),
    "dw3x3_c7_odd": lambda r: _dw(r, (1, 6, 7, 7), 3, pad=(1, 1, 1, 1)),
    "dw3x3_c12_s2": lambda r: _dw(r, (1, 9, 9, 12), 3, stride=2, pad=(0, 1, 0, 1)),
    "dw3x3_c33_s2": lambda r: _dw(r, (1, 8, 8, 33), 3, stride=2, pad=(1, 1, 1, 1), act=NO_ACTIVATION),
    "dw5x5_c10": lambda r: _dw(r, (1, 7, 7, 10), 5, pad=(2, 2, 2, 2)),
    "fc_37_11": lambda r: _fc(r, 37, 11),
    "fc_64_8_pc": lambda r: _fc(r, 64, 8, per_channel=True, act=RELU),
    "fc_5_3": lambda r: _fc(r, 5, 3),
    "fc_33_20_rows3": lambda r: _fc(r, 33, 20, rows=3),
    # several layers writing over their dying inputs (shifted in-place buffers)
    "chain_mobilenet": lambda r: mobilenet_chain(r),
    "chain_mobilenet_odd": lambda r: mobilenet_chain(r, size=11, c0=5),
    "chain_residual": lambda r: residual_block(r),
    "chain_fc_rows3": lambda r: _fc_chain(r),
}

#: Cases whose per-channel requantization is overridden with left shifts, zero and large right
#: shifts (the vector requantization's general form; the numpy reference uses the same kernel).
SHIFT_CASES = {
    "conv3x3_c21_oc13_shifts": ("conv3x3_c21_oc13", None),
    "conv1x1_c37_oc18_shifts": ("conv1x1_c37_oc18", None),
    "dw3x3_c33_s2_shifts": ("dw3x3_c33_s2", None),
    "fc_64_8_pc_shifts": ("fc_64_8_pc", None),
    # one multiplier and shift for every channel: the kernels broadcast them ("_pt")
    "conv3x3_c21_oc13_uniform_left": ("conv3x3_c21_oc13", 2),
    "conv1x1_c9_63px_uniform_right": ("conv1x1_c9_63px", -6),
    "dw3x3_c7_odd_uniform_left": ("dw3x3_c7_odd", 1),
    "dw5x5_c10_uniform_right": ("dw5x5_c10", -9),
}


def _override_requant(q: Graph, rng: np.random.Generator, uniform: int | None) -> None:
    """Every layer's multipliers random in [2^30, 2^31) and shifts cycling through
    [3, 1, 0, -1, -2, -5, -9, -16, -24, -31]; with `uniform`, one random multiplier and the
    shift `uniform` for every channel."""
    table = np.array([3, 1, 0, -1, -2, -5, -9, -16, -24, -31])
    for node in q.nodes:
        k = node.kernel
        if k is None or not hasattr(k, "shifts"):
            continue
        n = q.tensors[node.outputs[0]].shape[-1]
        if uniform is None:
            mult, shift = rng.integers(2**30, 2**31, size=n), table[np.arange(n) % len(table)]
        else:
            mult, shift = np.full(n, rng.integers(2**30, 2**31)), np.full(n, uniform)
        node.kernel = dataclasses.replace(k, multipliers=mult.astype(np.int64), shifts=shift.astype(np.int64))


def _run(case: str, graph: Graph, rng: np.random.Generator, tmp_path: Path, shifts: bool = False,
         uniform: int | None = None) -> str:
    shape = graph.tensors[graph.inputs[0]].shape
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    if shifts:
        _override_requant(q, rng, uniform)
    samples = rng.normal(size=(3, *shape[1:])).astype(np.float32) * 3
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    build = check_on_board(graph, q, xq, BOARD, tmp_path / "build", f"opcheck_{case}")
    model_c = (build / "src" / "model.c").read_text()
    assert "_mve_" in model_c  # the Helium kernels, not the dsp ones
    return model_c


@pytest.mark.parametrize("case", sorted(CASES))
def test_mve_kernel_on_cortex_m55(case: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(100 + sorted(CASES).index(case))
    _run(case, CASES[case](rng), rng, tmp_path)


@pytest.mark.parametrize("case", sorted(SHIFT_CASES))
def test_mve_requantization_shifts(case: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(200 + sorted(SHIFT_CASES).index(case))
    base, uniform = SHIFT_CASES[case]
    model_c = _run(case, CASES[base](rng), rng, tmp_path, shifts=True, uniform=uniform)
    kind = ("general" if uniform is None or uniform > 0 else "right") + ("" if uniform is None else "_pt")
    assert f"_mve_{kind}(" in model_c
