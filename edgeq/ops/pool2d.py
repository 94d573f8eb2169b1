"""MAX_POOL_2D and AVERAGE_POOL_2D on NHWC. Output parameters equal the input's (TFLite).

Padded positions never count: max ignores them, average divides by the number of valid
elements (TFLite semantics; PyTorch's count_include_pad is expressed by an explicit PAD).

An average halfway between two int8 values rounds as `AvgPool2D.rounding` says: away from
zero (TFLite, the default), to the even int8 value (PyTorch's fbgemm/x86 engines, which round
the stored values' mean half to even) or to an even distance from the zero point (qnnpack and
onnxruntime, which round the mean of value - zero point half to even). Integer arithmetic only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, OutputQuant, Shape
from edgeq.ops.common import NO_ACTIVATION, Activation, Padding, pad_nhwc, quant_of, window_out, windows

#: AvgPool2D.rounding: ties away from zero (TFLite), to even, to an even distance from the zero point.
HALF_AWAY, HALF_EVEN, HALF_EVEN_ZP = "half_away", "half_even", "half_even_zp"
ROUNDINGS = (HALF_AWAY, HALF_EVEN, HALF_EVEN_ZP)


@dataclass(frozen=True)
class PoolKernel:
    act_min: int
    act_max: int
    center: int = 0  # average pool with rounding half_even_zp: the input zero point


@dataclass(frozen=True)
class _Pool2D(Op):
    output_quant = OutputQuant.SAME_AS_INPUT
    kernel_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: Padding = (0, 0, 0, 0)
    activation: Activation = NO_ACTIVATION

    def _out_hw(self, x: Shape) -> tuple[int, int]:
        t, b, left, r = self.padding
        return (window_out(x[1], self.kernel_size[0], self.stride[0], 1, t, b),
                window_out(x[2], self.kernel_size[1], self.stride[1], 1, left, r))

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x = in_shapes[0]
        if len(x) != 4:
            raise ValueError(f"{self.kind}: input must be NHWC, got {x}")
        oh, ow = self._out_hw(x)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"{self.kind}: window {self.kernel_size} larger than input {x[1:3]}")
        return [(x[0], oh, ow, x[3])]

    def _windows(self, x: np.ndarray, fill: float) -> np.ndarray:
        oh, ow = self._out_hw(x.shape)
        return windows(pad_nhwc(x, self.padding, fill), *self.kernel_size, self.stride, (1, 1), oh, ow)

    def _valid(self, x: np.ndarray) -> np.ndarray:
        """1 where a window element is inside the input, 0 where it is padding."""
        ones = np.ones((1, x.shape[1], x.shape[2], 1), dtype=np.int64)
        return self._windows(ones, 0)

    def quantize(self, node: Node, graph: Graph) -> PoolKernel:
        lo, hi = self.activation.int8_range(quant_of(graph, node.outputs[0]))
        return PoolKernel(lo, hi)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        x = graph.tensors[node.inputs[0]].shape
        y = graph.tensors[node.outputs[0]].shape
        return dict(in_h=x[1], in_w=x[2], channels=x[3], out_h=y[1], out_w=y[2],
                    k_h=self.kernel_size[0], k_w=self.kernel_size[1], stride_h=self.stride[0],
                    stride_w=self.stride[1], pad_top=self.padding[0], pad_left=self.padding[2])


@dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    kind = "max_pool2d"

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        w = self._windows(ins[0].astype(np.float32), -np.inf)
        return self.activation.apply(w.max(axis=(3, 4))).astype(np.float32)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        w = self._windows(ins[0].astype(np.int64), -128)
        return np.clip(w.max(axis=(3, 4)), kernel.act_min, kernel.act_max).astype(np.int8)


@dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    kind = "avg_pool2d"
    rounding: str = HALF_AWAY

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"avg_pool2d: rounding must be one of {', '.join(ROUNDINGS)}, got {self.rounding!r}")

    def quantize(self, node: Node, graph: Graph) -> PoolKernel:
        lo, hi = self.activation.int8_range(quant_of(graph, node.outputs[0]))
        center = quant_of(graph, node.inputs[0]).zp if self.rounding == HALF_EVEN_ZP else 0
        return PoolKernel(lo, hi, center)

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x = ins[0].astype(np.float32)
        total = self._windows(x, 0.0).sum(axis=(3, 4))
        count = self._valid(x).sum(axis=(3, 4))
        return self.activation.apply(total / count).astype(np.float32)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        x = ins[0].astype(np.int64)
        total = self._windows(x, 0).sum(axis=(3, 4))
        count = self._valid(x).sum(axis=(3, 4))
        if self.rounding == HALF_AWAY:
            # TFLite: round half away from zero with C's truncating division.
            num = np.where(total > 0, total + count // 2, total - count // 2)
            avg = np.sign(num) * (np.abs(num) // count)
        else:
            # Half to even, of the mean of x - center: floor division, then up past the half.
            v = total - kernel.center * count
            q = v // count
            twice_r = 2 * (v - q * count)
            avg = q + ((twice_r > count) | ((twice_r == count) & (q % 2 == 1))) + kernel.center
        return np.clip(avg, kernel.act_min, kernel.act_max).astype(np.int8)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return {**super().template_context(node, graph), "rounding": self.rounding}

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return 0
