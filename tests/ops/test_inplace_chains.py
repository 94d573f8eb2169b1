"""Layers writing over their dying inputs (shifted in-place buffers) stay byte-exact: chains
of convolutions and depthwise convolutions, generated C on the host vs the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.codegen.planner import plan_memory
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import check_generated_c
from tests.ops.chains import CHAINS


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_in_place_is_exact(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = CHAINS[name](rng)
    shape = g.tensors[g.inputs[0]].shape
    calib = rng.normal(size=(16, *shape[1:])).astype(np.float32)
    q = quantize_graph(g, [calib])
    plan = plan_memory(q)
    assert plan.shifts, "the chain should run in place"
    assert plan.arena_bytes < plan_memory(q, in_place=False).arena_bytes
    samples = (rng.normal(size=(4, *shape[1:])) * 2).astype(np.float32)
    check_generated_c(g, calib, samples)
