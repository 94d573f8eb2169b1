"""Ops that move bytes without arithmetic: RESHAPE, TRANSPOSE, PAD.

Their output parameters equal the input's, so the int8 kernels are copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, OutputQuant, Shape
from edgeq.ops.common import quant_of


@dataclass(frozen=True)
class NoKernel:
    """Ops whose int8 kernel needs no constants."""


@dataclass(frozen=True)
class Reshape(Op):
    kind = "reshape"
    output_quant = OutputQuant.SAME_AS_INPUT
    shape: tuple[int, ...] = ()

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        if int(np.prod(in_shapes[0])) != int(np.prod(self.shape)):
            raise ValueError(f"reshape: cannot reshape {in_shapes[0]} to {self.shape}")
        return [tuple(self.shape)]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return ins[0].reshape((ins[0].shape[0], *self.shape[1:]))

    def quantize(self, node: Node, graph: Graph) -> NoKernel:
        return NoKernel()

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return ins[0].reshape((ins[0].shape[0], *self.shape[1:]))

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        return dict(size=graph.tensors[node.outputs[0]].size)


@dataclass(frozen=True)
class Transpose(Op):
    kind = "transpose"
    output_quant = OutputQuant.SAME_AS_INPUT
    perm: tuple[int, ...] = ()

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        if sorted(self.perm) != list(range(len(in_shapes[0]))):
            raise ValueError(f"transpose: permutation {self.perm} does not fit shape {in_shapes[0]}")
        return [tuple(in_shapes[0][p] for p in self.perm)]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return np.ascontiguousarray(ins[0].transpose(self.perm))

    def quantize(self, node: Node, graph: Graph) -> NoKernel:
        return NoKernel()

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return np.ascontiguousarray(ins[0].transpose(self.perm))

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        in_shape = graph.tensors[node.inputs[0]].shape
        out_shape = graph.tensors[node.outputs[0]].shape
        in_strides = [int(np.prod(in_shape[i + 1 :], dtype=np.int64)) for i in range(len(in_shape))]
        return dict(out_shape=list(out_shape), src_strides=[in_strides[p] for p in self.perm])


@dataclass(frozen=True)
class PadKernel:
    pad_value: int  # the input zero point: padding with real zero


@dataclass(frozen=True)
class Pad(Op):
    """Zero padding of an NHWC tensor's H and W: (top, bottom, left, right)."""

    kind = "pad"
    output_quant = OutputQuant.SAME_AS_INPUT
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x = in_shapes[0]
        if len(x) != 4:
            raise ValueError(f"pad: input must be NHWC, got {x}")
        t, b, left, r = self.padding
        return [(x[0], x[1] + t + b, x[2] + left + r, x[3])]

    def _pad(self, x: np.ndarray, value: float | int) -> np.ndarray:
        t, b, left, r = self.padding
        return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), constant_values=value)

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return self._pad(ins[0], 0.0)

    def quantize(self, node: Node, graph: Graph) -> PadKernel:
        return PadKernel(quant_of(graph, node.inputs[0]).zp)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        return self._pad(ins[0], kernel.pad_value)

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        x = graph.tensors[node.inputs[0]].shape
        y = graph.tensors[node.outputs[0]].shape
        return dict(in_h=x[1], in_w=x[2], channels=x[3], out_w=y[2], out_size=int(np.prod(y)),
                    row_bytes=x[2] * x[3], pad_top=self.padding[0], pad_left=self.padding[2])
