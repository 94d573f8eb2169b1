"""Drop IDENTITY nodes (Dropout, Identity) by wiring their input to their consumers."""

from __future__ import annotations

from edgeq.ir.graph import Graph
from edgeq.ops.shape_ops import Reshape


def remove_identity(graph: Graph) -> Graph:
    for node in [n for n in graph.nodes if n.kind == "identity"]:
        src, dst = node.inputs[0], node.outputs[0]
        if dst in graph.outputs and src in graph.inputs:
            # Input straight to output: keep a copy so the graph still computes something.
            node.op = Reshape(shape=graph.tensors[dst].shape)
            continue
        graph.nodes.remove(node)
        if dst in graph.outputs:
            # Keep the graph's output name: rename the producer's output instead.
            producer = graph.producer(src)
            assert producer is not None
            producer.outputs = [dst if t == src else t for t in producer.outputs]
            graph.replace_uses(src, dst)
        else:
            graph.replace_uses(dst, src)
    graph.remove_unused_tensors()
    return graph
