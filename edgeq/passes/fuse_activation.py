"""Fuse a standalone CLAMP (ReLU, ReLU6, Hardtanh) into the op that produces its input.

Only when the producer has no activation yet and the clamp is its only consumer.
"""

from __future__ import annotations

import dataclasses

from edgeq.ir.graph import Graph

FUSABLE = {"conv2d", "depthwise_conv2d", "fully_connected", "add", "mul", "max_pool2d", "avg_pool2d"}


def fuse_activations(graph: Graph) -> Graph:
    for clamp in [n for n in graph.nodes if n.kind == "clamp"]:
        producer = graph.producer(clamp.inputs[0])
        if producer is None or producer.kind not in FUSABLE:
            continue
        if not producer.op.activation.is_none:  # type: ignore[attr-defined]
            continue
        if len(graph.consumers(clamp.inputs[0])) != 1 or clamp.inputs[0] in graph.outputs:
            continue
        producer.op = dataclasses.replace(producer.op, activation=clamp.op.activation)  # type: ignore[call-arg]
        producer.outputs = [clamp.outputs[0]]
        graph.nodes.remove(clamp)
    graph.remove_unused_tensors()
    return graph
