"""The memory planner never overlaps two tensors that are live at the same time."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.codegen.planner import IDLE, is_scratch, lifetimes, overlap_shift, plan_memory, scratch_name
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.tensor import DType
from edgeq.ops import Add, Concat, Conv2D, Reshape
from edgeq.ops.conv2d_add import Conv2DAdd


def _random_dag(seed: int, fused: bool = False) -> Graph:
    """A chain with random skip connections (adds and concats) and random channel counts; with
    `fused`, also 3x3 convs ending in a residual ADD of an earlier tensor (conv2d_add: the output
    may go over the skip, and the conv's input may take the shifted in-place rule)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"dag{seed}")
    g.add_tensor(Tensor("x", (1, 8, 8, 4)))
    g.inputs = ["x"]
    live = ["x"]
    for i in range(int(rng.integers(4, 14))):
        src = live[-1]
        c = g.tensors[src].shape[3]
        kind = rng.choice(["conv", "add", "concat"] + ["convadd"] * fused) if len(live) > 1 else "conv"
        if kind == "convadd":
            other = str(rng.choice(live[:-1]))
            cout = g.tensors[other].shape[3]
            w = g.add_constant(f"w{i}", rng.normal(size=(cout, 3, 3, c)))
            b = g.add_constant(f"b{i}", np.zeros(cout))
            g.add_tensor(Tensor(f"t{i}", (1, 8, 8, cout)))
            op = Conv2DAdd(conv=Conv2D(padding=(1, 1, 1, 1)), add=Add())
            g.add_node(Node(f"n{i}", op, [src, other, w, b], [f"t{i}"]))
        elif kind == "conv":
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


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_no_overlap_between_live_tensors(seed: int, fused: bool) -> None:
    """Activations, the graph input and (odd seeds) random kernel scratch regions; with `fused`,
    conv2d_add layers too."""
    g = _random_dag(seed, fused)
    rng = np.random.default_rng(1000 + seed)
    scratch = {i: int(rng.choice([0, 16, 100, 700, 3000])) for i in range(len(g.nodes))} if seed % 2 else {}
    idle = 129 if seed % 3 == 0 else 0  # the firmware's command line, between inferences
    plan = plan_memory(g, scratch=scratch, idle_bytes=idle)
    allocs = list(plan.allocations.values())
    assert set(plan.allocations) == set(lifetimes(g, scratch, idle_bytes=idle))
    if idle:
        region = plan.allocations[IDLE]
        assert (region.first, region.last, region.size) == (-1, -1, 144)
        assert not region.overlaps_in_space(plan.allocations["x"])
    assert "x" in plan.allocations  # the input lives in the arena
    assert plan.input_kept == (plan.allocations["x"].last == len(g.nodes) - 1)
    for i, n in scratch.items():
        if n:
            region = plan.allocations[scratch_name(i)]
            assert (region.first, region.last) == (i, i) and region.size >= n
    for i, a in enumerate(allocs):
        assert a.offset % 16 == 0
        assert a.offset + a.size <= plan.arena_bytes
        assert a.size >= (scratch[int(a.tensor[len("scratch:l"):])] if is_scratch(a.tensor)
                          else idle if a.tensor == IDLE else g.tensors[a.tensor].nbytes)
        for b in allocs[i + 1 :]:
            if plan.root(a.tensor) == plan.root(b.tensor):
                # In place: one tensor of the chain ends where the next one starts; they share
                # bytes only as producer and consumer (same offset, or the planned safe shift).
                assert a.last <= b.first or b.last <= a.first, (a, b)
                if a.overlaps_in_time(b) and a.overlaps_in_space(b):
                    x, y = (a, b) if plan.aliases.get(b.tensor) == a.tensor else (b, a)
                    assert plan.aliases.get(y.tensor) == x.tensor, (a, b)
                    assert y.offset - x.offset == plan.shifts.get(y.tensor, 0), (a, b)
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
    # The input and five float32 arena tensors of 4000 bytes, but only two are ever live together.
    assert plan.naive_bytes == 6 * 4000
    assert plan.arena_bytes == 2 * 4000
    # In place, each reshape is an alias of its input: one buffer (so the input is not kept).
    plan = plan_memory(g)
    assert plan.arena_bytes == 4000 and not plan.input_kept
    assert plan.aliases == {"t0": "x"} | {f"t{i}": f"t{i - 1}" for i in range(1, 5)}
    assert [a.tensor for a in plan.live_at_peak()] in (["x"], ["t0"], ["t1"], ["t2"], ["t3"], ["t4"])


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
    assert plan.aliases["s"] == "c0"
    assert plan.allocations["s"].offset == plan.allocations["c0"].offset
    assert plan.arena_bytes == 2 * 128 * 4 < plan_memory(g, in_place=False).arena_bytes


def _residual(skip_read_later: bool) -> Graph:
    """x -> c0 (1x1) -> c1 (3x3) + c0 (conv2d_add) -> y, c0 read again after it with
    `skip_read_later`."""
    g = Graph("convadd")
    g.add_tensor(Tensor("x", (1, 6, 6, 8), DType.INT8))
    g.inputs = ["x"]
    w0, b0 = g.add_constant("w0", np.ones((8, 1, 1, 8)), DType.INT8), g.add_constant("b0", np.zeros(8), DType.INT32)
    w1, b1 = g.add_constant("w1", np.ones((8, 3, 3, 8)), DType.INT8), g.add_constant("b1", np.zeros(8), DType.INT32)
    for t in ("c0", "c1", "s", "s2"):
        g.add_tensor(Tensor(t, (1, 6, 6, 8), DType.INT8))
    g.add_node(Node("conv0", Conv2D(), ["x", w0, b0], ["c0"]))
    g.add_node(Node("conv1", Conv2D(padding=(1, 1, 1, 1)), ["c0", w0, b0], ["c1"]))
    g.add_node(Node("fused", Conv2DAdd(conv=Conv2D(padding=(1, 1, 1, 1)), add=Add()), ["c1", "c0", w1, b1], ["s"]))
    last = "s"
    if skip_read_later:
        g.add_node(Node("add", Add(), ["s", "c0"], ["s2"]))
        last = "s2"
    g.add_tensor(Tensor("y", (1, 288), DType.INT8))
    g.add_node(Node("flat", Reshape(shape=(1, 288)), [last], ["y"]))
    g.outputs = ["y"]
    return g


def test_conv_add_writes_over_its_dying_skip() -> None:
    plan = plan_memory(_residual(False))
    assert plan.aliases["s"] == "c0" and "s" not in plan.shifts
    assert plan.allocations["s"].offset == plan.allocations["c0"].offset  # out[i] over skip[i]
    # the conv's input c1 is live with both and overlaps neither
    c1 = plan.allocations["c1"]
    assert not c1.overlaps_in_space(plan.allocations["s"]) and not c1.overlaps_in_space(plan.allocations["c0"])
    assert plan.arena_bytes < plan_memory(_residual(False), in_place=False).arena_bytes


def test_conv_add_keeps_a_skip_read_later() -> None:
    plan = plan_memory(_residual(True))
    assert plan.aliases.get("s") != "c0"
    assert not plan.allocations["s"].overlaps_in_space(plan.allocations["c0"])


@pytest.mark.parametrize("seed", range(10))
def test_in_place_never_worse(seed: int) -> None:
    g = _random_dag(seed)
    assert plan_memory(g).arena_bytes <= plan_memory(g, in_place=False).arena_bytes


def _one_conv(x, cout, k, stride, pad, dil=1, depthwise=False) -> Graph:
    from edgeq.ops import DepthwiseConv2D

    g = Graph("one")
    g.add_tensor(Tensor("x", x, dtype=DType.INT8))
    g.inputs = ["x"]
    if depthwise:
        op = DepthwiseConv2D(stride=(stride, stride), padding=pad, dilation=(dil, dil))
        w = g.add_constant("w", np.ones((1, k, k, x[3])))
    else:
        op = Conv2D(stride=(stride, stride), padding=pad, dilation=(dil, dil))
        w = g.add_constant("w", np.ones((cout, k, k, x[3])))
    b = g.add_constant("b", np.zeros(x[3] if depthwise else cout))
    y = op.infer_shapes([x, g.tensors[w].shape])[0]
    g.add_tensor(Tensor("y", y, dtype=DType.INT8))
    g.add_node(Node("n", op, ["x", w, b], ["y"]))
    g.outputs = ["y"]
    return g


@pytest.mark.parametrize("case", [
    ((1, 8, 8, 8), 16, 1, 1, (0, 0, 0, 0), 1, False),  # 1x1 widening
    ((1, 8, 8, 16), 8, 1, 1, (0, 0, 0, 0), 1, False),  # 1x1 narrowing
    ((1, 9, 7, 4), 4, 3, 1, (1, 1, 1, 1), 1, False),  # 3x3 same
    ((1, 9, 9, 4), 8, 3, 2, (0, 1, 0, 1), 1, False),  # 3x3 stride 2
    ((1, 8, 8, 3), 5, 3, 1, (2, 2, 2, 2), 2, False),  # dilated
    ((1, 6, 6, 8), 8, 3, 1, (1, 1, 1, 1), 1, True),  # depthwise same
    ((1, 9, 9, 12), 12, 3, 2, (0, 1, 0, 1), 1, True),  # depthwise stride 2
    ((1, 5, 7, 8), 8, 5, 1, (2, 2, 2, 2), 1, True),  # depthwise 5x5
])
def test_overlap_shift_is_safe_for_the_kernels_visiting_order(case) -> None:
    """Replay the kernels' order (each output pixel reads its window, then writes its bytes)
    with the output placed `shift` bytes from the input: no write may land on an input byte
    that a later pixel still reads, and the largest safe shift is the planned one."""
    x, cout, k, stride, pad, dil, dw = case
    g = _one_conv(x, cout, k, stride, pad, dil, dw)
    node = g.nodes[0]
    shift = overlap_shift(g, node)
    assert shift is not None
    y = g.tensors["y"].shape
    c_in, c_out = x[3], y[3]
    reads = []  # per output pixel: input pixels read
    for oy in range(y[1]):
        for ox in range(y[2]):
            pix = set()
            for ky in range(k):
                for kx in range(k):
                    iy, ix = oy * stride - pad[0] + ky * dil, ox * stride - pad[2] + kx * dil
                    if 0 <= iy < x[1] and 0 <= ix < x[2]:
                        pix.add(iy * x[2] + ix)
            reads.append(pix)

    def safe(s: int) -> bool:
        for q in range(len(reads)):
            lo, hi = s + q * c_out, s + (q + 1) * c_out  # bytes written for pixel q
            for later in reads[q + 1:]:
                if any(p * c_in < hi and lo < (p + 1) * c_in for p in later):
                    return False
        return True

    assert safe(shift)
    assert not safe(shift + 1)


def _widening_1x1_chain() -> Graph:
    """x -> y (1x1, 8 -> 16 channels) -> z (1x1) -> z2 (1x1), all 8x8."""
    g = _one_conv((1, 8, 8, 8), 16, 1, 1, (0, 0, 0, 0))
    g.add_tensor(Tensor("z", (1, 8, 8, 16), dtype=DType.INT8))
    w = g.add_constant("w2", np.ones((16, 1, 1, 16)))
    g.add_node(Node("n2", Conv2D(), ["y", w, g.add_constant("b2", np.zeros(16))], ["z"]))
    g.add_tensor(Tensor("z2", (1, 8, 8, 16), dtype=DType.INT8))
    w = g.add_constant("w3", np.ones((16, 1, 1, 16)))
    g.add_node(Node("n3", Conv2D(), ["z", w, g.add_constant("b3", np.zeros(16))], ["z2"]))
    g.outputs = ["z2"]
    return g


def test_widening_1x1_chain_writes_below_its_input() -> None:
    g = _widening_1x1_chain()
    plan = plan_memory(g)
    # y (1 KB) feeds z (1 KB) in place: one buffer instead of two.
    assert plan.aliases.get("z") == "y" and plan.shifts["z"] <= 0
    assert plan.arena_bytes == 1024 < plan_memory(g, in_place=False).arena_bytes


def test_separate_output_is_not_written_over_its_input() -> None:
    """A tensor planned `separate` (its kernel reads the input again after writing outputs)
    shares no byte with its layer's input, the others keep their in-place overlaps."""
    g = _widening_1x1_chain()
    plan = plan_memory(g, separate=frozenset({"z"}))
    y, z = plan.allocations["y"], plan.allocations["z"]
    assert y.offset + y.size <= z.offset or z.offset + z.size <= y.offset
    assert "z" not in plan.aliases
    assert plan.arena_bytes > plan_memory(g).arena_bytes


def test_input_kept_when_it_costs_nothing() -> None:
    """The input stays live for the whole inference (several runs may share it) when that costs
    no arena bytes; where writing over it saves bytes, it is not kept."""
    g = _one_conv((1, 4, 4, 2), 64, 1, 1, (0, 0, 0, 0))  # x (32 B) -> y (1 KB, in the arena)
    g.add_tensor(Tensor("z", (1, 4, 4, 2), dtype=DType.INT8))
    w = g.add_constant("w2", np.ones((2, 1, 1, 64)))
    g.add_node(Node("n2", Conv2D(), ["y", w, g.add_constant("b2", np.zeros(2))], ["z"]))
    g.outputs = ["z"]
    plan = plan_memory(g, in_place=False)  # x and y side by side at step 0 anyway
    assert plan.input_kept and plan.allocations["x"].last == 1
    assert plan.arena_bytes == 32 + 1024
    plan = plan_memory(g)  # the 1x1 conv writes y over x: smaller, x is gone after step 0
    assert not plan.input_kept and plan.allocations["x"].last == 0
    assert plan.arena_bytes < 32 + 1024


def test_scratch_goes_into_free_space() -> None:
    """A layer's scratch is live at that layer only: it takes bytes another layer needs."""
    g = _one_conv((1, 8, 8, 16), 16, 1, 1, (0, 0, 0, 0))
    g.add_tensor(Tensor("z", (1, 8, 8, 64), dtype=DType.INT8))
    w = g.add_constant("w2", np.ones((64, 1, 1, 16)))
    g.add_node(Node("n2", Conv2D(), ["y", w, g.add_constant("b2", np.zeros(64))], ["z"]))
    g.add_tensor(Tensor("z2", (1, 8, 8, 4), dtype=DType.INT8))
    w = g.add_constant("w3", np.ones((4, 1, 1, 64)))
    g.add_node(Node("n3", Conv2D(), ["z", w, g.add_constant("b3", np.zeros(4))], ["z2"]))
    g.outputs = ["z2"]
    base = plan_memory(g).arena_bytes
    plan = plan_memory(g, scratch={0: 512})  # layer 0 is small next to layer 1
    assert plan.arena_bytes == base
    assert plan.allocations[scratch_name(0)].size == 512
