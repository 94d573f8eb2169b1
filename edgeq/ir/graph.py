"""Nodes and the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgeq.ir.tensor import DType, Tensor

if TYPE_CHECKING:
    from edgeq.ops.base import Op


@dataclass
class Node:
    """One operator application.

    `inputs` and `outputs` name tensors of the graph; constants (weights, bias) are
    inputs too. `source` says where the node came from in the user's model
    (for example ``"conv1 (Conv2d)"``) so messages can name the layer.
    `kernel` holds the op's quantized parameters once the graph is quantized.
    """

    name: str
    op: Op
    inputs: list[str]
    outputs: list[str]
    source: str = ""
    kernel: Any = None

    @property
    def kind(self) -> str:
        return self.op.kind


@dataclass
class Graph:
    """A static graph with batch size 1, tensors in execution order.

    `input_layout` records the layout the user's framework gives inputs in
    ("NCHW" for PyTorch images, "NHWC" otherwise); inside the graph images are NHWC.
    """

    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    input_layout: str = "NHWC"
    output_layout: str = "NHWC"
    meta: dict[str, str] = field(default_factory=dict)
    _node_names: set[str] = field(default_factory=set, repr=False, compare=False)

    # -- construction -------------------------------------------------------------
    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor.name in self.tensors:
            raise ValueError(f"duplicate tensor name {tensor.name!r}")
        self.tensors[tensor.name] = tensor
        return tensor

    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self.tensors or name in self._node_names:
            i += 1
            name = f"{base}_{i}"
        return name

    def add_constant(self, base: str, data: Any, dtype: DType = DType.FLOAT32) -> str:
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(data, dtype=dtype.value))
        name = self.unique_name(base)
        self.add_tensor(Tensor(name, tuple(arr.shape), dtype, data=arr))
        return name

    def add_node(self, node: Node) -> Node:
        self.nodes.append(node)
        self._node_names.add(node.name)
        return node

    def replace_node(self, old: Node, new: Node) -> Node:
        """Put `new` at `old`'s place in the execution order (`old` by identity)."""
        self.nodes[next(i for i, n in enumerate(self.nodes) if n is old)] = new
        self._node_names.add(new.name)
        return new

    # -- queries ------------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def activations(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if not t.is_constant]

    def constants(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.is_constant]

    @property
    def is_quantized(self) -> bool:
        return all(n.kernel is not None for n in self.nodes)

    def remove_unused_tensors(self) -> None:
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(n.inputs)
            used.update(n.outputs)
        for name in list(self.tensors):
            if name not in used:
                del self.tensors[name]

    def replace_uses(self, old: str, new: str) -> None:
        for n in self.nodes:
            n.inputs = [new if t == old else t for t in n.inputs]
        self.outputs = [new if t == old else t for t in self.outputs]
