"""The dsp depthwise kernel's 3x3 path: its build-time weight layout, and the planner property
its channel-group-outer order relies on over a dying input (in-place shifts by whole pixels)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeq.ops.depthwise_conv2d as dw_module
from edgeq.codegen.planner import plan_memory
from edgeq.ops import NO_ACTIVATION, RELU6, DepthwiseConv2D
from edgeq.ops.depthwise_conv2d import dsp3x3_unsaturated, dsp3x3_weights
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import check_on_board, one_op_graph
from tests.ops.chains import mobilenet_chain


def test_dsp3x3_weight_words() -> None:
    w = np.arange(3 * 3 * 8, dtype=np.int64).reshape(3, 3, 8) - 36  # w[ky, kx, c], distinct values
    words = dsp3x3_weights(w).reshape(2, 3, 3, 4)  # [group][kx][ky][byte]
    for g in range(2):
        for kx in range(3):
            for ky in range(3):
                assert list(words[g, kx, ky]) == list(w[ky, kx, 4 * g:4 * g + 4])
    assert dsp3x3_weights(w).dtype == np.int8 and dsp3x3_weights(w).size == w.size


def test_depthwise_in_place_shift_is_whole_pixels() -> None:
    rng = np.random.default_rng(0)
    g = mobilenet_chain(rng)
    q = quantize_graph(g, [rng.normal(size=(4, 12, 12, 3)).astype(np.float32)])
    plan = plan_memory(q)
    overlapping = 0
    for node in q.nodes:
        out = node.outputs[0]
        if node.kind == "depthwise_conv2d" and out in plan.shifts:
            assert plan.shifts[out] % q.tensors[out].shape[-1] == 0
            overlapping += plan.shifts[out] < q.tensors[node.inputs[0]].nbytes
    assert overlapping  # the chain does write a depthwise output over its input


def test_dsp3x3_unsaturated_bound() -> None:
    """The dsp 3x3 path drops the saturating addition only where high + k + sign fits in int32."""
    w = np.ones((1, 3, 3, 4), dtype=np.int8)
    rq = {"rq_kind": "small", "rq_k": [1 << 22] * 4}
    assert dsp3x3_unsaturated(rq, [0, 5, -5, 1000], w)
    assert not dsp3x3_unsaturated(rq, [0, 2**31 - (1 << 22) - 128 * 9 - 2, 0, 0], w)
    assert dsp3x3_unsaturated({"rq_kind": "general", "rq_k": []}, [2**31 - 1] * 4, w)


_DSP3X3_SHAPES = {  # (input shape, stride, padding): odd widths, both strides, TFLite's stride-2 padding
    "s1_w7": ((1, 5, 7, 8), 1, (1, 1, 1, 1)),
    "s2_w9": ((1, 7, 9, 4), 2, (0, 1, 0, 1)),
}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("shape", sorted(_DSP3X3_SHAPES))
@pytest.mark.parametrize("form", ["clamp", "saturating", "signed"])
def test_dsp3x3_requantization_forms(form: str, shape: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The dsp 3x3 path's assembly on an emulated Cortex-M4, byte for byte: with an activation
    clamp inside the int8 range (its SSUB8/SEL bytes), in the saturating form (QADD; forced
    here, the generator takes it for accumulator bounds near 2^31) and, without activation (an
    output offset above the lower clamp), with the sign correction; inputs at both extremes."""
    x, stride, pad = _DSP3X3_SHAPES[shape]
    rng = np.random.default_rng(11 + sorted(_DSP3X3_SHAPES).index(shape))
    graph = one_op_graph(DepthwiseConv2D(stride=(stride, stride), padding=pad,
                                         activation=NO_ACTIVATION if form == "signed" else RELU6), [x],
                         [rng.normal(size=(1, 3, 3, x[3])), rng.normal(size=x[3])])
    q = quantize_graph(graph, [rng.normal(size=(16, *x[1:])).astype(np.float32)])
    node = q.nodes[0]
    if form == "clamp":
        node.kernel = dataclasses.replace(node.kernel, act_min=-100, act_max=90)
    elif form == "saturating":
        monkeypatch.setattr(dw_module, "dsp3x3_unsaturated", lambda *_: False)
    ctx = node.op.kernel_context(node, q, ("dsp",))
    flags = ctx["shared"]["max"]
    assert ctx["rq_kind"] == "small" and flags["dsp3x3"]
    assert (flags["clamp"], flags["sat"], flags["signed"]) == (form == "clamp", form == "saturating", form == "signed")
    xq = q.tensors[q.inputs[0]].quant.quantize(rng.normal(size=(4, *x[1:])).astype(np.float32) * 3)
    xq[0] = 127
    xq[1] = -128
    check_on_board(graph, q, xq, "qemu-cortex-m4", tmp_path / "build", f"opcheck_dw3x3_{form}_{shape}")
