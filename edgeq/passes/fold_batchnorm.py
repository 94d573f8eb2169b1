"""Fold BATCH_NORM into the conv / depthwise / fully connected that feeds it.

y = (x * W + b) * s + t  ==  x * (W * s) + (b * s + t), scaling each output channel.
A batch norm on an image with nothing to fold into becomes a 1x1 depthwise convolution.
"""

from __future__ import annotations

from edgeq.errors import UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ops.depthwise_conv2d import DepthwiseConv2D

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
        if producer is None and len(graph.tensors[bn.inputs[0]].shape) == 4:
            _as_depthwise(graph, bn)
            continue
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



def _as_depthwise(graph: Graph, bn: Node) -> None:
    """A batch norm with no conv or dense to fold into (after the input, after an add):
    exactly a 1x1 depthwise convolution with weights `scale` and bias `shift`."""
    scale = graph.tensors[bn.inputs[1]].data
    assert scale is not None
    weights = graph.add_constant(bn.inputs[1] + "_dw", scale.reshape(1, 1, 1, -1))
    bn.op = DepthwiseConv2D()
    bn.inputs = [bn.inputs[0], weights, bn.inputs[2]]
