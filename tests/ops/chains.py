"""Small float graphs whose layers write over their dying inputs (the planner's shifted
in-place buffers): a MobileNet-like chain and a ResNet-like residual block."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops import RELU, RELU6, Add, Conv2D, DepthwiseConv2D


def _add(g: Graph, rng, name: str, op, src: str, w_shape, n_bias: int) -> str:
    w = g.add_constant(f"{name}_w", rng.normal(size=w_shape) * 0.5)
    b = g.add_constant(f"{name}_b", rng.normal(size=n_bias) * 0.1)
    shape = op.infer_shapes([g.tensors[src].shape, w_shape])[0]
    g.add_tensor(Tensor(name, shape))
    g.add_node(Node(name, op, [src, w, b], [name]))
    return name


def mobilenet_chain(rng: np.random.Generator, size: int = 12, c0: int = 4) -> Graph:
    g = Graph("chain")
    g.add_tensor(Tensor("x", (1, size, size, 3)))
    g.inputs = ["x"]
    t = _add(g, rng, "c0", Conv2D(stride=(2, 2), padding=(0, 1, 0, 1), activation=RELU6), "x", (c0, 3, 3, 3), c0)
    c = c0
    for i, (stride, widen) in enumerate([(1, 2), (2, 2), (1, 1), (1, 2)]):
        pad = (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1)
        t = _add(g, rng, f"dw{i}", DepthwiseConv2D(stride=(stride, stride), padding=pad, activation=RELU6), t,
                 (1, 3, 3, c), c)
        t = _add(g, rng, f"pw{i}", Conv2D(activation=RELU6), t, (c * widen, 1, 1, c), c * widen)
        c *= widen
    g.outputs = [t]
    verify(g)
    return g


def residual_block(rng: np.random.Generator, size: int = 10, c: int = 8) -> Graph:
    g = Graph("resblock")
    g.add_tensor(Tensor("x", (1, size, size, 3)))
    g.inputs = ["x"]
    x = _add(g, rng, "stem", Conv2D(padding=(1, 1, 1, 1), activation=RELU), "x", (c, 3, 3, 3), c)
    y = _add(g, rng, "a", Conv2D(padding=(1, 1, 1, 1), activation=RELU), x, (c, 3, 3, c), c)
    y = _add(g, rng, "b", Conv2D(padding=(1, 1, 1, 1)), y, (c, 3, 3, c), c)
    g.add_tensor(Tensor("sum", g.tensors[y].shape))
    g.add_node(Node("add", Add(activation=RELU), [y, x], ["sum"]))
    z = _add(g, rng, "down", Conv2D(stride=(2, 2), padding=(0, 1, 0, 1), activation=RELU), "sum",
             (2 * c, 3, 3, c), 2 * c)
    g.outputs = [z]
    verify(g)
    return g


CHAINS = {"mobilenet": mobilenet_chain, "residual": residual_block}
