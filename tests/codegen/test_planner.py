"""The memory planner never overlaps two tensors that are live at the same time."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.codegen.planner import lifetimes, plan_memory
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import Add, Concat, Conv2D, Reshape


def _random_dag(seed: int) -> Graph:
    """A chain with random skip connections (adds and concats) and random channel counts."""
    rng = np.random.default_rng(seed)
    g = Graph(f"dag{seed}")
    g.add_tensor(Tensor("x", (1, 8, 8, 4)))
    g.inputs = ["x"]
    live = ["x"]
    for i in range(int(rng.integers(4, 14))):
        src = live[-1]
        c = g.tensors[src].shape[3]
        kind = rng.choice(["conv", "add", "concat"]) if len(live) > 1 else "conv"
        if kind == "conv":
            cout = int(rng.integers(1, 9))
            w = g.add_constant(f"w{i}", rng.normal(size=(cout, 1, 1, c)))
            b = g.add_constant(f"b{i}", np.zeros(cout))
            g.add_tensor(Tensor(f"t{i}", (1, 8, 8, cout)))
            g.add_node(Node(f"n{i}", Conv2D(), [src, w, b], [f"t{i}"]))
        else:
            other = str(rng.choice(live[:-1]))
            if kind == "add" and g.tensors[other].shape == g.tensors[src].shape:
                g.add_tensor(Tensor(f"t{i}", g.tensors[src].shape))
                g.add_node(Node(f"n{i}", Add(), [src, other], [f"t{i}"]))
            else:
                cc = g.tensors[other].shape[3] + c
                g.add_tensor(Tensor(f"t{i}", (1, 8, 8, cc)))
                g.add_node(Node(f"n{i}", Concat(axis=3), [src, other], [f"t{i}"]))
        live.append(f"t{i}")
    g.add_tensor(Tensor("y", (1, 8 * 8 * g.tensors[live[-1]].shape[3])))
    g.add_node(Node("flat", Reshape(shape=g.tensors["y"].shape), [live[-1]], ["y"]))
    g.outputs = ["y"]
    return g


@pytest.mark.parametrize("seed", range(25))
def test_no_overlap_between_live_tensors(seed: int) -> None:
    g = _random_dag(seed)
    plan = plan_memory(g)
    allocs = list(plan.allocations.values())
    assert set(plan.allocations) == set(lifetimes(g))
    for i, a in enumerate(allocs):
        assert a.offset % 16 == 0
        assert a.offset + a.size <= plan.arena_bytes
        assert a.size >= g.tensors[a.tensor].nbytes
        for b in allocs[i + 1 :]:
            if a.overlaps_in_time(b):
                assert not a.overlaps_in_space(b), (a, b)
    assert plan.arena_bytes <= plan.naive_bytes
    peak_live = sum(a.size for a in plan.live_at_peak())
    assert peak_live <= plan.arena_bytes


def test_chain_reuses_memory() -> None:
    g = Graph("chain")
    g.add_tensor(Tensor("x", (1, 1000)))
    g.inputs = ["x"]
    prev = "x"
    for i in range(6):
        g.add_tensor(Tensor(f"t{i}", (1, 1000)))
        g.add_node(Node(f"r{i}", Reshape(shape=(1, 1000)), [prev], [f"t{i}"]))
        prev = f"t{i}"
    g.outputs = [prev]
    plan = plan_memory(g)
    # Five float32 arena tensors of 4000 bytes, but only two are ever live together.
    assert plan.naive_bytes == 5 * 4000
    assert plan.arena_bytes == 2 * 4000
