"""The dsp conv's int16-weight form: where the arena has room, blocks of a "wide" conv layer's
channel pairs are widened to int16 in its scratch once per inference (edgeq_conv_dsp_widen) and
read by the 10-instruction inner loop (edgeq_conv_dsp_wide_oc16). Byte for byte against the numpy
int8 reference on an emulated Cortex-M4: one block, several blocks with a shorter last one, a
layer that ends in a residual ADD; and the emitter takes the form only where it costs no arena."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeq.ops.conv2d as conv2d
from edgeq.codegen.emitter import generate
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops import RELU, RELU6, Add, Conv2D
from edgeq.quant.quantize import quantize_graph
from tests.opcheck import check_on_board

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")


def _conv(g: Graph, rng: np.random.Generator, name: str, src: str, oc: int, k: int, act=RELU, pad: int = 0) -> str:
    ic = g.tensors[src].shape[3]
    op = Conv2D(padding=(pad,) * 4, activation=act)
    w = g.add_constant(f"{name}_w", rng.normal(size=(oc, k, k, ic)) * 0.5)
    b = g.add_constant(f"{name}_b", rng.normal(size=oc) * 0.1)
    g.add_tensor(Tensor(name, op.infer_shapes([g.tensors[src].shape, g.tensors[w].shape])[0]))
    g.add_node(Node(name, op, [src, w, b], [name]))
    return name


def _graph(rng: np.random.Generator, shape: tuple[int, ...], k: int, oc: int, residual: bool) -> Graph:
    """The conv under test ("a", 3x3 with padding or 1x1), then 1x1 convs to 192 channels (a tensor
    in the arena that leaves room for the first one's widened weights) and back to 8, plus a 1x1
    conv of the input added at the end: the input stays live, so "a" cannot write over it (a
    kernel of several blocks reads its input again)."""
    g = Graph("wide16")
    g.add_tensor(Tensor("x", shape))
    g.inputs = ["x"]
    t = _conv(g, rng, "a", "x", oc, k, act=RELU6 if residual else RELU, pad=k // 2)
    if residual:  # a conv ending in a residual ADD (fused into one conv2d_add layer)
        g.add_tensor(Tensor("sum", g.tensors[t].shape))
        g.add_node(Node("add", Add(activation=RELU), [t, "x"], ["sum"]))
        t = "sum"
    t = _conv(g, rng, "narrow", _conv(g, rng, "wide", t, 192, 1), 8, 1)
    side = _conv(g, rng, "side", "x", 8, 1)
    g.add_tensor(Tensor("y", g.tensors[t].shape))
    g.add_node(Node("join", Add(), [t, side], ["y"]))
    g.outputs = ["y"]
    verify(g)
    return g


def _params_of_first_layer(src: str) -> str:
    return re.search(r"_l0_conv2d\w*_params = \{(.*?)\};", src, re.S).group(1)


CASES = {  # input, window, output channels, residual ADD, pairs a block (None: the emitter's choice),
    # the first conv's clamp narrowed to [-100, 90] (the model's kernels then clamp past SSAT)
    "3x3_one_block": ((1, 7, 5, 12), 3, 16, False, None, False),  # 35 pixels, k 108: 27 groups
    "3x3_blocks_3_3_2": ((1, 7, 5, 12), 3, 16, False, 3, False),
    "1x1_blocks_2_2_1": ((1, 6, 6, 16), 1, 10, False, 2, False),  # k 16: 4 groups
    "3x3_residual": ((1, 6, 5, 16), 3, 16, True, None, False),  # k 144
    "3x3_clamped": ((1, 7, 5, 12), 3, 16, False, None, True),
    "1x1_clamped_blocks": ((1, 6, 6, 16), 1, 10, False, 2, True),
}


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("case", sorted(CASES))
def test_wide16_on_cortex_m4(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape, k, oc, residual, block, clamped = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    graph = _graph(rng, shape, k, oc, residual)
    if block is not None:  # force blocks of `block` pairs (the last one shorter)
        k_pad = k * k * shape[3]  # a multiple of 4 here
        monkeypatch.setattr(conv2d, "wide16_options", lambda pairs, k_pad_, pixels: [
            {"extra_bytes": 4 * block * (k_pad + 5), "ctx": {"wide16_pairs": block}, "rereads_input": True}])
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    if clamped:
        first = q.nodes[0]
        first.kernel = dataclasses.replace(first.kernel, act_min=-100, act_max=90)
    xq = q.tensors[q.inputs[0]].quant.quantize(rng.normal(size=(3, *shape[1:])).astype(np.float32) * 2)
    xq[0] = 127  # the largest accumulators of both signs
    xq[1] = -128
    build = check_on_board(graph, q, xq, "qemu-cortex-m4", tmp_path / "build", f"wide16_{case}")
    params = _params_of_first_layer((build / "src" / "model.c").read_text())
    pairs = int(params.rsplit(",", 1)[1])
    assert pairs == (block or oc // 2), params  # the int16 form was taken, by the blocks asked for
    assert ("ssub8 r10" in (build / "src" / "model.c").read_text()) == clamped


def test_wide16_only_where_the_arena_has_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alone in its model the conv has no free arena: it keeps its weights in flash. Followed by
    a larger layer it takes the int16 form, and the arena is the one without the option."""
    rng = np.random.default_rng(5)
    g = Graph("alone")
    g.add_tensor(Tensor("x", (1, 6, 6, 16)))
    g.inputs = ["x"]
    g.outputs = [_conv(g, rng, "a", "x", 16, 1)]
    verify(g)
    q = quantize_graph(g, [rng.normal(size=(8, 6, 6, 16)).astype(np.float32)])
    generate(q, tmp_path / "alone", target_features=("dsp",))
    assert _params_of_first_layer((tmp_path / "alone" / "model.c").read_text()).rstrip().endswith("NULL, 0")
    g2 = _graph(rng, (1, 6, 6, 16), 1, 16, False)
    q2 = quantize_graph(g2, [rng.normal(size=(8, 6, 6, 16)).astype(np.float32)])
    with_room = generate(q2, tmp_path / "room", target_features=("dsp",))
    assert _params_of_first_layer((tmp_path / "room" / "model.c").read_text()).rstrip().endswith(", 8")
    monkeypatch.setattr(conv2d, "wide16_options", lambda pairs, k_pad, pixels: [])
    bare = generate(q2, tmp_path / "bare", target_features=("dsp",))
    assert _params_of_first_layer((tmp_path / "bare" / "model.c").read_text()).rstrip().endswith("NULL, 0")
    assert with_room.plan.arena_bytes == bare.plan.arena_bytes
