"""The graph IR: tensors, nodes, graph, verifier and a stable text dump."""

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType, QuantParams, Tensor

__all__ = ["DType", "Graph", "Node", "QuantParams", "Tensor"]
