"""LOOKUP: an elementwise int8 function as a 256-entry table (sigmoid, tanh).

For models made by runtimes that compute such functions in float between their int8 input and
output (onnxruntime's QLinearSigmoid and its QDQ Sigmoid / Tanh): the table holds, for every int8
input x, what they compute: y = f(float32(scale_in * (x - zp_in))) quantized to the model's output
parameters (float32 division, rounded half to even). It is computed once, when the kernel constants
are, from the tensors' parameters; the kernel only indexes it (no float at run time). The output
parameters are the model's own (observed), so no requantization follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import quant_of


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf for very negative x: 0, as it should
        return 1.0 / (1.0 + np.exp(-x))


#: The functions a table can hold, evaluated in float64 on float32 inputs.
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sigmoid": _sigmoid, "tanh": np.tanh}


@dataclass(frozen=True)
class LookupKernel:
    table: tuple[int, ...]  # 256 int8 outputs, indexed by input + 128


@dataclass(frozen=True)
class Lookup(Op):
    kind = "lookup"
    function: str = "sigmoid"

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ValueError(f"lookup: function must be one of {', '.join(FUNCTIONS)}, got {self.function!r}")

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return FUNCTIONS[self.function](ins[0].astype(np.float64)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> LookupKernel:
        qin, qout = quant_of(graph, node.inputs[0]), quant_of(graph, node.outputs[0])
        x = (np.float32(qin.s) * (np.arange(-128, 128) - qin.zp).astype(np.float32)).astype(np.float32)
        y = FUNCTIONS[self.function](x.astype(np.float64)).astype(np.float32)
        q = np.rint((y / np.float32(qout.s)).astype(np.float32)).astype(np.int64) + qout.zp
        return LookupKernel(tuple(int(v) for v in np.clip(q, -128, 127)))

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return np.asarray(kernel.table, dtype=np.int8)[ins[0].astype(np.int64) + 128]

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)
