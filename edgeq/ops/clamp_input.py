"""A clamp in the input's own parameters, the bytes passed through unchanged: TFLite
Micro's int8 RELU6 and RELU_N1_TO_1 (micro/kernels/activations.cc), which clamp to
[zero point + round(lo / scale), zero point + round(hi / scale)] of the input and do not
requantize to the output's parameters (TFLite Micro's RELU does; see clamp.py).

The bounds are computed as TFLite Micro's FloatToQuantizedType: float32 division,
rounded half away from zero, plus the zero point, saturated to int8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, OutputQuant, Shape
from edgeq.ops.common import RELU6, Activation, quant_of


@dataclass(frozen=True)
class ClampInputKernel:
    lo: int
    hi: int


def _float_to_int8(value: float, scale: float, zero_point: int) -> int:
    q = np.float32(value) / np.float32(scale)
    rounded = int(np.sign(q) * np.floor(np.abs(q) + np.float32(0.5)))
    return int(min(max(rounded + zero_point, -128), 127))


@dataclass(frozen=True)
class ClampInput(Op):
    kind = "clamp_input"
    output_quant = OutputQuant.SAME_AS_INPUT
    activation: Activation = RELU6

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self.activation.apply(ins[0].astype(np.float32)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> ClampInputKernel:
        qin = quant_of(graph, node.inputs[0])
        lo = -128 if self.activation.lo is None else _float_to_int8(self.activation.lo, qin.s, qin.zp)
        hi = 127 if self.activation.hi is None else _float_to_int8(self.activation.hi, qin.s, qin.zp)
        return ClampInputKernel(lo, hi)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return np.clip(ins[0], kernel.lo, kernel.hi).astype(np.int8)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)
