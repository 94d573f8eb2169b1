"""Structural checks of a graph: every tensor defined once, before use, shapes consistent."""

from __future__ import annotations

from edgeq.ir.graph import Graph


def verify(graph: Graph) -> None:
    """Raise AssertionError when the graph is malformed (an edgeq bug, not a user error)."""
    defined = set(graph.inputs) | {t.name for t in graph.constants()}
    for name in graph.inputs:
        assert name in graph.tensors, f"graph input {name} has no tensor"
    for node in graph.nodes:
        for t in node.inputs:
            assert t in graph.tensors, f"{node.name}: unknown input tensor {t}"
            assert t in defined, f"{node.name}: input {t} used before it is defined"
        shapes = node.op.infer_shapes([graph.tensors[t].shape for t in node.inputs])
        for t, shape in zip(node.outputs, shapes, strict=True):
            assert t in graph.tensors, f"{node.name}: unknown output tensor {t}"
            assert t not in defined, f"{node.name}: tensor {t} defined twice"
            assert tuple(graph.tensors[t].shape) == tuple(shape), (
                f"{node.name}: output {t} has shape {graph.tensors[t].shape}, op says {shape}"
            )
            defined.add(t)
    for name in graph.outputs:
        assert name in defined, f"graph output {name} is never produced"
