"""CONCATENATION along one axis. Inputs whose parameters differ from the output's are
requantized (as TFLite's RELU arithmetic); equal ones are copied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.clamp import RequantKernel, requantize, rescale_multiplier
from edgeq.ops.common import float32_requant, quant_of


@dataclass(frozen=True)
class ConcatKernel:
    parts: tuple[RequantKernel | None, ...]  # None: same parameters, plain copy


@dataclass(frozen=True)
class Concat(Op):
    kind = "concat"
    num_activation_inputs = -1  # all inputs
    axis: int = -1

    def _axis(self, rank: int) -> int:
        return self.axis % rank

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        rank = len(in_shapes[0])
        ax = self._axis(rank)
        for s in in_shapes:
            if len(s) != rank or any(s[i] != in_shapes[0][i] for i in range(rank) if i != ax):
                raise ValueError(f"concat: shapes {in_shapes} do not match outside axis {ax}")
        out = list(in_shapes[0])
        out[ax] = sum(s[ax] for s in in_shapes)
        return [tuple(out)]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(ins, axis=self._axis(ins[0].ndim)).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> ConcatKernel:
        qo = quant_of(graph, node.outputs[0])
        parts: list[RequantKernel | None] = []
        for name in node.inputs:
            qi = quant_of(graph, name)
            if qi.same_as(qo):
                parts.append(None)
            else:
                m, s = rescale_multiplier(qi.s, qo.s, float32_requant(graph))
                parts.append(RequantKernel(-qi.zp, qo.zp, m, s, -128, 127))
        return ConcatKernel(tuple(parts))

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: ConcatKernel = kernel
        parts = [x if p is None else requantize(x, p) for x, p in zip(ins, k.parts, strict=True)]
        return np.concatenate(parts, axis=self._axis(ins[0].ndim))

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        shapes = [graph.tensors[t].shape for t in node.inputs]
        ax = self._axis(len(shapes[0]))
        outer = int(np.prod(shapes[0][:ax], dtype=np.int64))
        inner = int(np.prod(shapes[0][ax + 1 :], dtype=np.int64))
        return dict(outer=outer, chunks=[s[ax] * inner for s in shapes],
                    out_row=sum(s[ax] for s in shapes) * inner)
