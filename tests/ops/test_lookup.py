"""LOOKUP: the table is the float function quantized as onnxruntime does; C equals numpy."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ir.tensor import QuantParams
from edgeq.ops import Lookup
from tests.opcheck import check_generated_c, one_op_graph


@pytest.mark.parametrize("function", ["sigmoid", "tanh"])
def test_generated_c_equals_numpy(function: str) -> None:
    rng = np.random.default_rng(["sigmoid", "tanh"].index(function))
    g = one_op_graph(Lookup(function=function), [(1, 6, 5, 4)])
    q = check_generated_c(g, rng.normal(size=(16, 6, 5, 4)).astype(np.float32) * 3,
                          rng.normal(size=(8, 6, 5, 4)).astype(np.float32) * 4)
    assert len(q.nodes[0].kernel.table) == 256


def test_table_is_the_quantized_float_function() -> None:
    g = one_op_graph(Lookup(function="sigmoid"), [(1, 256)])
    g.tensors["in0"].quant = QuantParams.per_tensor(0.05, 3)
    g.tensors["out"].quant = QuantParams.per_tensor(1 / 255, -128)
    table = np.array(Lookup(function="sigmoid").quantize(g.nodes[0], g).table)
    x = np.float32(0.05) * (np.arange(-128, 128) - 3).astype(np.float32)
    y = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    want = np.clip(np.rint(y / np.float32(1 / 255)) - 128, -128, 127)  # float32 division, half to even
    assert np.array_equal(table, want)
    assert np.abs(table - (np.rint(255 / (1 + np.exp(-x.astype(np.float64)))) - 128)).max() <= 1
    got = Lookup(function="sigmoid").run_int8([np.array([-128, 0, 127], np.int8)], Lookup().quantize(g.nodes[0], g))
    assert list(got) == [table[0], table[128], table[255]]
    with pytest.raises(ValueError, match="function"):
        Lookup(function="gelu")
