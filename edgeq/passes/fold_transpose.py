"""Fold the NHWC->NCHW TRANSPOSE before a flatten into the following FULLY_CONNECTED.

PyTorch flattens NCHW tensors in C,H,W order; edgeq keeps images NHWC. A frontend writes
that as TRANSPOSE(0,3,1,2) + RESHAPE. When the reshape feeds only fully connected layers,
permuting the weight columns instead makes the transpose free.
"""

from __future__ import annotations

import copy

import numpy as np

from edgeq.ir.graph import Graph
from edgeq.ir.tensor import Tensor

NHWC_TO_NCHW = (0, 3, 1, 2)


def fold_transpose_into_fully_connected(graph: Graph) -> Graph:
    for tr in [n for n in graph.nodes if n.kind == "transpose" and n.op.perm == NHWC_TO_NCHW]:  # type: ignore[attr-defined]
        consumers = graph.consumers(tr.outputs[0])
        if len(consumers) != 1 or consumers[0].kind != "reshape" or tr.outputs[0] in graph.outputs:
            continue
        reshape = consumers[0]
        fcs = graph.consumers(reshape.outputs[0])
        if not fcs or reshape.outputs[0] in graph.outputs or any(n.kind != "fully_connected" for n in fcs):
            continue
        if any(n.inputs[0] != reshape.outputs[0] for n in fcs):
            continue
        _, h, w, c = graph.tensors[tr.inputs[0]].shape
        # Column j of the NCHW-flattened input is NHWC element perm[j].
        nhwc_index_of_nchw = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        for fc in fcs:
            weights = graph.tensors[fc.inputs[1]]
            assert weights.data is not None
            new = np.empty_like(weights.data)
            new[:, nhwc_index_of_nchw] = weights.data
            # Columns move; dtype and (per-row) quantization parameters stay: works on float
            # graphs and on imported int8 ones alike.
            name = graph.unique_name(weights.name + "_nhwc")
            graph.add_tensor(Tensor(name, weights.shape, weights.dtype, data=new, quant=copy.deepcopy(weights.quant)))
            fc.inputs[1] = name
        reshape.inputs[0] = tr.inputs[0]
        graph.nodes.remove(tr)
    graph.remove_unused_tensors()
    return graph
