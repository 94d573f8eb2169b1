"""MEAN over H and W of an NHWC tensor (TFLite's MEAN with axis [1, 2]), keep_dims or not.

int8 follows TFLite Micro's reference kernel (micro/kernels/reduce_common.cc, EvalIntegerMean
-> QuantizedMeanOrSum in kernels/internal/reference/reduce.h), which it uses for int8 whether
or not the input and output parameters are equal (checked against the tflite-micro package;
some vendor kernels take a plain sum / count path when they are equal, the reference does not):
(sum - count * input_zp) is requantized by the multiplier of input_scale / output_scale with
1 / count folded into it (the multiplier is shifted left by floor(log2(count)), at most 32 and
at most 31 + shift, then divided by count with truncation), plus the output zero point,
saturated to int8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import quant_of
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier


@dataclass(frozen=True)
class MeanKernel:
    count: int  # elements averaged per output (H * W)
    input_zero_point: int
    sum_offset: int  # -count * input zero point
    output_offset: int
    multiplier: int  # input_scale / output_scale with 1 / count folded in
    shift: int


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """TFLite's QuantizedMeanOrSum: fold 1 / count into (multiplier, shift)."""
    fold = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << fold) // count, shift - fold


@dataclass(frozen=True)
class Mean(Op):
    kind = "mean"
    keep_dims: bool = True

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x = in_shapes[0]
        if len(x) != 4:
            raise ValueError(f"mean: input must be NHWC, got {x}")
        return [(x[0], 1, 1, x[3]) if self.keep_dims else (x[0], x[3])]

    def _out(self, y: np.ndarray) -> np.ndarray:
        return y if self.keep_dims else y.reshape(y.shape[0], y.shape[3])

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self._out(ins[0].astype(np.float32).mean(axis=(1, 2), keepdims=True)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> MeanKernel:
        qin, qout = quant_of(graph, node.inputs[0]), quant_of(graph, node.outputs[0])
        x = graph.tensors[node.inputs[0]].shape
        count = int(x[1] * x[2])
        m, s = quantize_multiplier(float(np.float32(qin.s)) / float(np.float32(qout.s)))
        m, s = fold_count(m, s, count)
        return MeanKernel(count, qin.zp, -count * qin.zp, qout.zp, int(m), int(s))

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: MeanKernel = kernel
        total = ins[0].astype(np.int64).sum(axis=(1, 2), keepdims=True)
        y = multiply_by_quantized_multiplier(total + k.sum_offset, k.multiplier, k.shift)
        y = np.clip(y + k.output_offset, -128, 127)
        return self._out(y.astype(np.int8))

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        x = graph.tensors[node.inputs[0]].shape
        return dict(count=int(x[1] * x[2]), channels=x[3])
