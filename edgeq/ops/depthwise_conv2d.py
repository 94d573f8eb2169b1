"""DEPTHWISE_CONV_2D: NHWC input, weights [1, kh, kw, in_c * multiplier], int32 bias.

Output channel `c * multiplier + m` reads input channel `c`, as TFLite.
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
    Padding,
    pad_nhwc,
    window_out,
    windows,
)
from edgeq.ops.conv2d import (
    ConvKernel,
    acc_bound,
    folded_bias,
    mve_requant_arrays,
    requant_arrays,
    requantize_per_channel,
    round_up,
    takes_mve,
    weighted_kernel,
    weights_and_bias,
    window_interior,
)


@dataclass(frozen=True)
class DepthwiseConv2D(Op):
    kind = "depthwise_conv2d"
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = (0, 0, 0, 0)
    depth_multiplier: int = 1
    activation: Activation = NO_ACTIVATION

    def _out_hw(self, x: Shape, w: Shape) -> tuple[int, int]:
        t, b, left, r = self.padding
        return (window_out(x[1], w[1], self.stride[0], self.dilation[0], t, b),
                window_out(x[2], w[2], self.stride[1], self.dilation[1], left, r))

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x, w = in_shapes[0], in_shapes[1]
        if len(x) != 4 or len(w) != 4 or w[0] != 1 or w[3] != x[3] * self.depth_multiplier:
            raise ValueError(f"depthwise_conv2d: input {x} and weights {w} do not match")
        oh, ow = self._out_hw(x, w)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"depthwise_conv2d: kernel {w[1:3]} larger than padded input {x[1:3]}")
        return [(x[0], oh, ow, w[3])]

    def _accumulate(self, x: np.ndarray, w: np.ndarray, dtype: type) -> np.ndarray:
        oh, ow = self._out_hw(x.shape, w.shape)
        xr = np.repeat(x, self.depth_multiplier, axis=3) if self.depth_multiplier > 1 else x
        cols = windows(pad_nhwc(xr.astype(dtype), self.padding, 0), w.shape[1], w.shape[2],
                       self.stride, self.dilation, oh, ow)
        return np.einsum("nhwijc,ijc->nhwc", cols, w[0].astype(dtype))

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x, w, b = ins
        acc = self._accumulate(x.astype(np.float32), w, np.float32) + b.astype(np.float32)
        return self.activation.apply(acc).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> ConvKernel:
        return weighted_kernel(node, graph, self.activation, weight_axis=3, channel_axis=3)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        x, w, b = ins
        acc = self._accumulate(x.astype(np.int64) + kernel.input_offset, w, np.int64) + b.astype(np.int64)
        shape = acc.shape
        return requantize_per_channel(acc.reshape(-1, shape[3]), kernel).reshape(shape)

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        w = in_shapes[1]
        return int(np.prod(out_shape)) * w[1] * w[2]

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        x = graph.tensors[node.inputs[0]].shape
        w = graph.tensors[node.inputs[1]].shape
        y = graph.tensors[node.outputs[0]].shape
        return dict(in_h=x[1], in_w=x[2], in_c=x[3], out_h=y[1], out_w=y[2], out_c=y[3],
                    depth_multiplier=self.depth_multiplier, k_h=w[1], k_w=w[2],
                    stride_h=self.stride[0], stride_w=self.stride[1], dil_h=self.dilation[0],
                    dil_w=self.dilation[1], pad_top=self.padding[0], pad_left=self.padding[2])

    def kernel_context(self, node: Node, graph: Graph, features: tuple[str, ...] = ()) -> dict[str, Any]:
        """Context of the specialised kernel for a core with cpu `features` (depth multiplier 1)."""
        return _dw_kernel_context(self, node, graph, tuple(features))


def _dw_kernel_context(op: DepthwiseConv2D, node: Node, graph: Graph, features: tuple[str, ...]) -> dict[str, Any]:
    if takes_mve(features, node.kernel) and op.depth_multiplier == 1:
        return _dw_mve_context(op, node, graph)
    ctx = op.template_context(node, graph)
    if op.depth_multiplier != 1:  # the generic kernel
        return ctx
    k: ConvKernel = node.kernel
    w, b = weights_and_bias(node, graph)
    _, kh, kw, c = w.shape
    bias = folded_bias(b, w.reshape(-1, c).T, k.input_offset, c)
    dsp = "dsp" in features
    variant = "dsp" if dsp else "portable"
    fast = dsp and dsp3x3(op, kh, kw, c)
    out_w = graph.tensors[node.outputs[0]].shape[2]
    in_w = graph.tensors[node.inputs[0]].shape[2]  # 3x3 scratch: group constants, the columns, a padding row
    rq = requant_arrays(k, c, c, acc_bound(bias, w.reshape(-1, c).T))
    scratch = (4 * (72 + 8 * ((out_w - 1) * op.stride[1] + 3)) + round_up(in_w * c, 4) if fast
               else 5 * round_up(c, 4) + 12 * kh * kw)
    ctx.update(template="ops/depthwise_conv2d_kernel.c.j2", variant=variant, pad_value=-k.input_offset,
               **window_interior(op, node, graph, kh, kw),
               scratch_bytes=scratch,
               shared={"key": f"depthwise_conv2d_{variant}", "template": "ops/shared/depthwise_conv2d.c.j2",
                       "variant": variant, "max": {"taps_max": kh * kw,
                                                   "dsp3x3": int(fast), "generic": int(not fast),
                                                   "sat": int(fast and not dsp3x3_unsaturated(rq, bias, w)),
                                                   # the -(high < 0) of the rounding matters above the lower clamp only
                                                   "signed": int(fast and k.output_offset > k.act_min),
                                                   "clamp": int(k.act_min > -128 or k.act_max < 127)}},
               **rq,
               constants={"bias": np.array(bias, np.int32)})
    if fast:
        ctx["per_tensor"] = False  # the kernel reads the requantization arrays by channel
        ctx["constants"]["weights"] = dsp3x3_weights(w[0])
    elif dsp and c % 4 == 0:  # [C/4][taps][4]: a group of four channels reads its taps' weights in a row
        ctx["per_tensor"] = False  # the four-channel loops index the requantization arrays by channel
        ctx["constants"]["weights"] = np.ascontiguousarray(
            w.reshape(kh * kw, c // 4, 4).transpose(1, 0, 2)).reshape(-1).astype(np.int8)
    return ctx


def dsp3x3(op: DepthwiseConv2D, kh: int, kw: int, c: int) -> bool:
    """Whether the dsp kernel runs the layer through its 3x3 path (the same test in C)."""
    return kh == 3 and kw == 3 and tuple(op.dilation) == (1, 1) and c % 4 == 0


def dsp3x3_unsaturated(rq: dict[str, Any], bias: list[int], w: np.ndarray) -> bool:
    """Whether the dsp 3x3 path may requantize a "small" layer without the saturating addition:
    high + k + (acc < 0 ? -1 : 0) (one SMMLAR and one ADD; |high| <= |acc| + 1 with multipliers
    below 2^31) stays in int32 for every channel's accumulator bound |bias| + 128 * sum|w|.
    Other requantizations do not take that path (True)."""
    if rq["rq_kind"] != "small":
        return True
    l1 = np.abs(w.reshape(-1, w.shape[-1]).astype(np.int64)).sum(axis=0)
    return all(abs(int(b)) + 128 * int(s) + 2 + abs(int(kc)) < 2**31
               for b, s, kc in zip(bias, l1, rq["rq_k"], strict=True))


def dsp3x3_weights(w: np.ndarray) -> np.ndarray:
    """Weights [3, 3, C] for the dsp 3x3 path: per group of four channels and per kx, the words
    of rows ky = 0, 1, 2, each channels c0..c3 in order (the kernel makes its int16 pairs)."""
    g = w.shape[2] // 4
    return np.ascontiguousarray(w.reshape(3, 3, g, 4).transpose(2, 1, 0, 3)).reshape(-1).astype(np.int8)


def _dw_mve_context(op: DepthwiseConv2D, node: Node, graph: Graph) -> dict[str, Any]:
    """The Helium (MVE) kernel (depth multiplier 1): four channels per vector, weights
    [C/4][taps][4] zero padded, bias and requantization arrays padded to whole vectors."""
    ctx = op.template_context(node, graph)
    k: ConvKernel = node.kernel
    w, b = weights_and_bias(node, graph)
    _, kh, kw, c = w.shape
    c_pad, taps = round_up(c, 4), kh * kw
    out_w = graph.tensors[node.outputs[0]].shape[2]
    bias = folded_bias(b, w.reshape(-1, c).T, k.input_offset, c_pad)
    wk = np.zeros((taps, c_pad), dtype=np.int8)
    wk[:, :c] = w.reshape(taps, c)
    ctx.update(template="ops/depthwise_conv2d_kernel.c.j2", variant="mve", pad_value=-k.input_offset,
               **window_interior(op, node, graph, kh, kw),
               stack_bytes=c_pad + 4 * max(c_pad, 4 * out_w) + 8 * taps + 128,
               shared={"key": "depthwise_conv2d_mve", "template": "ops/shared/depthwise_conv2d_mve.c.j2",
                       "variant": "mve", "max": {"c_max": c_pad, "taps_max": taps, "w_max": out_w}},
               **mve_requant_arrays(k, c_pad, c),
               constants={"weights": np.ascontiguousarray(wk.reshape(taps, c_pad // 4, 4).transpose(1, 0, 2))
                          .reshape(-1), "bias": np.array(bias, np.int32)})
    return ctx
