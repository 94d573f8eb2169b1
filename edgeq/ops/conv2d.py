"""CONV_2D: NHWC input, weights [out_c, kh, kw, in_c] (OHWI), int32 bias [out_c].

int8: per-output-channel symmetric weights, asymmetric input/output, as TFLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType
from edgeq.ops.base import Op, Shape
from edgeq.ops.common import (
    BIAS_FRACTION_META,
    FLOAT32_REQUANT,
    NO_ACTIVATION,
    REQUANT_META,
    Activation,
    Padding,
    bias64_constants,
    pad_nhwc,
    per_channel_multipliers,
    quant_of,
    quantize_bias,
    quantize_weights,
    window_out,
    windows,
)
from edgeq.quant.fixedpoint import multiply_by_quantized_multiplier


@dataclass(frozen=True)
class ConvKernel:
    input_offset: int  # -input zero point
    output_offset: int  # output zero point
    multipliers: np.ndarray  # int32 per output channel
    shifts: np.ndarray  # per output channel
    act_min: int
    act_max: int
    #: K_c per output channel (int64, see common.bias64_constants) when the float bias's fraction
    #: enters the rounding: y = ((acc * m + K_c) >> 31) + output_offset (shifts all 0); else None.
    bias64: np.ndarray | None = None


@dataclass(frozen=True)
class Conv2D(Op):
    kind = "conv2d"
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = (0, 0, 0, 0)
    activation: Activation = NO_ACTIVATION

    def _out_hw(self, in_shape: Shape, w_shape: Shape) -> tuple[int, int]:
        t, b, left, r = self.padding
        oh = window_out(in_shape[1], w_shape[1], self.stride[0], self.dilation[0], t, b)
        ow = window_out(in_shape[2], w_shape[2], self.stride[1], self.dilation[1], left, r)
        return oh, ow

    def infer_shapes(self, in_shapes: list[Shape]) -> list[Shape]:
        x, w = in_shapes[0], in_shapes[1]
        if len(x) != 4 or len(w) != 4 or x[3] != w[3]:
            raise ValueError(f"conv2d: input {x} and weights {w} do not match")
        oh, ow = self._out_hw(x, w)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"conv2d: kernel {w[1:3]} larger than padded input {x[1:3]}")
        return [(x[0], oh, ow, w[0])]

    def _accumulate(self, x: np.ndarray, w: np.ndarray, pad_value: float | int, dtype: type) -> np.ndarray:
        oh, ow = self._out_hw(x.shape, w.shape)
        cols = windows(pad_nhwc(x, self.padding, pad_value).astype(dtype), w.shape[1], w.shape[2],
                       self.stride, self.dilation, oh, ow)
        n = x.shape[0]
        return cols.reshape(n * oh * ow, -1) @ w.reshape(w.shape[0], -1).astype(dtype).T

    def run_float(self, ins: list[np.ndarray]) -> np.ndarray:
        x, w, b = ins
        acc = self._accumulate(x.astype(np.float32), w, 0.0, np.float32) + b.astype(np.float32)
        oh, ow = self._out_hw(x.shape, w.shape)
        return self.activation.apply(acc.reshape(x.shape[0], oh, ow, w.shape[0])).astype(np.float32)

    def quantize(self, node: Node, graph: Graph) -> ConvKernel:
        return weighted_kernel(node, graph, self.activation, weight_axis=0, channel_axis=0)

    def run_int8(self, ins: list[np.ndarray], kernel: Any) -> np.ndarray:
        k: ConvKernel = kernel
        x, w, b = ins
        # Padded positions hold the input zero point, so they contribute nothing.
        xs = x.astype(np.int64) + k.input_offset
        acc = self._accumulate(xs, w, 0, np.int64) + b.astype(np.int64)
        return _requantize(acc, k).reshape(self.infer_shapes([x.shape, w.shape])[0])

    def macs(self, in_shapes: list[Shape], out_shape: Shape) -> int:
        w = in_shapes[1]
        return int(np.prod(out_shape)) * w[1] * w[2] * w[3]

    def template_context(self, node: Node, graph: Graph) -> dict[str, Any]:
        x = graph.tensors[node.inputs[0]].shape
        w = graph.tensors[node.inputs[1]].shape
        y = graph.tensors[node.outputs[0]].shape
        return dict(in_h=x[1], in_w=x[2], in_c=x[3], out_h=y[1], out_w=y[2], out_c=y[3],
                    k_h=w[1], k_w=w[2], stride_h=self.stride[0], stride_w=self.stride[1],
                    dil_h=self.dilation[0], dil_w=self.dilation[1], pad_top=self.padding[0],
                    pad_left=self.padding[2])

    def kernel_context(self, node: Node, graph: Graph, features: tuple[str, ...] = ()) -> dict[str, Any]:
        """Template context of the specialised kernel for a core with `features` (board cpu
        features): reordered/padded weights and folded bias as the layer's constants."""
        return _conv_kernel_context(self, node, graph, tuple(features))


#: Largest |quantized bias| the quantizer produces: leaves room in int32 for the kernels to fold
#: input_offset * sum(weights) into the bias (|offset| <= 128, |w| <= 127, up to 2**16 taps).
BIAS_LIMIT = 2**30


def _bias_min_weight_scale(graph: Graph, node: Node, input_scale: float, weight_axis: int | None
                           ) -> np.ndarray | None:
    """The weight scale below which a channel's float bias would not fit BIAS_LIMIT.

    A channel with near-zero weights but a real bias (common after folding batch norm) would
    otherwise get a tiny weight scale and a bias beyond int32; a larger weight scale costs that
    channel nothing, as TFLite's converter also does."""
    bias = graph.tensors[node.inputs[2]]
    if bias.dtype != DType.FLOAT32 or bias.data is None:
        return None
    need = np.abs(bias.data.astype(np.float64)) / (input_scale * BIAS_LIMIT)
    return need if weight_axis is not None else np.array([need.max(initial=0.0)])


def weighted_kernel(node: Node, graph: Graph, activation: Activation, weight_axis: int | None,
                    channel_axis: int) -> ConvKernel:
    """Kernel constants of a layer with weights and bias (conv, depthwise, dense): int8
    weights (per channel along `weight_axis`, per tensor if None), int32 bias with scale
    input_scale * weight_scale, one requantization multiplier and shift per output channel."""
    qin, qout = quant_of(graph, node.inputs[0]), quant_of(graph, node.outputs[0])
    quantize_weights(graph, node, 1, axis=weight_axis, min_scale=_bias_min_weight_scale(graph, node, qin.s,
                                                                                        weight_axis))
    w_scale = quant_of(graph, node.inputs[1]).scale
    out_c = graph.tensors[node.inputs[1]].shape[channel_axis]
    quantize_bias(graph, node, 2, np.broadcast_to(qin.s * w_scale, (out_c,)))
    mult, shift = per_channel_multipliers(qin.s, w_scale, qout.s, out_c,
                                          float32=graph.meta.get(REQUANT_META) == FLOAT32_REQUANT)
    lo, hi = activation.int8_range(qout)
    fraction = graph.meta.get(BIAS_FRACTION_META, {}).get(node.inputs[2])
    bias64 = None
    if fraction is not None and np.all(shift == 0) and np.all(np.abs(fraction) <= 0.5):
        bias64 = bias64_constants(np.broadcast_to(fraction, (out_c,)), np.broadcast_to(mult, (out_c,)))
    return ConvKernel(-qin.zp, qout.zp, mult, shift, lo, hi, bias64)


def _requantize(acc: np.ndarray, k: Any) -> np.ndarray:
    """Per-channel requantize of [rows, channels] int32 accumulators to clamped int8."""
    if k.bias64 is not None:  # one rounding with the float bias's fraction (arithmetic shift)
        high = (acc.astype(np.int64) * k.multipliers.astype(np.int64)[None, :] + k.bias64[None, :]) >> 31
        y = np.clip(high + k.output_offset, -128, 127)
        return np.clip(y, k.act_min, k.act_max).astype(np.int8)
    y = multiply_by_quantized_multiplier(acc, k.multipliers[None, :], k.shifts[None, :]) + k.output_offset
    return np.clip(y, k.act_min, k.act_max).astype(np.int8)


requantize_per_channel = _requantize


# ---- generation-time kernel layouts (the numpy reference above keeps the IR tensors) ----------


def round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def folded_bias(bias: np.ndarray, w_rows: np.ndarray, input_offset: int, rows: int) -> list[int]:
    """bias + input_offset * sum(weights) per output channel, padded to `rows` with zeros.

    The kernels then multiply raw int8 inputs: sum((x + off) * w) = sum(x * w) + off * sum(w),
    the same integer sum, so exact in int32. Padded input positions must read the zero point."""
    folded = bias.astype(np.int64) + input_offset * w_rows.astype(np.int64).sum(axis=1)
    if np.any(folded < -(2**31)) or np.any(folded >= 2**31):
        raise ValueError("folded bias out of int32 range")
    out = np.zeros(rows, dtype=np.int64)
    out[: len(folded)] = folded
    return [int(v) for v in out]


def acc_bound(folded: list[int], w_rows: np.ndarray) -> int:
    """The largest |accumulator| a kernel can reach: |folded bias| + 128 * sum|w| per channel
    (raw int8 inputs)."""
    l1 = np.abs(w_rows.astype(np.int64)).sum(axis=1)
    return int(max(abs(b) + 128 * int(s) for b, s in zip(folded, l1, strict=False)))


def requant_arrays(k: Any, rows: int, n: int, bound: int | None = None) -> dict[str, Any]:
    """Per-channel multipliers and shifts padded to `rows`; when every shift is <= 0 the
    kernel uses the right-shift-only requantization and the shift array holds -shift. With
    accumulators bounded by `bound` < 2^30 and right shifts in [1, 23] it uses the short one
    (edgeq_requant_small). A kernel with `bias64` constants uses the float-bias one
    (edgeq_requant_b64), its K table as `rq_k`."""
    mult = padded_list(np.broadcast_to(k.multipliers, (n,)), rows)
    shift = padded_list(np.broadcast_to(k.shifts, (n,)), rows)
    if getattr(k, "bias64", None) is not None:  # (acc * m + K) >> 31: K's bits as int32 (K in [0, 2^31])
        if bound is not None and bound >= 2**31 - 256:
            raise ValueError("accumulators too large for the float-bias requantization")
        bits = [v - 2**32 if v >= 2**31 else v for v in padded_list(k.bias64, rows)]
        return dict(mult=mult, shift=shift, right_only=True, per_tensor=False, small_requant=False, rq_k=bits,
                    rq_kind="bias64")
    right_only = all(s <= 0 for s in shift)
    per_tensor = len(set(mult)) == 1 and len(set(shift)) == 1  # two immediates, no arrays
    small = (right_only and bound is not None and bound < 2**30 and all(1 <= -s <= 23 for s in shift)
             and all(m >= 2**30 for m in mult))
    return dict(mult=mult, shift=[-s for s in shift] if right_only else shift, right_only=right_only,
                per_tensor=per_tensor, small_requant=small,
                rq_k=[(1 << (-s - 1)) + (int(k.output_offset) << -s) for s in shift] if small else [],
                rq_kind="small" if small else "right" if right_only else "general")


def padded_list(values: np.ndarray, rows: int) -> list[int]:
    v = [int(x) for x in np.broadcast_to(np.asarray(values), (len(np.atleast_1d(values)),))]
    return v + [v[-1]] * (rows - len(v))


def interior(size: int, out: int, kernel: int, stride: int, dilation: int, pad: int) -> tuple[int, int]:
    """[lo, hi) of output positions whose whole window lies inside the input."""
    lo = -(-pad // stride)
    hi = (size - 1 - (kernel - 1) * dilation + pad) // stride + 1
    lo, hi = min(max(lo, 0), out), min(max(hi, 0), out)
    return lo, max(lo, hi)


def window_interior(op: Any, node: Node, graph: Graph, kh: int, kw: int) -> dict[str, int]:
    """oy_lo/oy_hi/ox_lo/ox_hi of a windowed layer (`op` has stride, dilation and padding: conv2d,
    depthwise_conv2d): the output rows and columns whose whole window lies inside the input."""
    x, y = graph.tensors[node.inputs[0]].shape, graph.tensors[node.outputs[0]].shape
    oy_lo, oy_hi = interior(x[1], y[1], kh, op.stride[0], op.dilation[0], op.padding[0])
    ox_lo, ox_hi = interior(x[2], y[2], kw, op.stride[1], op.dilation[1], op.padding[2])
    return dict(oy_lo=oy_lo, oy_hi=oy_hi, ox_lo=ox_lo, ox_hi=ox_hi)


def weights_and_bias(node: Node, graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """The constant weights and bias (inputs 1 and 2) of a conv, depthwise or dense layer."""
    w = graph.tensors[node.inputs[1]].data
    b = graph.tensors[node.inputs[2]].data
    assert w is not None and b is not None
    return w, b


def takes_mve(features: tuple[str, ...], kernel: Any) -> bool:
    """Whether a layer runs the Helium (MVE) kernels: the core has them and the layer's
    requantization is one they implement (not the float-bias kind, which keeps the dsp kernel)."""
    return "mve" in features and getattr(kernel, "bias64", None) is None


def _dsp_steps(groups: int) -> list[dict[str, int]]:
    """The conv inner loop over groups of 4: pairs of groups (unrolled), then an odd one."""
    steps = [{"count": groups // 2, "unroll": 2}, {"count": groups % 2, "unroll": 1}]
    return [s for s in steps if s["count"]]


def dsp_wide_requant(rq: dict[str, Any], bias: list[int], w_rows: np.ndarray, n: int) -> dict[str, Any] | None:
    """The right-shift-only requantization of a dsp conv layer in the short form the kernel's
    edgeq_rq_sat(EDGEQ_RQ_WIDE_M2) computes, or None where it does not apply. high is
    (acc * m + 2^30) >> 31 (one SMMLAR on m stored as 2m - 2^32, exact for any accumulator)
    and round(high / 2^r) half away from zero plus the offset is
    ((high - (high < 0)) >> (r - 1)) + 2 offset + 1) >> 1 (the last halving in the SSAT), exact
    for every right shift r in [1, 31]: five instructions an output like edgeq_requant_k, with no
    per-channel k array. Where r is 1 nothing halves high before the addition: the channel's
    accumulator bound |bias| + 128 * sum|w| must stay below 2^31 - 512. A channel with
    multiplier 0 (output: the offset) takes m = 2^30 and r = 31: |high| stays below 2^30, so the
    rounding gives 0, for a bound up to 2^31 - 3."""
    mult, right = list(rq["mult"][:n]), list(rq["shift"][:n])  # right-only: the shifts are -shift
    l1 = np.abs(w_rows.astype(np.int64)).sum(axis=1)
    for c in range(n):
        bound = abs(int(bias[c])) + 128 * int(l1[c])
        if mult[c] == 0 and bound <= 2**31 - 3:
            mult[c], right[c] = 2**30, 31
        elif not (2**30 <= mult[c] < 2**31 and 1 <= right[c] <= 31) or (right[c] == 1 and bound >= 2**31 - 512):
            return None
    rows = len(rq["mult"])
    mult += [mult[-1]] * (rows - n)
    right += [right[-1]] * (rows - n)
    return dict(rq, mult=[2 * m - 2**32 for m in mult], shift=[r - 1 for r in right], per_tensor=False, rq_k=[],
                rq_kind="wide")


def _conv_kernel_context(op: Conv2D, node: Node, graph: Graph, features: tuple[str, ...]) -> dict[str, Any]:
    if takes_mve(features, node.kernel):
        return _conv_mve_context(op, node, graph)
    ctx = op.template_context(node, graph)
    k: ConvKernel = node.kernel
    w, b = weights_and_bias(node, graph)
    oc, kh, kw, ic = w.shape
    depth = kh * kw * ic
    dsp = "dsp" in features
    k_pad, oc_pad = round_up(depth, 4), round_up(oc, 2)
    wk = np.zeros((oc_pad, k_pad), dtype=np.int8)
    wk[:oc, :depth] = w.reshape(oc, depth)
    if dsp:  # [oc/2][k/4][2 rows][4]: one LDRD per step for both rows
        wk = wk.reshape(oc_pad // 2, 2, k_pad // 4, 4).transpose(0, 2, 1, 3).reshape(oc_pad, k_pad)
        layout = "[oc/2][k/4][2][4], in order (SXTB16 of the word pairs w0 w2, rotated by 8 w1 w3)"
    else:
        layout = f"[{oc_pad}][{k_pad}], zero padded"
    bias = folded_bias(b, w.reshape(oc, -1), k.input_offset, oc_pad)
    variant = "dsp" if dsp else "portable"
    # the gathered window (k_pad int8 after the interleaved pair); dsp converts channels by whole
    # words (a multiple of 4) straight into the pair
    tmp = 0 if dsp and ic % 4 == 0 else k_pad
    ctx.update(variant=variant, depth=depth, k_pad=k_pad, oc_pad=oc_pad, pad_value=-k.input_offset,
               pointwise=kh == 1 and kw == 1 and op.padding == (0, 0, 0, 0), layout=layout,
               template="ops/conv2d_kernel.c.j2", scratch_bytes=2 * 2 * k_pad + tmp,
               shared={"key": f"conv2d_{variant}", "template": "ops/shared/conv2d.c.j2", "variant": variant,
                       "max": {}},  # its buffers are the layer's arena scratch
               **window_interior(op, node, graph, kh, kw),
               **requant_arrays(k, oc_pad, oc, acc_bound(bias, w.reshape(oc, -1))),
               constants={"weights": wk, "bias": np.array(bias, np.int32)})
    if dsp:
        ctx["per_tensor"] = False  # the fast requantization indexes its arrays by channel
        ctx["shared"]["max"].update(im2col_paths(kh, kw, ic, op.dilation[1]))
        if ctx["rq_kind"] in ("small", "right") and oc % 2 == 0:  # as cheap as "small", wider, no k array
            ctx.update(dsp_wide_requant(ctx, bias, w.reshape(oc, -1), oc) or {})
        if ctx["rq_kind"] == "wide":  # one stream: each pair's bias, weights and requantization
            ctx["shared"]["max"]["clamp"] = int(k.act_min > -128 or k.act_max < 127)  # beyond SSAT's
            ctx["constants"] = {"weights": wide_stream(wk, bias, ctx["mult"], ctx["shift"]), "bias": None}
            ctx.update(layout="per pair of output channels [bias0, bias1][k/4][2][4][mult0, mult1, "
                       "shift0 | shift1 << 8] as int32 words (edgeq_conv_dsp_wide_oc)",
                       scratch_options=wide16_options(oc_pad // 2, k_pad, ctx["out_h"] * ctx["out_w"]))
    return ctx


def im2col_paths(kh: int, kw: int, ic: int, dil_w: int) -> dict[str, int]:
    """Which paths of the dsp im2col (templates/ops/shared/conv2d.c.j2) a layer can take, as
    flags for the shared kernel's `max` (the model's kernel renders the union of its layers'):
    windows inside the input of 3 rows of 9 bytes (unrolled), of rows of whole words, of other
    rows (`col_rows`); windows with dilated columns, tap by tap (`col_taps`). Border windows
    with columns 1 apart (`_pad`) are always there."""
    row = kw * ic
    three_by_nine = row == 9 and kh == 3
    return {"col_3x9": int(three_by_nine), "col_words": int(row % 4 == 0),
            "col_rows": int(row % 4 != 0 and not three_by_nine), "col_taps": int(dil_w != 1)}


def wide16_options(pairs: int, k_pad: int, pixels: int) -> list[dict[str, Any]]:
    """Faster forms of a "wide" dsp conv that need more arena: blocks of its channel pairs widened
    to int16 in the arena once per inference (edgeq_<model>_conv_dsp_wide_oc_widen), so the inner loop needs no
    SXTB16 (10 instructions per 16 MACs instead of 14). The windows are copied once per block, so
    a layer of several blocks reads its input again after writing outputs (`rereads_input`).
    Best first: the whole layer in one block, then halves, quarters, eighths (at least 4 pairs a
    block); only those whose estimated saving is positive: 1/4 of an instruction a MAC, less
    about 1.2 a weight for the widening and 2 an input for each extra copy of the windows."""
    blocks = sorted({pairs} | {b for b in (-(-pairs // parts) for parts in (2, 4, 8)) if b >= 4}, reverse=True)
    options: list[dict[str, Any]] = []
    for block in blocks:
        passes = -(-pairs // block)
        saving = 1 / 4 * pixels * k_pad * 2 * pairs - 1.2 * 2 * pairs * k_pad - 2 * (passes - 1) * pixels * k_pad
        if saving > 0:
            options.append({"extra_bytes": 4 * block * (k_pad + 5), "ctx": {"wide16_pairs": block},
                            "rereads_input": passes > 1})
    return options


def wide_stream(wk: np.ndarray, bias: list[int], mult: list[int], shift: list[int]) -> np.ndarray:
    """The "wide" dsp conv's constants in the order its output channel loop reads them, as int32
    words: per pair of channels both biases (one LDM), the pair's weights (wk rows 2p, 2p + 1 in
    the dsp layout, four int8 a word), then both multipliers and the two right shifts in the low
    two bytes of one word (one LDM)."""
    rows, k_pad = wk.shape
    words = np.ascontiguousarray(wk).view("<i4").reshape(rows // 2, k_pad // 2).astype(np.int32)
    b = np.asarray(bias[:rows], np.int64).reshape(-1, 2)
    m = np.asarray(mult[:rows], np.int64).reshape(-1, 2)
    s = np.asarray(shift[:rows], np.int64).reshape(-1, 2)
    tail = np.stack([m[:, 0], m[:, 1], (s[:, 0] & 0xFF) | ((s[:, 1] & 0xFF) << 8)], axis=1)
    return np.concatenate([b, words, tail], axis=1).astype(np.int32).reshape(-1)


# ---- Helium (MVE) variant: cores with the cpu feature "mve" (templates/ops/shared/*_mve.c.j2) ----


def mve_rows(w: np.ndarray, rows: int, k_pad: int) -> np.ndarray:
    """Weight rows [n][k] zero padded to [rows][k_pad] and laid out [rows/4][k_pad/16][4][16]:
    one step of the MVE dot product reads 16 inputs of four rows in a run of 64 bytes."""
    n, k = w.shape
    wk = np.zeros((rows, k_pad), dtype=np.int8)
    wk[:n, :k] = w
    return np.ascontiguousarray(wk.reshape(rows // 4, 4, k_pad // 16, 16).transpose(0, 2, 1, 3)).reshape(rows, k_pad)


def mve_requant_arrays(k: Any, rows: int, n: int) -> dict[str, Any]:
    """Multipliers and signed shifts (as the kernel constants hold them), per channel padded to
    `rows` (a multiple of 4, whole vectors) or one pair for the tensor; rq_kind "right" when
    every shift is <= 0 (the vector requantization then skips the left shift), else "general",
    with "_pt" for one pair (the kernel broadcasts it)."""
    mult = padded_list(np.broadcast_to(k.multipliers, (n,)), rows)
    shift = padded_list(np.broadcast_to(k.shifts, (n,)), rows)
    right_only = all(s <= 0 for s in shift)
    per_tensor = len(set(mult)) == 1 and len(set(shift)) == 1
    kind = ("right" if right_only else "general") + ("_pt" if per_tensor else "")
    return dict(mult=mult, shift=shift, right_only=right_only, per_tensor=per_tensor, small_requant=False, rq_k=[],
                rq_kind=kind)


def _conv_mve_context(op: Conv2D, node: Node, graph: Graph) -> dict[str, Any]:
    ctx = op.template_context(node, graph)
    k: ConvKernel = node.kernel
    w, b = weights_and_bias(node, graph)
    oc, kh, kw, ic = w.shape
    depth = kh * kw * ic
    k_pad, oc_pad = round_up(depth, 16), round_up(oc, 4)
    bias = folded_bias(b, w.reshape(oc, -1), k.input_offset, oc_pad)
    ctx.update(variant="mve", depth=depth, k_pad=k_pad, oc_pad=oc_pad, pad_value=-k.input_offset,
               pointwise=kh == 1 and kw == 1 and op.padding == (0, 0, 0, 0),
               layout="[oc/4][k/16][4][16], zero padded (16-wide MVE dot products)",
               template="ops/conv2d_kernel.c.j2", stack_bytes=k_pad + 512 + 256,  # + the 1x1 helper's block
               shared={"key": "conv2d_mve", "template": "ops/shared/conv2d_mve.c.j2", "variant": "mve",
                       "max": {"cols_max": k_pad}},
               **window_interior(op, node, graph, kh, kw),
               **mve_requant_arrays(k, oc_pad, oc),
               constants={"weights": mve_rows(w.reshape(oc, depth), oc_pad, k_pad),
                          "bias": np.array(bias, np.int32)})
    return ctx
