"""FULLY_CONNECTED: input [..., in_features], weights [out, in], int32 bias [out].

int8 weights are per tensor by default (TFLite's choice for dense); an imported model
may carry per-channel weights, which the kernel accepts as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import (
    NO_ACTIVATION,
    Activation,
)
from edgeq.ops.conv2d import (
    ConvKernel,
    acc_bound,
    folded_bias,
    mve_requant_arrays,
    mve_rows,
    requant_arrays,
    requantize_per_channel,
    round_up,
    takes_mve,
    weighted_kernel,
    weights_and_bias,
)


@dataclass(frozen=True)
class FullyConnected(Op):
    kind = "fully_connected"
    activation: Activation = NO_ACTIVATION
    per_channel: bool = False

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x, w = in_shapes[0], in_shapes[1]
        if len(w) != 2 or x[-1] != w[1]:
            raise ValueError(f"fully_connected: input {x} and weights {w} do not match")
        return [(*x[:-1], w[0])]

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x, w, b = ins
        y = x.astype(np.float32) @ w.astype(np.float32).T + b.astype(np.float32)
        return self.activation.apply(y).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> ConvKernel:
        return weighted_kernel(node, graph, self.activation, weight_axis=0 if self.per_channel else None,
                               channel_axis=0)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        x, w, b = ins
        rows = (x.astype(np.int64) + kernel.input_offset).reshape(-1, w.shape[1])
        acc = rows @ w.astype(np.int64).T + b.astype(np.int64)
        return requantize_per_channel(acc, kernel).reshape(*x.shape[:-1], w.shape[0])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        return int(np.prod(out_shape)) * in_shapes[1][1]

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        w = graph.tensors[node.inputs[1]].shape
        rows = graph.tensors[node.inputs[0]].size // w[1]
        return dict(rows=rows, in_features=w[1], out_features=w[0])

    def kernel_context(self, node: Node, graph: Graph, features: tuple[str, ...] = ()) -> dict[str, Any]:
        """Context of the specialised kernel for a core with cpu `features`."""
        return _fc_kernel_context(self, node, graph, tuple(features))


def _fc_kernel_context(op: FullyConnected, node: Node, graph: Graph, features: tuple[str, ...]) -> dict[str, Any]:
    if takes_mve(features, node.kernel):
        return _fc_mve_context(op, node, graph)
    ctx = op.template_context(node, graph)
    k = node.kernel
    w, b = weights_and_bias(node, graph)
    n_out, n_in = w.shape
    dsp = "dsp" in features
    k_pad, o_pad = round_up(n_in, 4), round_up(n_out, 4)
    bias = folded_bias(b, w, k.input_offset, o_pad)
    wk = np.zeros((o_pad, k_pad), dtype=np.int8)
    wk[:n_out, :n_in] = w
    if dsp:  # [o/4][k/4][4 outputs][4 inputs]: one 16-byte run per step of the inner loop
        wk = wk.reshape(o_pad // 4, 4, k_pad // 4, 4).transpose(0, 2, 1, 3).reshape(o_pad, k_pad)
        layout = "interleaved [out/4][in/4][4 outputs][4 inputs]"
    else:
        layout = f"[{o_pad}][{k_pad}], zero padded"
    variant = "dsp" if dsp else "portable"
    ctx.update(template="ops/fully_connected_kernel.c.j2", variant=variant, scratch_bytes=2 * k_pad if dsp else 0,
               shared={"key": f"fully_connected_{variant}", "template": "ops/shared/fully_connected.c.j2",
                       "variant": variant, "max": {"k_max": k_pad}},
               k_pad=k_pad, o_pad=o_pad, k_groups=k_pad // 4, layout=layout,
               **requant_arrays(k, o_pad, n_out, acc_bound(bias, w)),
               constants={"weights": wk, "bias": np.array(bias, np.int32)})
    return ctx


def _fc_mve_context(op: FullyConnected, node: Node, graph: Graph) -> dict[str, Any]:
    """The Helium (MVE) kernel: 16-wide dot products, four outputs at a time."""
    ctx = op.template_context(node, graph)
    k = node.kernel
    w, b = weights_and_bias(node, graph)
    n_out, n_in = w.shape
    k_pad, o_pad = round_up(n_in, 16), round_up(n_out, 4)
    bias = folded_bias(b, w, k.input_offset, o_pad)
    ctx.update(template="ops/fully_connected_kernel.c.j2", variant="mve", stack_bytes=k_pad + 64,
               shared={"key": "fully_connected_mve", "template": "ops/shared/fully_connected_mve.c.j2",
                       "variant": "mve", "max": {"k_max": k_pad}},
               k_pad=k_pad, o_pad=o_pad, layout="[out/4][in/16][4 outputs][16 inputs], zero padded",
               **mve_requant_arrays(k, o_pad, n_out),
               constants={"weights": mve_rows(w, o_pad, k_pad), "bias": np.array(bias, np.int32)})
    return ctx
