"""Quantization parameters: TFLite's choice of scale/zero point, observers, fixed outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import Clamp, Softmax
from edgeq.quant.observers import MinMaxObserver, PercentileObserver, make_observer
from edgeq.quant.quantize import choose_quant_params, quantize_graph


@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 1.0), (0.0, 6.0), (-3.0, 0.5), (0.2, 0.9), (-5.0, -1.0)])
def test_choose_params_represent_zero_exactly(lo: float, hi: float) -> None:
    q = choose_quant_params(lo, hi)
    assert -128 <= q.zp <= 127
    assert q.dequantize(np.array([q.zp], np.int8))[0] == 0.0
    assert q.s == float(np.float32(q.s))
    # The (zero-extended) range is covered to within a step.
    assert q.dequantize(np.array([-128], np.int8))[0] <= min(lo, 0.0) + q.s
    assert q.dequantize(np.array([127], np.int8))[0] >= max(hi, 0.0) - q.s


def test_degenerate_range() -> None:
    q = choose_quant_params(0.0, 0.0)
    assert q.s > 0


def test_percentile_clips_outliers_minmax_does_not() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=100_000).astype(np.float32)
    x[17] = 1000.0
    mm, pc = MinMaxObserver(), PercentileObserver(99.9)
    for chunk in np.split(x, 10):
        mm.update(chunk)
        pc.update(chunk)
    assert mm.range()[1] == 1000.0
    assert 2.0 < pc.range()[1] < 5.0
    with pytest.raises(ValueError, match="unknown observer"):
        make_observer("mse")


def test_observer_choice_changes_parameters_and_fixed_softmax_output() -> None:
    g = Graph("g", inputs=["x"], outputs=["s"])
    g.add_tensor(Tensor("x", (1, 10)))
    g.add_tensor(Tensor("r", (1, 10)))
    g.add_node(Node("relu", Clamp(), ["x"], ["r"]))
    g.add_tensor(Tensor("s", (1, 10)))
    g.add_node(Node("softmax", Softmax(), ["r"], ["s"]))
    rng = np.random.default_rng(1)
    calib = rng.normal(size=(512, 10)).astype(np.float32)
    calib[3, 4] = 80.0
    q_mm = quantize_graph(g, [calib], "minmax")
    q_pc = quantize_graph(g, [calib], "percentile")
    assert q_pc.tensors["x"].quant.s < q_mm.tensors["x"].quant.s
    for q in (q_mm, q_pc):
        assert (q.tensors["s"].quant.s, q.tensors["s"].quant.zp) == (1 / 256, -128)
