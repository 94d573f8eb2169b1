"""The operator interface. One module per operator under edgeq/ops/ implements it.

An op is a frozen dataclass of typed attributes. It knows its shapes, its float
reference, how its output is quantized, how to compute its kernel constants once
(multipliers, shifts, offsets, quantized weights), its bit-exact int8 reference and the
context for its C template. The template only prints what the kernel constants say.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgeq.ir.tensor import QuantParams

if TYPE_CHECKING:
    from edgeq.ir.graph import Graph, Node

Shape = tuple[int, ...]


class OutputQuant(StrEnum):
    """How the quantizer picks an op's output parameters."""

    OBSERVED = "observed"  # from calibration statistics of the output
    SAME_AS_INPUT = "same_as_input"  # copies the first input's parameters (max pool, reshape...)
    FIXED = "fixed"  # fixed by the op (softmax, logistic, tanh)


@dataclass(frozen=True)
class Op(ABC):
    kind: ClassVar[str]
    output_quant: ClassVar[OutputQuant] = OutputQuant.OBSERVED
    #: Number of leading inputs that are activations; the rest are constants.
    num_activation_inputs: ClassVar[int] = 1

    @abstractmethod
    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        """Output shapes from input shapes (activations and constants)."""

    @abstractmethod
    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        """Float32 reference."""

    def fixed_output_quant(self) -> QuantParams:
        raise NotImplementedError(f"{self.kind} has no fixed output quantization")

    @abstractmethod
    def quantize(self, node: Node, graph: Graph) -> Any:
        """Compute the kernel constants from the tensors' quantization parameters.

        Called once all activation tensors have quant params. May replace float constant
        inputs of `node` with quantized ones in `graph`. Returns the op's kernel dataclass.
        """

    @abstractmethod
    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        """Bit-exact int8 reference: quantized inputs (and constants) to the int8 output."""

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return 0

    def scratch_bytes(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return 0

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        """Values the op's template prints (besides the common ones codegen adds)."""
        return {}

    @property
    def template(self) -> str:
        return f"ops/{self.kind}.c.j2"
