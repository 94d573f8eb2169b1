"""Ops that exist only in float graphs: passes fold or remove them before quantization.

BATCH_NORM (y = x * scale + shift on the last axis, from gamma, beta, mean, var, eps) is
folded into the preceding conv / depthwise / fully connected. IDENTITY (Dropout,
Identity layers) is removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape


@dataclass(frozen=True)
class _FloatOnly(Op):
    def quantize(self, node: Node, graph: Graph) -> Any:
        raise UnsupportedError(
            f"layer {node.source or node.name}: {self.kind} could not be folded into a neighbour "
            "and has no int8 kernel"
        )

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        raise AssertionError(f"{self.kind} has no int8 reference")


@dataclass(frozen=True)
class BatchNorm(_FloatOnly):
    """Inputs: x, scale [C], shift [C] (constants)."""

    kind = "batch_norm"

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        if in_shapes[1] != (in_shapes[0][-1],):
            raise ValueError(f"batch_norm: {in_shapes[1]} does not fit channels of {in_shapes[0]}")
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x, scale, shift = ins
        return (x * scale + shift).astype(np.float32)

    @staticmethod
    def scale_shift(gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                    eps: float) -> tuple[np.ndarray, np.ndarray]:
        scale = gamma / np.sqrt(var + eps)
        return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


@dataclass(frozen=True)
class Identity(_FloatOnly):
    kind = "identity"

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        return [tuple(in_shapes[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        return ins[0]
