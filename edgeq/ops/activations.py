"""SOFTMAX, LOGISTIC and TANH: fixed output parameters as TFLite
(softmax and logistic: scale 1/256, zero point -128; tanh: scale 1/128, zero point 0).

The int8 arithmetic follows TFLite Micro's reference kernels bit for bit; for int8 TFLite
Micro uses gemmlowp's fixed-point exp / logistic / tanh (not the int16 lookup tables):
micro/kernels/softmax_common.cc + reference/softmax.h, micro/kernels/logistic_common.cc +
reference/integer_ops/logistic.h, micro/kernels/tanh.cc + reference/integer_ops/tanh.h.
Scales and beta are read as float32, as TFLite Micro reads them from the flatbuffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import QuantParams
from edgeq.ops.base import Op, OutputQuant, Shape
from edgeq.ops.common import quant_of
from edgeq.quant.fixedpoint import (
    calculate_input_radius,
    exp_on_negative_values,
    fixed_logistic,
    fixed_tanh,
    frexp_multiplier,
    get_reciprocal,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    preprocess_softmax_scaling,
    rescale,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)

#: Integer bits of the scaled input difference of SOFTMAX (Q5.26) and of its sum of exps (Q12.19).
SOFTMAX_DIFF_INTEGER_BITS = 5
SOFTMAX_ACCUM_INTEGER_BITS = 12
#: Integer bits of the rescaled input of LOGISTIC and TANH (Q4.27).
SIGMOID_INPUT_INTEGER_BITS = 4


def _f32(x: float) -> float:
    return float(np.float32(x))


def _check_fixed_output(op: Op, node: Node, graph: Graph) -> None:
    qo, want = quant_of(graph, node.outputs[0]), op.fixed_output_quant()
    if qo.zp != want.zp or _f32(qo.s) != _f32(want.s):
        raise ValueError(f"{op.kind}: output must have scale {want.s} and zero point {want.zp}, "
                         f"got {qo.s} and {qo.zp}")


@dataclass(frozen=True)
class SoftmaxKernel:
    """TFLite's SoftmaxParams for int8 in, int8 out (scale 1/256, zero point -128)."""

    input_multiplier: int  # beta * input_scale * 2^26, as a multiplier > 1
    input_left_shift: int
    diff_min: int  # input differences below this give exp() == 0 (output -128)
    diff_integer_bits: int = SOFTMAX_DIFF_INTEGER_BITS
    accum_integer_bits: int = SOFTMAX_ACCUM_INTEGER_BITS
    output_exponent_base: int = 31 - 8  # the output right shift is num_bits_over_unit + this
    output_offset: int = -128


@dataclass(frozen=True)
class SigmoidKernel:
    """LOGISTIC and TANH: |input - zero point| >= input_range_radius saturates; otherwise the
    input is rescaled to Q4.27 by input_multiplier * 2^(input_left_shift - 31)."""

    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int
    output_shift: int  # Q0.31 result rounded down to the output (23: logistic, 24: tanh)
    output_offset: int
    input_integer_bits: int = SIGMOID_INPUT_INTEGER_BITS


def _sigmoid_kernel(node: Node, graph: Graph, output_shift: int, output_offset: int) -> SigmoidKernel:
    qi = quant_of(graph, node.inputs[0])
    bits = SIGMOID_INPUT_INTEGER_BITS
    multiplier, shift = frexp_multiplier(_f32(qi.s) * float(1 << (31 - bits)))
    radius = min(calculate_input_radius(bits, shift, 31), 2**31 - 1)  # int8 differences are < 256 anyway
    if radius <= 0:  # every input saturates; the multiplier is never used
        multiplier, shift = 0, 0
    if shift > 30:
        raise ValueError(f"input scale {qi.s} is out of range")
    return SigmoidKernel(qi.zp, radius, multiplier, shift, output_shift, output_offset)


def _sigmoid_int8(x: np.ndarray, k: SigmoidKernel, fn: Any) -> np.ndarray:
    inp = x.astype(np.int64) - k.input_zero_point
    q4 = multiply_by_quantized_multiplier(inp, k.input_multiplier, k.input_left_shift)
    y = rounding_divide_by_pot(fn(q4, k.input_integer_bits), k.output_shift) + k.output_offset
    y = np.clip(y, -128, 127)
    y = np.where(inp <= -k.input_range_radius, -128, np.where(inp >= k.input_range_radius, 127, y))
    return y.astype(np.int8)


@dataclass(frozen=True)
class Softmax(Op):
    kind = "softmax"
    output_quant = OutputQuant.FIXED
    beta: float = 1.0

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x = ins[0].astype(np.float32) * np.float32(self.beta)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def fixed_output_quant(self) -> QuantParams:
        return QuantParams.per_tensor(1.0 / 256.0, -128)

    def quantize(self, node: Node, graph: Graph) -> SoftmaxKernel:
        _check_fixed_output(self, node, graph)
        qi = quant_of(graph, node.inputs[0])
        multiplier, left_shift = preprocess_softmax_scaling(_f32(self.beta), _f32(qi.s), SOFTMAX_DIFF_INTEGER_BITS)
        diff_min = -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift, 31)
        return SoftmaxKernel(multiplier, left_shift, diff_min)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: SoftmaxKernel = kernel
        x = ins[0].astype(np.int64)
        diff = x - x.max(axis=-1, keepdims=True)
        valid = diff >= k.diff_min
        scaled = multiply_by_quantized_multiplier_greater_than_one(
            np.where(valid, diff, 0), k.input_multiplier, k.input_left_shift)
        exps = exp_on_negative_values(scaled, k.diff_integer_bits)  # Q0.31
        terms = np.where(valid, rescale(exps, 0, k.accum_integer_bits), 0)
        # An int32 sum in TFLite (it wraps from 4096 columns on; wrapped here as in the C).
        sum_of_exps = wrap_int32(terms.sum(axis=-1, keepdims=True))
        scale, num_bits_over_unit = get_reciprocal(sum_of_exps, k.accum_integer_bits)
        # TFLite Micro aborts (TFLITE_CHECK) when exponent > 31, i.e. when the sum of exps
        # reaches 512: every output is then below half a step and edgeq gives 0 (-128).
        exponent = num_bits_over_unit + k.output_exponent_base
        y = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scale, exps), exponent) + k.output_offset
        return np.where(valid, np.clip(y, -128, 127), -128).astype(np.int8)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        shape = graph.tensors[node.outputs[0]].shape
        depth = int(shape[-1])
        size = graph.tensors[node.outputs[0]].size
        return dict(size=size, depth=depth, rows=size // depth)


@dataclass(frozen=True)
class Logistic(Op):
    kind = "logistic"
    output_quant = OutputQuant.FIXED

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-ins[0].astype(np.float32)))).astype(np.float32)

    def fixed_output_quant(self) -> QuantParams:
        return QuantParams.per_tensor(1.0 / 256.0, -128)

    def quantize(self, node: Node, graph: Graph) -> SigmoidKernel:
        _check_fixed_output(self, node, graph)
        return _sigmoid_kernel(node, graph, output_shift=31 - 8, output_offset=-128)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return _sigmoid_int8(ins[0], kernel, fixed_logistic)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)


@dataclass(frozen=True)
class Tanh(Op):
    kind = "tanh"
    output_quant = OutputQuant.FIXED

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return np.tanh(ins[0].astype(np.float32)).astype(np.float32)

    def fixed_output_quant(self) -> QuantParams:
        return QuantParams.per_tensor(1.0 / 128.0, 0)

    def quantize(self, node: Node, graph: Graph) -> SigmoidKernel:
        _check_fixed_output(self, node, graph)
        return _sigmoid_kernel(node, graph, output_shift=31 - 7, output_offset=0)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return _sigmoid_int8(ins[0], kernel, fixed_tanh)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)
