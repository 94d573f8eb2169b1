"""Passes keep the float function of the graph while changing its shape."""

from __future__ import annotations

import numpy as np

from edgeq.interpreter import run_float
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import RELU, Add, BatchNorm, Clamp, Conv2D, FullyConnected, Identity, Reshape, Transpose
from edgeq.passes import run_passes


def _same_function(g: Graph, x: np.ndarray) -> Graph:
    p = run_passes(g)
    np.testing.assert_allclose(run_float(p, [x])[0], run_float(g, [x])[0], rtol=1e-5, atol=1e-5)
    return p


def _conv(g: Graph, src: str, dst: str, rng: np.random.Generator, c: int = 3) -> None:
    w = g.add_constant("w", rng.normal(size=(c, 1, 1, g.tensors[src].shape[3])))
    b = g.add_constant("b", rng.normal(size=c))
    g.add_tensor(Tensor(dst, (*g.tensors[src].shape[:3], c)))
    g.add_node(Node(dst, Conv2D(), [src, w, b], [dst]))


def _bn(g: Graph, src: str, dst: str, rng: np.random.Generator) -> None:
    c = g.tensors[src].shape[-1]
    scale, shift = BatchNorm.scale_shift(rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c),
                                         rng.uniform(0.5, 2, c), 1e-3)
    g.add_tensor(Tensor(dst, g.tensors[src].shape))
    g.add_node(Node(dst, BatchNorm(), [src, g.add_constant("s", scale), g.add_constant("t", shift)], [dst]))


def test_batchnorm_folds_into_conv_and_relu_fuses() -> None:
    rng = np.random.default_rng(0)
    g = Graph("g", inputs=["x"], outputs=["r"])
    g.add_tensor(Tensor("x", (1, 4, 4, 2)))
    _conv(g, "x", "c", rng)
    _bn(g, "c", "n", rng)
    g.add_tensor(Tensor("r", (1, 4, 4, 3)))
    g.add_node(Node("relu", Clamp(activation=RELU), ["n"], ["r"]))
    p = _same_function(g, rng.normal(size=(3, 4, 4, 2)).astype(np.float32))
    assert [n.kind for n in p.nodes] == ["conv2d"]
    assert p.nodes[0].op.activation == RELU


def test_batchnorm_without_producer_becomes_depthwise() -> None:
    rng = np.random.default_rng(1)
    g = Graph("g", inputs=["x"], outputs=["a"])
    g.add_tensor(Tensor("x", (1, 4, 4, 3)))
    _conv(g, "x", "c", rng)
    g.add_tensor(Tensor("s", (1, 4, 4, 3)))
    g.add_node(Node("add", Add(), ["x", "c"], ["s"]))
    _bn(g, "s", "a", rng)
    p = _same_function(g, rng.normal(size=(2, 4, 4, 3)).astype(np.float32))
    assert [n.kind for n in p.nodes] == ["conv2d", "add", "depthwise_conv2d"]


def test_identity_removed_and_input_to_output_identity_kept_as_copy() -> None:
    g = Graph("g", inputs=["x"], outputs=["y"])
    g.add_tensor(Tensor("x", (1, 5)))
    g.add_tensor(Tensor("y", (1, 5)))
    g.add_node(Node("id", Identity(), ["x"], ["y"]))
    p = _same_function(g, np.ones((1, 5), np.float32))
    assert [n.kind for n in p.nodes] == ["reshape"]


def test_nchw_flatten_transpose_folds_into_dense() -> None:
    rng = np.random.default_rng(2)
    g = Graph("g", inputs=["x"], outputs=["y"])
    g.add_tensor(Tensor("x", (1, 3, 4, 5)))
    g.add_tensor(Tensor("t", (1, 5, 3, 4)))
    g.add_node(Node("t", Transpose(perm=(0, 3, 1, 2)), ["x"], ["t"]))
    g.add_tensor(Tensor("f", (1, 60)))
    g.add_node(Node("f", Reshape(shape=(1, 60)), ["t"], ["f"]))
    w, b = g.add_constant("w", rng.normal(size=(7, 60))), g.add_constant("b", rng.normal(size=7))
    g.add_tensor(Tensor("y", (1, 7)))
    g.add_node(Node("fc", FullyConnected(), ["f", w, b], ["y"]))
    p = _same_function(g, rng.normal(size=(2, 3, 4, 5)).astype(np.float32))
    assert [n.kind for n in p.nodes] == ["reshape", "fully_connected"]
