"""Fold a residual ADD into the CONV_2D that feeds it (on a quantized graph).

An ADD one of whose operands is the output of a CONV_2D that has no other reader (and is not a
graph output) becomes one CONV2D_ADD layer at the ADD's place: inputs [conv input, the other
operand (the skip), weights, bias], the ADD's output, kernel ConvAddKernel(conv, add). When both
operands come from such convs, the one that runs last is folded, so the other's output (already
computed) is the skip. The conv's int8 output tensor disappears; the fused layer's kernel does the
ADD in its store (and the planner may write its output over the skip). The int8 reference of the
fused layer is the composition of the two, so the graph's bytes do not change.

Every conv kernel variant (dsp, portable, mve) has the ADD epilogue, so the pass is the same for
every target.
"""

from __future__ import annotations

import copy

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType
from edgeq.ops.add import LEFT_SHIFT, Add, AddKernel
from edgeq.ops.conv2d import Conv2D
from edgeq.ops.conv2d_add import Conv2DAdd, ConvAddKernel


def _fusable_conv(graph: Graph, tensor: str, add: Node) -> Node | None:
    conv = graph.producer(tensor)
    if conv is None or not isinstance(conv.op, Conv2D) or len(conv.outputs) != 1:
        return None
    readers = graph.consumers(tensor)
    if tensor in graph.outputs or len(readers) != 1 or readers[0] is not add:
        return None
    if graph.tensors[tensor].dtype != DType.INT8:
        return None
    return conv


def fuse_conv_add(graph: Graph) -> Graph:
    """A copy of quantized `graph` with every fusable conv -> ADD pair as one Conv2DAdd layer."""
    if not graph.is_quantized:
        raise AssertionError("fuse_conv_add() needs a quantized graph")
    g = copy.deepcopy(graph)
    for add in [n for n in g.nodes if isinstance(n.op, Add)]:
        k: AddKernel = add.kernel
        if k.left_shift != LEFT_SHIFT or len(add.inputs) != 2 or add.inputs[0] == add.inputs[1]:
            continue
        index = {id(n): i for i, n in enumerate(g.nodes)}
        candidates = [(index[id(c)], operand, c) for operand, t in enumerate(add.inputs)
                      if (c := _fusable_conv(g, t, add)) is not None]
        if not candidates:
            continue
        _, operand, conv = max(candidates, key=lambda c: c[0])  # the conv that runs last
        x, w, b = conv.inputs
        skip = add.inputs[1 - operand]
        op = Conv2DAdd(conv=conv.op, add=add.op, conv_operand=operand)
        fused = Node(f"{conv.name}+{add.name}", op, [x, skip, w, b], list(add.outputs),
                     source=f"{conv.source or conv.name} + {add.source or add.name}",
                     kernel=ConvAddKernel(conv.kernel, k))
        g.replace_node(add, fused)  # at the ADD's place: the skip is computed by then
        del g.nodes[index[id(conv)]]  # before the ADD
    g.remove_unused_tensors()
    return g
