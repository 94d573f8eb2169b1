"""CONV_2D followed by the residual ADD it feeds, as one layer (made by
edgeq.passes.fuse_conv_add on a quantized graph).

Inputs [x, skip, weights, bias]: the conv runs on x (its own requantization and clamp to int8),
then TFLite's ADD of that int8 value and `skip` with the add's constants and clamp. The int8
reference is exactly that composition (Conv2D.run_int8 then Add.run_int8), so a fused graph
gives the bytes of the unfused one; the conv's own output tensor no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.add import Add, AddKernel, add_params_init, big_operand
from edgeq.ops.base import Op, Shape
from edgeq.ops.conv2d import Conv2D, ConvKernel


@dataclass(frozen=True)
class ConvAddKernel:
    conv: ConvKernel
    add: AddKernel


@dataclass(frozen=True)
class Conv2DAdd(Op):
    kind = "conv2d_add"
    num_activation_inputs = 2
    conv: Conv2D
    add: Add
    #: which operand of the ADD (0 or 1) the conv's output was; the skip is the other
    conv_operand: int = 0

    def _add_operands(self, y: np.ndarray, skip: np.ndarray) -> list[np.ndarray]:
        return [y, skip] if self.conv_operand == 0 else [skip, y]

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x, skip, w, b = in_shapes
        y = self.conv.infer_shapes([x, w, b])[0]
        return self.add.infer_shapes([y, tuple(skip)])

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x, skip, w, b = ins
        return self.add.run_float(self._add_operands(self.conv.run_float([x, w, b]), skip))

    def quantize(self, node: Node, graph: Graph) -> Any:
        raise AssertionError("conv2d_add is made from an already quantized graph")

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: ConvAddKernel = kernel
        x, skip, w, b = ins
        return self.add.run_int8(self._add_operands(self.conv.run_int8([x, w, b], k.conv), skip), k.add)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        x, _, w, b = in_shapes
        return self.conv.macs([x, w, b], out_shape)

    def conv_view(self, node: Node) -> Node:
        """The conv part as a Conv2D node (inputs [x, weights, bias], the fused output)."""
        x, _, w, b = node.inputs
        return Node(node.name, self.conv, [x, w, b], list(node.outputs), node.source, node.kernel.conv)

    def kernel_context(self, node: Node, graph: Graph, features: tuple[str, ...] = ()) -> dict[str, Any]:
        """The conv's kernel context plus the ADD epilogue (a separate instantiation of the
        shared kernel: `fused_add`)."""
        ctx = self.conv.kernel_context(self.conv_view(node), graph, features)
        ctx["fused_add"] = True
        ctx["k"] = node.kernel.conv  # the conv's constants for its requantization
        ctx["add_init"] = add_params_init(node.kernel.add)
        ctx["conv_big"] = int(big_operand(node.kernel.add) == self.conv_operand)
        # a pair of pixels' conv outputs (one pixel's on mve) after the conv's scratch
        ctx["row_offset"] = ctx.get("scratch_bytes", 0)
        ctx["scratch_bytes"] = ctx["row_offset"] + 2 * ctx["out_c"]
        ctx["shared"] = {**ctx["shared"], "fused_add": True}
        if "scratch_options" in ctx:  # the ADD needs each pixel's channels at once: one block only
            pairs = ctx["oc_pad"] // 2
            ctx["scratch_options"] = [o for o in ctx["scratch_options"] if o["ctx"].get("wide16_pairs") == pairs]
        return ctx
