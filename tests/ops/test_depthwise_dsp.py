"""The dsp depthwise kernel's 3x3 path: its build-time weight layout, and the planner property
its channel-group-outer order relies on over a dying input (in-place shifts by whole pixels)."""

from __future__ import annotations

import numpy as np

from edgeq.codegen.planner import plan_memory
from edgeq.ops.depthwise_conv2d import dsp3x3_weights
from edgeq.quant.quantize import quantize_graph
from tests.ops.chains import mobilenet_chain


def test_dsp3x3_weight_words() -> None:
    w = np.arange(3 * 3 * 8, dtype=np.int64).reshape(3, 3, 8) - 36  # w[ky, kx, c], distinct values
    words = dsp3x3_weights(w).reshape(2, 3, 3, 4)  # [group][kx][word][byte]
    for g in range(2):
        for kx in range(3):
            c = 4 * g
            assert list(words[g, kx, 0]) == [w[0, kx, c], w[0, kx, c + 1], w[1, kx, c], w[1, kx, c + 1]]
            assert list(words[g, kx, 1]) == [w[0, kx, c + 2], w[0, kx, c + 3], w[1, kx, c + 2], w[1, kx, c + 3]]
            assert list(words[g, kx, 2]) == list(w[2, kx, c:c + 4])
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
