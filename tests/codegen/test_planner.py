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
            if plan.root(a.tensor) == plan.root(b.tensor):
                # In place: one tensor of the chain ends where the next one starts, same bytes.
                assert a.offset == b.offset and (a.last <= b.first or b.last <= a.first), (a, b)
            elif a.overlaps_in_time(b):
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
    plan = plan_memory(g, in_place=False)
    # Five float32 arena tensors of 4000 bytes, but only two are ever live together.
    assert plan.naive_bytes == 5 * 4000
    assert plan.arena_bytes == 2 * 4000
    # In place, each reshape is an alias of its input: one buffer.
    plan = plan_memory(g)
    assert plan.arena_bytes == 4000
    assert plan.aliases == {f"t{i}": f"t{i - 1}" for i in range(1, 5)}
    assert [a.tensor for a in plan.live_at_peak()] in (["t0"], ["t1"], ["t2"], ["t3"], ["t4"])


def test_add_writes_into_its_dead_input() -> None:
    g = Graph("inplace_add")
    g.add_tensor(Tensor("x", (1, 4, 4, 8)))
    g.inputs = ["x"]
    for i, src in enumerate(["x", "x"]):
        w = g.add_constant(f"w{i}", np.ones((8, 1, 1, 8)))
        g.add_tensor(Tensor(f"c{i}", (1, 4, 4, 8)))
        g.add_node(Node(f"conv{i}", Conv2D(), [src, w, g.add_constant(f"b{i}", np.zeros(8))], [f"c{i}"]))
    g.add_tensor(Tensor("s", (1, 4, 4, 8)))
    g.add_node(Node("add", Add(), ["c0", "c1"], ["s"]))
    g.add_tensor(Tensor("y", (1, 128)))
    g.add_node(Node("flat", Reshape(shape=(1, 128)), ["s"], ["y"]))
    g.outputs = ["y"]
    plan = plan_memory(g)
    assert plan.aliases == {"s": "c0"}
    assert plan.allocations["s"].offset == plan.allocations["c0"].offset
    assert plan.arena_bytes == 2 * 128 * 4 < plan_memory(g, in_place=False).arena_bytes


@pytest.mark.parametrize("seed", range(10))
def test_in_place_never_worse(seed: int) -> None:
    g = _random_dag(seed)
    assert plan_memory(g).arena_bytes <= plan_memory(g, in_place=False).arena_bytes
