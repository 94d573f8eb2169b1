"""A standalone ReLU / ReLU6 / Hardtanh (a clamp not fused into a producer).

int8 as TFLite's RELU: requantize input to output parameters, then clamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import RELU, Activation, float32_requant, quant_of, requant_multiplier
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier


@dataclass(frozen=True)
class RequantKernel:
    input_offset: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class Clamp(Op):
    kind = "clamp"
    activation: Activation = RELU

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self.activation.apply(ins[0].astype(np.float32)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> RequantKernel:
        qin, qout = quant_of(graph, node.inputs[0]), quant_of(graph, node.outputs[0])
        m, s = rescale_multiplier(qin.s, qout.s, float32_requant(graph))
        lo, hi = self.activation.int8_range(qout)
        return RequantKernel(-qin.zp, qout.zp, m, s, lo, hi)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return requantize(ins[0], kernel)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)


def rescale_multiplier(in_scale: float, out_scale: float, float32: bool) -> tuple[int, int]:
    """The multiplier of in_scale / out_scale (float32: as float32 runtimes divide, one rounding)."""
    return requant_multiplier(in_scale / out_scale,
                              np.float32(np.float32(in_scale) / np.float32(out_scale)) if float32 else None)


def requantize(x: np.ndarray, k: RequantKernel) -> np.ndarray:
    y = multiply_by_quantized_multiplier(x.astype(np.int64) + k.input_offset, k.multiplier, k.shift)
    return np.clip(y + k.output_offset, k.act_min, k.act_max).astype(np.int8)
