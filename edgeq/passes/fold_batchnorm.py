"""Fold BATCH_NORM into the conv / depthwise / fully connected that feeds it.

y = (x * W + b) * s + t  ==  x * (W * s) + (b * s + t), scaling each output channel.
"""

from __future__ import annotations

from edgeq.errors import UnsupportedError
from edgeq.ir.graph import Graph, Node

# Axis of the weight tensor that indexes output channels.
_OUT_AXIS = {"conv2d": 0, "depthwise_conv2d": 3, "fully_connected": 0}


def _foldable(graph: Graph, bn: Node) -> Node | None:
    producer = graph.producer(bn.inputs[0])
    if producer is None or producer.kind not in _OUT_AXIS:
        return None
    if not producer.op.activation.is_none:  # type: ignore[attr-defined]
        return None
    if len(graph.consumers(bn.inputs[0])) != 1 or bn.inputs[0] in graph.outputs:
        return None
    return producer


def fold_batchnorm(graph: Graph) -> Graph:
    for bn in [n for n in graph.nodes if n.kind == "batch_norm"]:
        producer = _foldable(graph, bn)
        if producer is None:
            raise UnsupportedError(
                f"layer {bn.source or bn.name}: batch normalization must follow a convolution or dense "
                "layer (with no activation in between) to be folded; run 'edgeq ops' to see what is supported"
            )
        scale = graph.tensors[bn.inputs[1]].data
        shift = graph.tensors[bn.inputs[2]].data
        assert scale is not None and shift is not None
        w = graph.tensors[producer.inputs[1]]
        b = graph.tensors[producer.inputs[2]]
        assert w.data is not None and b.data is not None
        shape = [1] * w.data.ndim
        shape[_OUT_AXIS[producer.kind]] = -1
        new_w = graph.add_constant(w.name + "_bn", w.data * scale.reshape(shape))
        new_b = graph.add_constant(b.name + "_bn", b.data * scale + shift)
        producer.inputs = [producer.inputs[0], new_w, new_b]
        producer.outputs = [bn.outputs[0]]
        graph.nodes.remove(bn)
    graph.remove_unused_tensors()
    return graph

