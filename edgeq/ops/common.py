"""Helpers shared by several ops: activations, padding, windows, quantized constants."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType, QuantParams, Tensor
from edgeq.quant.fixedpoint import quantize_multiplier, round_away


@dataclass(frozen=True)
class Activation:
    """A fused clamp of the output, in real units (None = unbounded)."""

    lo: float | None = None
    hi: float | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.lo is None and self.hi is None:
            return x
        return np.clip(x, self.lo if self.lo is not None else -np.inf, self.hi if self.hi is not None else np.inf)

    def int8_range(self, out: QuantParams) -> tuple[int, int]:
        """The int8 clamp [act_min, act_max] for an output with parameters `out`."""
        lo, hi = -128, 127
        if self.lo is not None:
            lo = max(lo, out.zp + round_away(self.lo / out.s))
        if self.hi is not None:
            hi = min(hi, out.zp + round_away(self.hi / out.s))
        return lo, hi

    @property
    def is_none(self) -> bool:
        return self.lo is None and self.hi is None

    def __repr__(self) -> str:  # stable text dumps
        return f"Activation({self.lo}, {self.hi})"


NO_ACTIVATION = Activation()
RELU = Activation(0.0, None)
RELU6 = Activation(0.0, 6.0)


Padding = tuple[int, int, int, int]  # top, bottom, left, right


def same_shape_operands(kind: str, in_shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Output shape of an elementwise op on two operands of one shape (no broadcasting)."""
    a, b = in_shapes
    if tuple(a) != tuple(b):
        raise ValueError(f"{kind}: operand shapes {a} and {b} differ (broadcasting is not supported)")
    return [tuple(a)]


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow/PyTorch 'same' padding: the extra pixel goes at the end."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def window_out(size: int, kernel: int, stride: int, dilation: int, pad_lo: int, pad_hi: int) -> int:
    effective = (kernel - 1) * dilation + 1
    return (size + pad_lo + pad_hi - effective) // stride + 1


def pad_nhwc(x: np.ndarray, padding: Padding, value: float | int) -> np.ndarray:
    t, b, left, r = padding
    return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), constant_values=value)


def windows(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int], dilation: tuple[int, int],
            oh: int, ow: int) -> np.ndarray:
    """Strided window view of padded NHWC `x`: shape [N, OH, OW, KH, KW, C]."""
    sh, sw = stride
    dh, dw = dilation
    cols = np.empty((x.shape[0], oh, ow, kh, kw, x.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[:, i * dh : i * dh + sh * (oh - 1) + 1 : sh,
                                       j * dw : j * dw + sw * (ow - 1) + 1 : sw, :]
    return cols


def quant_of(graph: Graph, tensor: str) -> QuantParams:
    q = graph.tensors[tensor].quant
    if q is None:
        raise AssertionError(f"tensor {tensor} has no quantization parameters")
    return q


def quantize_weights(graph: Graph, node: Node, index: int, axis: int | None,
                     min_scale: np.ndarray | None = None) -> np.ndarray:
    """Quantize a float weight input to int8 symmetric ([-127, 127], zero point 0).

    Per channel along `axis`, or per tensor when `axis` is None; no scale below `min_scale`
    (per channel, or one value). A weight input that is already int8 (an imported quantized
    model) is kept as stored.
    """
    name = node.inputs[index]
    t = graph.tensors[name]
    assert t.data is not None
    if t.dtype == DType.INT8:
        assert t.quant is not None
        return t.data
    w = t.data.astype(np.float64)
    if axis is None:
        max_abs = np.array([np.max(np.abs(w))]) if w.size else np.array([0.0])
    else:
        moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        max_abs = np.max(np.abs(moved), axis=1)
    scale = np.where(max_abs > 0, max_abs / 127.0, 1.0)
    if min_scale is not None:
        scale = np.maximum(scale, np.where(min_scale > 0, min_scale, 0.0))
    bshape = [1] * w.ndim
    if axis is not None:
        bshape[axis] = -1
    q = np.clip(_round_half_away(w / scale.reshape(bshape)), -127, 127).astype(np.int8)
    new = graph.unique_name(name + "_q")
    graph.add_tensor(Tensor(new, t.shape, DType.INT8, data=q,
                            quant=QuantParams(scale, np.zeros_like(scale, dtype=np.int64), axis)))
    node.inputs[index] = new
    return q


def quantize_bias(graph: Graph, node: Node, index: int, scale: np.ndarray) -> np.ndarray:
    """Quantize a float bias to int32 with scale input_scale * weight_scale."""
    name = node.inputs[index]
    t = graph.tensors[name]
    assert t.data is not None
    if t.dtype == DType.INT32:
        return t.data
    q = _round_half_away(t.data.astype(np.float64) / scale)
    q = np.clip(q, -(2**31), 2**31 - 1).astype(np.int32)
    new = graph.unique_name(name + "_q")
    graph.add_tensor(Tensor(new, t.shape, DType.INT32, data=q,
                            quant=QuantParams(scale, np.zeros_like(scale, dtype=np.int64), 0)))
    node.inputs[index] = new
    return q


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


#: `Graph.meta` key a frontend sets to FLOAT32_REQUANT for models made by runtimes that requantize
#: in float32 (PyTorch's fbgemm/x86 and qnnpack, onnxruntime); absent: TFLite's constants.
REQUANT_META = "requantization"
FLOAT32_REQUANT = "float32"

#: Smallest unnormalized multiplier kept for a single rounding (below it TFLite's pair is closer).
_MIN_SINGLE_ROUNDING = 2**20


#: `Graph.meta` key a frontend sets for runtimes that add the float bias to a float accumulator
#: (PyTorch's fbgemm/x86): {int32 bias tensor name: float64 array of (bias / (input_scale *
#: weight_scale) as the runtime computes it) minus the int32 bias}, the fraction of an accumulator
#: unit int32 cannot hold. The kernels then fold it into the requantization (see `bias64_constants`).
BIAS_FRACTION_META = "bias_fraction"


def bias64_constants(fraction: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """K_c = round(fraction_c * m_c) + 2^30 per channel (int64, in [0, 2^31]), computed exactly.

    With the int32 accumulator `acc` (bias rounded to an integer included) the output before the
    offset is (acc * m_c + K_c) >> 31: the float bias enters the single rounding with its fraction,
    at 2^-31 resolution, as fbgemm adds it in float before rounding once."""
    out = [round(Fraction(float(f)) * int(m)) + 2**30 for f, m in zip(fraction, multipliers, strict=True)]
    return np.array(out, dtype=np.int64)


def float32_requant(graph: Graph) -> bool:
    """True when `graph` asks for the constants of a float32-requantizing runtime (REQUANT_META)."""
    return graph.meta.get(REQUANT_META) == FLOAT32_REQUANT


def requant_multiplier(real: float, real32: np.float32 | None = None) -> tuple[int, int]:
    """(multiplier, shift) applying `real` with edgeq's integer requantization.

    TFLite's pair without `real32`: the multiplier normalized to [2^30, 2^31) and a shift (a right
    shift rounds a second time). With `real32`, the float32 multiplier a float32 runtime (PyTorch's
    fbgemm/x86 and qnnpack, onnxruntime) multiplies by before rounding once: held unnormalized,
    round(real32 * 2^31) with shift 0 (exact for real32 >= 2^-8), the same integer arithmetic
    rounds once, as they do (ties aside, which they round to even: integer accumulators times such
    a multiplier do not reach them). Outside [2^-11, 1) TFLite's pair of `real32`.
    """
    if real32 is None:
        return quantize_multiplier(real)
    single = float(np.rint(np.float64(np.float32(real32)) * 2.0**31))
    if _MIN_SINGLE_ROUNDING <= single < 2**31:
        return int(single), 0
    return quantize_multiplier(float(np.float32(real32)))


def per_channel_multipliers(input_scale: float, weight_scales: np.ndarray, output_scale: float,
                            channels: int, float32: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Requantization multiplier and shift per output channel (broadcast if per tensor).

    `float32`: the multipliers float32 runtimes compute, float32(float32(input_scale *
    weight_scale) / output_scale), applied with one rounding (see `requant_multiplier`).
    """
    ws = np.broadcast_to(weight_scales, (channels,))
    f32 = np.float32
    pairs = [requant_multiplier(float(input_scale) * float(s) / float(output_scale),
                                f32(f32(f32(input_scale) * f32(s)) / f32(output_scale)) if float32 else None)
             for s in ws]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    return mult, shift
