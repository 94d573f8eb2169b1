"""ADD of two tensors of the same shape, with TFLite's int8 arithmetic (20-bit left shift)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import NO_ACTIVATION, Activation, quant_of, same_shape_operands
from edgeq.quant.fixedpoint import (
    multiply_by_quantized_multiplier_smaller_than_one_exp as mul_exp,
)
from edgeq.quant.fixedpoint import quantize_multiplier_smaller_than_one_exp, wrap_int32

LEFT_SHIFT = 20


@dataclass(frozen=True)
class AddKernel:
    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class Add(Op):
    kind = "add"
    num_activation_inputs = 2
    activation: Activation = NO_ACTIVATION

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return same_shape_operands(self.kind, in_shapes)

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self.activation.apply(ins[0].astype(np.float32) + ins[1].astype(np.float32)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> AddKernel:
        q1, q2 = quant_of(graph, node.inputs[0]), quant_of(graph, node.inputs[1])
        qo = quant_of(graph, node.outputs[0])
        twice_max = 2.0 * max(q1.s, q2.s)
        m1, s1 = quantize_multiplier_smaller_than_one_exp(q1.s / twice_max)
        m2, s2 = quantize_multiplier_smaller_than_one_exp(q2.s / twice_max)
        mo, so = quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << LEFT_SHIFT) * qo.s))
        lo, hi = self.activation.int8_range(qo)
        return AddKernel(LEFT_SHIFT, -q1.zp, m1, s1, -q2.zp, m2, s2, qo.zp, mo, so, lo, hi)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: AddKernel = kernel
        a = wrap_int32((ins[0].astype(np.int64) + k.input1_offset) << k.left_shift)
        b = wrap_int32((ins[1].astype(np.int64) + k.input2_offset) << k.left_shift)
        raw = mul_exp(a, k.input1_multiplier, k.input1_shift) + mul_exp(b, k.input2_multiplier, k.input2_shift)
        y = mul_exp(raw, k.output_multiplier, k.output_shift) + k.output_offset
        return np.clip(y, k.act_min, k.act_max).astype(np.int8)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        k = kernel_of(node)
        return dict(size=graph.tensors[node.outputs[0]].size, add_init=add_params_init(k), big=big_operand(k))


def kernel_of(node: Node) -> AddKernel:
    k: AddKernel = node.kernel
    return k


def big_operand(k: AddKernel) -> int:
    """The operand (0 or 1) of the larger scale: multiplier 2^30, no shift (its scale over twice
    itself), whose scaled value is exactly (x + offset) << 19 (edgeq_add_raw's "big")."""
    for i, (mult, shift) in enumerate([(k.input1_multiplier, k.input1_shift), (k.input2_multiplier, k.input2_shift)]):
        if mult == 2**30 and shift == 0:
            return i
    raise ValueError("add: no operand has the multiplier 2^30 (the kernels need one)")


def add_params_init(k: AddKernel) -> str:
    """The C initializer of the layer's edgeq_add_t (templates/runtime/edgeq_kernels.h): the
    operand big_operand(k) first. Raises ValueError for constants edgeq_add_q7 does not take."""
    if k.left_shift != LEFT_SHIFT:
        raise ValueError(f"add: left shift {k.left_shift} (the kernels take {LEFT_SHIFT})")
    operands = [(k.input1_offset, k.input1_multiplier, k.input1_shift),
                (k.input2_offset, k.input2_multiplier, k.input2_shift)]
    big = big_operand(k)
    offset, mult, shift = operands[1 - big]
    if shift == 0 and mult == 2**30:  # equal scales: the same value with a right shift of 1
        mult, shift = 2**31 - 1, -1
    mo, so = k.output_multiplier, k.output_shift
    for m, sh in ((mult, shift), (mo, so)):
        if not (0 <= m < 2**31 and -31 <= sh <= -1):
            raise ValueError(f"add: multiplier {m} with shift {sh} out of the kernels' range")
    values = [operands[big][0] * 2**20, offset * 2**21, mult, 1 << (-shift - 1), -shift,
              mo, 1 << (-so - 1), -so, k.output_offset, k.act_min, k.act_max]
    return "{ " + ", ".join(str(int(v)) for v in values) + " }"
