"""Constants a kernel cannot hold (an imported model's extreme bias) stop code generation with one
error that names the layer and the limit, before anything is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgeq.codegen.emitter import generate
from edgeq.errors import UnsupportedError
from edgeq.ops.conv2d import Conv2D
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import one_op_graph


@pytest.mark.parametrize("case, message", [
    ("folded", "folded bias out of int32 range"),
    ("bias64", "accumulators too large for the float-bias requantization"),
])
@pytest.mark.parametrize("features", [(), ("dsp",)])
def test_kernel_constant_limits_name_the_layer(case: str, message: str, features: tuple[str, ...],
                                               tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = one_op_graph(Conv2D(padding=(1, 1, 1, 1)), [(1, 4, 4, 2)], [rng.normal(size=(3, 3, 3, 2)), np.zeros(3)])
    q = quantize_graph(g, [rng.normal(size=(4, 4, 4, 2)).astype(np.float32)])
    node = q.nodes[0]
    weights, bias = q.tensors[node.inputs[1]], q.tensors[node.inputs[2]]
    weights.data = np.full_like(weights.data, 127)
    if case == "folded":  # bias + input_offset * sum(weights) beyond int32
        bias.data = np.full_like(bias.data, 2**31 - 1)
        node.kernel = dataclasses.replace(node.kernel, input_offset=5)
    else:  # fits int32, but the accumulator may reach 2^31 - 256 and more
        bias.data = np.full_like(bias.data, 2**31 - 3000)
        node.kernel = dataclasses.replace(node.kernel, input_offset=0, multipliers=np.full(3, 2**30),
                                          shifts=np.zeros(3, np.int32), bias64=np.full(3, 2**30, np.int64))
    out = tmp_path / "src"
    with pytest.raises(UnsupportedError) as err:
        generate(q, out, target_features=features)
    text = str(err.value)
    assert "op under test" in text and message in text and "\n" not in text
    assert not out.exists()
