"""MUL of two tensors of the same shape (TFLite int8 arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import (
    NO_ACTIVATION,
    Activation,
    float32_requant,
    quant_of,
    requant_multiplier,
    same_shape_operands,
)
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier


@dataclass(frozen=True)
class MulKernel:
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class Mul(Op):
    kind = "mul"
    num_activation_inputs = 2
    activation: Activation = NO_ACTIVATION

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return same_shape_operands(self.kind, in_shapes)

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self.activation.apply(ins[0].astype(np.float32) * ins[1].astype(np.float32)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> MulKernel:
        q1, q2 = quant_of(graph, node.inputs[0]), quant_of(graph, node.inputs[1])
        qo = quant_of(graph, node.outputs[0])
        f32 = np.float32
        m, s = requant_multiplier(q1.s * q2.s / qo.s, f32(f32(f32(q1.s) * f32(q2.s)) / f32(qo.s))
                                  if float32_requant(graph) else None)
        lo, hi = self.activation.int8_range(qo)
        return MulKernel(-q1.zp, -q2.zp, qo.zp, m, s, lo, hi)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: MulKernel = kernel
        prod = (ins[0].astype(np.int64) + k.input1_offset) * (ins[1].astype(np.int64) + k.input2_offset)
        y = multiply_by_quantized_multiplier(prod, k.output_multiplier, k.output_shift) + k.output_offset
        return np.clip(y, k.act_min, k.act_max).astype(np.int8)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)
