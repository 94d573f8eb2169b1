"""ONNX frontend: a float ONNX model, or an int8 QDQ model, to an IR graph.

Float models (as `torch.onnx.export` writes them) become a float IR graph that edgeq
quantizes with calibration data. QDQ models (as `onnxruntime.quantization.quantize_static`
writes them with QuantFormat.QDQ) become an int8 IR graph that keeps their parameters: every
QuantizeLinear/DequantizeLinear pair on an activation is folded into the parameters of the
tensor it quantizes (uint8 zero points move by -128 to int8), DequantizeLinear of a constant
gives an int8 weight (per-channel axis mapped to the IR layout) or an int32 bias.

Every node is checked before anything is built (one line naming the first node that is not
supported, its op type and index). Layout: ONNX images are NCHW, IR images NHWC; an ONNX axis
`d` of a rank-4 tensor is IR axis `[0, 3, 1, 2][d]`, and a flatten or reshape of an image
goes through an explicit TRANSPOSE to keep ONNX's C, H, W element order (a pass, or for QDQ
models this frontend, folds it into the following dense weights). The graph has batch 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.frontends.qbuild import (
    QBuilder,
    check_all_quantized,
    fold_flatten_transposes,
    fuse_equal_clamps,
    int8_params,
)
from edgeq.ir.graph import Graph
from edgeq.ir.tensor import DType, QuantParams, Tensor
from edgeq.ir.verify import verify
from edgeq.ops.activations import Logistic, Softmax, Tanh
from edgeq.ops.add import Add
from edgeq.ops.common import FLOAT32_REQUANT, RELU, REQUANT_META, Activation, Padding, same_padding
from edgeq.ops.concat import Concat
from edgeq.ops.conv2d import Conv2D
from edgeq.ops.depthwise_conv2d import DepthwiseConv2D
from edgeq.ops.float_only import BatchNorm
from edgeq.ops.fully_connected import FullyConnected
from edgeq.ops.lookup import Lookup
from edgeq.ops.mul import Mul
from edgeq.ops.pool2d import HALF_AWAY, HALF_EVEN, AvgPool2D, MaxPool2D
from edgeq.ops.shape_ops import Pad, Reshape, Transpose

__all__ = ["SUPPORTED", "from_onnx", "load_onnx"]

#: (ONNX operator as a user knows it, IR op(s) it becomes), for `edgeq ops`.
SUPPORTED: list[tuple[str, str]] = [
    ("QuantizeLinear / DequantizeLinear (QDQ models, int8 / uint8 activations, int8 weights)",
     "(folded into tensor parameters)"),
    ("Conv (2-D; group 1 or depthwise; pads, auto_pad, strides, dilations)", "conv2d / depthwise_conv2d"),
    ("Gemm (transA=0, alpha=beta=1, constant B), MatMul (constant B) [+ Add of a constant]", "fully_connected"),
    ("BatchNormalization (inference)", "batch_norm (folded into the previous layer)"),
    ("Relu, Clip (constant bounds)", "clamp (fused into the previous layer)"),
    ("Sigmoid", "logistic (QDQ: lookup, onnxruntime's float sigmoid as a 256-entry table)"),
    ("Tanh", "tanh (QDQ: lookup table)"),
    ("Softmax (last axis; channels of an image)", "softmax"),
    ("MaxPool (dilation 1)", "max_pool2d"),
    ("AveragePool", "avg_pool2d (pad + avg_pool2d when count_include_pad)"),
    ("GlobalAveragePool, ReduceMean over H, W", "avg_pool2d (+ reshape without keepdims)"),
    ("Flatten, Reshape (constant shape), Squeeze, Unsqueeze", "reshape (transpose + reshape for images)"),
    ("Add, Mul (two tensors of the same shape)", "add / mul"),
    ("Concat (not along the batch)", "concat"),
    ("Pad (constant 0, H and W of an image)", "pad"),
    ("Dropout (inference), Identity", "(removed)"),
]

HINT = "run 'edgeq ops' to see what is supported"
QDQ_HINT = "quantize it with onnxruntime.quantization.quantize_static(..., quant_format=QuantFormat.QDQ)"
MIN_OPSET = 11

_QOPERATOR = {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
              "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu",
              "QLinearSoftmax", "QGemm", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}


# -- values --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QConst:
    """A constant stored quantized (DequantizeLinear of an initializer)."""

    q: np.ndarray  # integer values as stored
    params: QuantParams  # as int8 (uint8 moved by -128 for activations; weights must be int8)
    unsigned: bool

    @property
    def real(self) -> np.ndarray:
        p = self.params
        shape = [1] * self.q.ndim
        if p.axis is not None:
            shape[p.axis] = -1
        zp = p.zero_point.reshape(shape) + (128 if self.unsigned else 0)
        return ((self.q.astype(np.float64) - zp) * p.scale.reshape(shape)).astype(np.float32)


def _first_line(err: BaseException) -> str:
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _decode(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _ir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else tuple(shape)


def _onnx_shape(ir_shape: tuple[int, ...]) -> tuple[int, ...]:
    return (ir_shape[0], ir_shape[3], ir_shape[1], ir_shape[2]) if len(ir_shape) == 4 else tuple(ir_shape)


def _ir_axis(axis: int, rank: int) -> int:
    a = axis % rank
    return (0, 3, 1, 2)[a] if rank == 4 else a


def _is_trivial_perm(perm: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


class _NodeError(Exception):
    """A node-level problem; the converter adds the node's name, op type and index."""


# -- the conversion context ------------------------------------------------------------------
@dataclass
class _Ctx:
    b: QBuilder
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    qconsts: dict[str, QConst] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # Q / DQ outputs -> the float tensor
    qparams: dict[str, QuantParams] = field(default_factory=dict)  # float tensor -> its int8 params
    values: dict[str, str] = field(default_factory=dict)  # ONNX activation -> IR tensor
    consumers: dict[str, list[Any]] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)  # ids of nodes fused into an earlier one
    opset: int = 13
    graph_outputs: set[str] = field(default_factory=set)

    @property
    def graph(self) -> Graph:
        return self.b.graph

    @property
    def qdq(self) -> bool:
        return self.b.quantized

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def is_const(self, name: str) -> bool:
        name = self.resolve(name)
        return name in self.consts or name in self.qconsts

    def const(self, name: str) -> np.ndarray:
        """A constant input as real numbers (dequantized if stored quantized)."""
        name = self.resolve(name)
        if name in self.consts:
            return self.consts[name]
        if name in self.qconsts:
            return self.qconsts[name].real
        raise _NodeError(f"input '{name}' must be a constant")

    def act(self, name: str) -> str:
        key = self.resolve(name)
        if key not in self.values:
            if self.is_const(key):
                raise _NodeError(f"input '{name}' is a constant; only activations are supported there")
            raise _NodeError(f"input '{name}' is not produced by a supported node")
        return self.values[key]

    def onnx_shape(self, name: str) -> tuple[int, ...]:
        return _onnx_shape(self.b.shape(self.act(name)))

    def set_output(self, onnx_name: str, tensor: str, source: str) -> None:
        key = self.resolve(onnx_name)
        self.values[key] = self.b.settle(tensor, self.qparams.get(key), source)

    def emit(self, op: Any, inputs: list[str], base: str, source: str) -> str:
        return self.b.emit(op, inputs, base, source)


Rule = Callable[[_Ctx, Any, dict[str, Any], str], str | None]
_RULES: dict[str, Rule] = {}


def _rule(*op_types: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for t in op_types:
            _RULES[t] = fn
        return fn

    return register


def _inputs(node: Any) -> list[str]:
    return list(node.input)


def _opt_input(node: Any, i: int) -> str | None:
    return node.input[i] if len(node.input) > i and node.input[i] else None


# -- weights -------------------------------------------------------------------------------------
def _weight(ctx: _Ctx, name: str, perm: tuple[int, ...] | None, onnx_out_axis: int, ir_out_axis: int,
            base: str, transpose_2d: bool = False) -> str:
    """A weight constant in IR layout: float, or int8 with its (per-channel) parameters."""
    key = ctx.resolve(name)
    if key in ctx.qconsts:
        qc = ctx.qconsts[key]
        if qc.unsigned or np.any(qc.params.zero_point != 0):
            raise _NodeError("weights must be int8 symmetric (zero point 0); quantize with weight_type=QInt8")
        p = qc.params
        if p.axis is not None and p.axis % qc.q.ndim != onnx_out_axis:
            raise _NodeError(f"weights quantized per channel along axis {p.axis} (only the output channel axis)")
        data = qc.q.astype(np.int8)
        data = data.transpose(perm) if perm else (data.T if transpose_2d else data)
        axis = None if p.axis is None or p.scale.size == 1 else ir_out_axis
        scale = p.scale if axis is not None else p.scale[:1]
        tname = ctx.graph.unique_name(base)
        ctx.graph.add_tensor(Tensor(tname, tuple(data.shape), DType.INT8, data=np.ascontiguousarray(data),
                                    quant=QuantParams(scale, np.zeros(scale.shape, np.int64), axis)))
        return tname
    if key in ctx.consts:
        if ctx.qdq:
            raise _NodeError("the weights are float in a quantized model (not quantized by a DequantizeLinear)")
        w = ctx.consts[key].astype(np.float32)
        w = w.transpose(perm) if perm else (w.T if transpose_2d else w)
        return ctx.graph.add_constant(base, w)
    raise _NodeError(f"weights '{name}' must be a constant (an initializer)")


def _bias(ctx: _Ctx, name: str | None, out_c: int, base: str, in_act: str, w_name: str) -> str:
    """A bias [out_c]: float, or int32 with scale input_scale * weight_scale."""
    if name is None:
        if ctx.qdq:
            return _add_int32_bias(ctx, np.zeros(out_c, np.int32), in_act, w_name, base)
        return ctx.graph.add_constant(base, np.zeros(out_c, np.float32))
    key = ctx.resolve(name)
    if key in ctx.qconsts and ctx.qdq:
        qc = ctx.qconsts[key]
        if np.any(qc.params.zero_point != 0) or qc.q.dtype != np.int32:
            raise _NodeError("the bias must be int32 with zero point 0")
        want = _bias_scale(ctx, in_act, w_name, out_c)
        have = np.broadcast_to(qc.params.scale, (out_c,))
        q = np.broadcast_to(qc.q.reshape(-1), (out_c,)).astype(np.int64)
        if not np.allclose(have, want, rtol=1e-5, atol=0):
            q = np.round(q * have / want)  # stored at another scale: requantize to in*weight
        return _add_int32_bias(ctx, np.clip(q, -(2**31), 2**31 - 1).astype(np.int32), in_act, w_name, base)
    value = ctx.const(name).astype(np.float32).reshape(-1)
    if value.size not in (1, out_c):
        raise _NodeError(f"bias of {value.size} values for {out_c} output channels")
    # A float bias in a QDQ model is quantized with input_scale * weight_scale by the op.
    return ctx.graph.add_constant(base, np.broadcast_to(value, (out_c,)).copy())


def _bias_scale(ctx: _Ctx, in_act: str, w_name: str, out_c: int) -> np.ndarray:
    qin = ctx.b.quant(in_act)
    if qin is None:
        raise _NodeError("the input is not quantized")
    w_scale = ctx.graph.tensors[w_name].quant.scale  # type: ignore[union-attr]
    return np.broadcast_to(qin.s * w_scale, (out_c,)).astype(np.float64)


def _add_int32_bias(ctx: _Ctx, q: np.ndarray, in_act: str, w_name: str, base: str) -> str:
    scale = _bias_scale(ctx, in_act, w_name, len(q)).copy()
    name = ctx.graph.unique_name(base)
    ctx.graph.add_tensor(Tensor(name, (len(q),), DType.INT32, data=q,
                                quant=QuantParams(scale, np.zeros(len(q), np.int64), 0)))
    return name


# -- convolution ------------------------------------------------------------------------------------
def _pair(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return default
    v = [int(i) for i in value]
    if len(v) != 2:
        raise _NodeError(f"{len(v)}-D window (only 2-D)")
    return v[0], v[1]


def _window_padding(attrs: dict[str, Any], in_hw: tuple[int, int], k: tuple[int, int], stride: tuple[int, int],
                    dilation: tuple[int, int]) -> Padding:
    auto = _decode(attrs.get("auto_pad", "NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        t, b = same_padding(in_hw[0], k[0], stride[0], dilation[0])
        left, r = same_padding(in_hw[1], k[1], stride[1], dilation[1])
        return (b, t, r, left) if auto == "SAME_LOWER" else (t, b, left, r)
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto not in ("NOTSET", ""):
        raise _NodeError(f"auto_pad={auto}")
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise _NodeError(f"pads {pads} (only 2-D)")
    if any(p < 0 for p in pads):
        raise _NodeError(f"negative pads {pads}")
    return pads[0], pads[2], pads[1], pads[3]


@_rule("Conv")
def _conv(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    if len(ctx.b.shape(x)) != 4:
        raise _NodeError("only 2-D convolutions on NCHW images are supported")
    w_real = ctx.const(node.input[1])
    if w_real.ndim != 4:
        raise _NodeError("only 2-D convolutions are supported")
    out_c, w_in, kh, kw = (int(d) for d in w_real.shape)
    _, in_h, in_w, in_c = ctx.b.shape(x)
    stride = _pair(attrs.get("strides"), (1, 1))
    dilation = _pair(attrs.get("dilations"), (1, 1))
    padding = _window_padding(attrs, (in_h, in_w), (kh, kw), stride, dilation)
    group = int(attrs.get("group", 1))
    base = node.input[1]
    if group == 1:
        op: Any = Conv2D(stride=stride, dilation=dilation, padding=padding)
        w = _weight(ctx, node.input[1], (0, 2, 3, 1), 0, 0, base)
    elif group == in_c and w_in == 1:
        op = DepthwiseConv2D(stride=stride, dilation=dilation, padding=padding, depth_multiplier=out_c // group)
        w = _weight(ctx, node.input[1], (1, 2, 3, 0), 0, 3, base)
    else:
        raise _NodeError(f"group={group} (only 1 or in_channels={in_c})")
    b = _bias(ctx, _opt_input(node, 2), out_c, _opt_input(node, 2) or base + "_bias", x, w)
    return ctx.emit(op, [x, w, b], node.output[0], src)


# -- fully connected ---------------------------------------------------------------------------------
def _fc(ctx: _Ctx, node: Any, x: str, w_input: str, transposed: bool, bias: str | None, src: str) -> str:
    w_real = ctx.const(w_input)
    if w_real.ndim != 2:
        raise _NodeError(f"weights of rank {w_real.ndim} (only a 2-D matrix)")
    x_shape = ctx.b.shape(x)
    if len(x_shape) == 4:
        raise _NodeError("a matrix product on a 4-D tensor (flatten it first)")
    out_c = int(w_real.shape[0] if transposed else w_real.shape[1])
    in_c = int(w_real.shape[1] if transposed else w_real.shape[0])
    if x_shape[-1] != in_c:
        raise _NodeError(f"input of shape {list(x_shape)} for weights {list(w_real.shape)}")
    w = _weight(ctx, w_input, None, 0 if transposed else 1, 0, w_input, transpose_2d=not transposed)
    per_channel = ctx.graph.tensors[w].quant is not None and ctx.graph.tensors[w].quant.axis is not None  # type: ignore[union-attr]
    b = _bias(ctx, bias, out_c, bias or w_input + "_bias", x, w)
    return ctx.emit(FullyConnected(per_channel=per_channel), [x, w, b], node.output[0], src)


@_rule("Gemm")
def _gemm(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    if int(attrs.get("transA", 0)):
        raise _NodeError("transA=1")
    if float(attrs.get("alpha", 1.0)) != 1.0 or (float(attrs.get("beta", 1.0)) != 1.0 and _opt_input(node, 2)):
        raise _NodeError("alpha or beta other than 1")
    x = ctx.act(node.input[0])
    if len(ctx.b.shape(x)) != 2:
        raise _NodeError("Gemm on a tensor that is not 2-D")
    return _fc(ctx, node, x, node.input[1], bool(int(attrs.get("transB", 0))), _opt_input(node, 2), src)


@_rule("MatMul")
def _matmul(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    if not ctx.is_const(node.input[1]):
        raise _NodeError("the second operand must be a constant (weights)")
    bias, fused = _following_bias_add(ctx, node)
    if not fused:
        return _fc(ctx, node, x, node.input[1], False, None, src)
    add = fused[-1]
    ctx.skip.update(id(n) for n in fused)
    out_c = int(ctx.const(node.input[1]).shape[1])
    bias_name = ctx.graph.add_constant(add.name or node.output[0] + "_bias",
                                       np.broadcast_to(bias.reshape(-1), (out_c,)).astype(np.float32))
    w = _weight(ctx, node.input[1], None, 1, 0, node.input[1], transpose_2d=True)
    per_channel = ctx.graph.tensors[w].quant is not None and ctx.graph.tensors[w].quant.axis is not None  # type: ignore[union-attr]
    y = ctx.emit(FullyConnected(per_channel=per_channel), [x, w, bias_name], node.output[0], src)
    ctx.alias[ctx.resolve(node.output[0])] = ctx.resolve(add.output[0])
    return y


def _following_bias_add(ctx: _Ctx, node: Any) -> tuple[np.ndarray, list[Any]]:
    """The Add of a constant [out] right after a MatMul (directly, or after a QDQ pair, whose
    parameters then give way to the Add's: the bias is added before requantizing)."""
    out, chain = node.output[0], []
    users = ctx.consumers.get(out, [])
    if ctx.qdq and len(users) == 1 and users[0].op_type == "QuantizeLinear":
        dqs = ctx.consumers.get(users[0].output[0], [])
        if len(dqs) != 1 or dqs[0].op_type != "DequantizeLinear":
            return np.zeros(0), []
        chain = [users[0], dqs[0]]
        out, users = dqs[0].output[0], ctx.consumers.get(dqs[0].output[0], [])
    if len(users) != 1 or users[0].op_type != "Add" or node.output[0] in ctx.graph_outputs:
        return np.zeros(0), []
    add = users[0]
    other = [i for i in add.input if i != out]
    out_c = int(ctx.const(node.input[1]).shape[1])
    if len(other) != 1 or not ctx.is_const(other[0]):
        return np.zeros(0), []
    value = ctx.const(other[0])
    if value.size not in (1, out_c) or (value.ndim and value.shape[-1] not in (1, out_c)):
        return np.zeros(0), []
    return value, [*chain, add]


# -- element-wise activations ------------------------------------------------------------------------
@_rule("Relu")
def _relu(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    return ctx.b.clamp(ctx.act(node.input[0]), RELU, node.output[0], src)


@_rule("Clip")
def _clip(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    lo: float | None
    hi: float | None
    if ctx.opset < 11:
        lo, hi = attrs.get("min"), attrs.get("max")
    else:
        lo_in, hi_in = _opt_input(node, 1), _opt_input(node, 2)
        for bound in (lo_in, hi_in):
            if bound is not None and not ctx.is_const(bound):
                raise _NodeError("clip bounds must be constants")
        lo = float(ctx.const(lo_in).reshape(-1)[0]) if lo_in else None
        hi = float(ctx.const(hi_in).reshape(-1)[0]) if hi_in else None
    x = ctx.act(node.input[0])
    if lo is None and hi is None:
        return x
    return ctx.b.clamp(x, Activation(lo, hi), node.output[0], src)


@_rule("Sigmoid")
def _sigmoid(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    # QDQ: onnxruntime computes it in float between the int8 tensors: a table of exactly that.
    op = Lookup(function="sigmoid") if ctx.qdq else Logistic()
    return ctx.emit(op, [ctx.act(node.input[0])], node.output[0], src)


@_rule("Tanh")
def _tanh(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    op = Lookup(function="tanh") if ctx.qdq else Tanh()
    return ctx.emit(op, [ctx.act(node.input[0])], node.output[0], src)


@_rule("Softmax")
def _softmax(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    rank = len(ctx.b.shape(x))
    axis = int(attrs.get("axis", -1 if ctx.opset >= 13 else 1))
    if ctx.opset < 13 and axis % rank != rank - 1 and not (rank == 4 and axis % rank == 1 and
                                                             ctx.b.shape(x)[1:3] == (1, 1)):
        raise _NodeError(f"softmax over axis {axis} of a rank-{rank} tensor before opset 13 (only the last axis)")
    if _ir_axis(axis, rank) != rank - 1:
        raise _NodeError(f"softmax over axis {axis} of a rank-{rank} tensor (only the last axis, or channels)")
    return ctx.emit(Softmax(), [x], node.output[0], src)


# -- pooling ----------------------------------------------------------------------------------------
def _image(ctx: _Ctx, name: str) -> str:
    x = ctx.act(name)
    if len(ctx.b.shape(x)) != 4:
        raise _NodeError("pooling needs an NCHW image input")
    return x


@_rule("MaxPool")
def _max_pool(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    if len(node.output) > 1 and node.output[1]:
        raise _NodeError("the indices output is used")
    if _pair(attrs.get("dilations"), (1, 1)) != (1, 1):
        raise _NodeError("max pooling with dilations")
    if int(attrs.get("storage_order", 0)):
        raise _NodeError("storage_order=1")
    x = _image(ctx, node.input[0])
    _, in_h, in_w, _ = ctx.b.shape(x)
    k = _pair(attrs.get("kernel_shape"), (1, 1))
    stride = _pair(attrs.get("strides"), (1, 1))
    t, b, left, r = _window_padding(attrs, (in_h, in_w), k, stride, (1, 1))
    if int(attrs.get("ceil_mode", 0)):  # extra padding at the end; max ignores padded positions
        out_h = -(-(in_h + t + b - k[0]) // stride[0]) + 1
        out_w = -(-(in_w + left + r - k[1]) // stride[1]) + 1
        b += max((out_h - 1) * stride[0] + k[0] - (in_h + t + b), 0)
        r += max((out_w - 1) * stride[1] + k[1] - (in_w + left + r), 0)
    return ctx.emit(MaxPool2D(kernel_size=k, stride=stride, padding=(t, b, left, r)), [x], node.output[0], src)


@_rule("AveragePool")
def _avg_pool(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    if _pair(attrs.get("dilations"), (1, 1)) != (1, 1):
        raise _NodeError("average pooling with dilations")
    if int(attrs.get("ceil_mode", 0)):
        raise _NodeError("average pooling with ceil_mode=1")
    x = _image(ctx, node.input[0])
    _, in_h, in_w, _ = ctx.b.shape(x)
    k = _pair(attrs.get("kernel_shape"), (1, 1))
    stride = _pair(attrs.get("strides"), (1, 1))
    padding = _window_padding(attrs, (in_h, in_w), k, stride, (1, 1))
    if int(attrs.get("count_include_pad", 0)) and any(padding):
        x = ctx.emit(Pad(padding=padding), [x], f"{node.output[0]}_pad", src)
        padding = (0, 0, 0, 0)
    # onnxruntime rounds mean / scale + zero point half to even, so ties go to the even stored
    # value (TFLite: half away from zero); its float sums move a few exact ties either way.
    rounding = HALF_EVEN if ctx.qdq else HALF_AWAY
    return ctx.emit(AvgPool2D(kernel_size=k, stride=stride, padding=padding, rounding=rounding), [x],
                    node.output[0], src)


def _global_pool(ctx: _Ctx, x: str, keepdims: bool, out: str, src: str) -> str:
    _, h, w, c = ctx.b.shape(x)
    pool: Any = AvgPool2D(kernel_size=(h, w), stride=(1, 1), padding=(0, 0, 0, 0))
    if ctx.qdq:
        # The model stores the mean with its own parameters: a depthwise convolution with unit
        # weights of scale 1/(h*w) averages and requantizes with one rounding, as onnxruntime.
        wq = QuantParams(np.array([1.0 / (h * w)]), np.array([0]), None)
        weights = ctx.graph.unique_name(f"{out}_ones")
        ctx.graph.add_tensor(Tensor(weights, (1, h, w, c), DType.INT8, data=np.ones((1, h, w, c), np.int8),
                                    quant=wq))
        bias = _add_int32_bias(ctx, np.zeros(c, np.int32), x, weights, f"{out}_zero_bias")
        y = ctx.emit(DepthwiseConv2D(), [x, weights, bias], out if keepdims else f"{out}_pool", src)
        if keepdims:
            return y
        ctx.graph.tensors[y].quant = _next_quantize(ctx, out)  # the reshape keeps them
        ctx.graph.tensors[y].dtype = DType.INT8
        return ctx.emit(Reshape(shape=(1, c)), [y], out, src)
    if keepdims:
        return ctx.emit(pool, [x], out, src)
    y = ctx.emit(pool, [x], f"{out}_pool", src)
    return ctx.emit(Reshape(shape=(1, c)), [y], out, src)


@_rule("GlobalAveragePool")
def _global_avg_pool(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    return _global_pool(ctx, _image(ctx, node.input[0]), True, node.output[0], src)


@_rule("ReduceMean")
def _reduce_mean(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    rank = len(ctx.b.shape(x))
    axes_in = _opt_input(node, 1)
    axes = attrs.get("axes") if axes_in is None else ctx.const(axes_in).astype(np.int64).reshape(-1).tolist()
    dims = {int(a) % rank for a in axes} if axes else set(range(rank))
    if rank != 4 or dims != {2, 3}:
        raise _NodeError(f"mean over axes {sorted(dims)} of a rank-{rank} tensor (only over H, W of an image)")
    return _global_pool(ctx, x, bool(int(attrs.get("keepdims", 1))), node.output[0], src)


# -- shapes ---------------------------------------------------------------------------------------
def _reshape_to(ctx: _Ctx, x: str, out_onnx: tuple[int, ...], out: str, src: str) -> str:
    in_onnx = _onnx_shape(ctx.b.shape(x))
    if int(np.prod(in_onnx)) != int(np.prod(out_onnx)):
        raise _NodeError(f"cannot reshape {list(in_onnx)} to {list(out_onnx)}")
    if not out_onnx or out_onnx[0] != 1:
        raise _NodeError(f"reshape from {list(in_onnx)} to {list(out_onnx)} changes the batch dimension")
    if in_onnx == out_onnx:
        return x
    if len(in_onnx) == 4 and not _is_trivial_perm((0, 3, 1, 2), ctx.b.shape(x)):
        x = ctx.emit(Transpose(perm=(0, 3, 1, 2)), [x], f"{out}_nchw", src)
    if len(out_onnx) == 4 and not _is_trivial_perm((0, 2, 3, 1), out_onnx):
        y = ctx.emit(Reshape(shape=out_onnx), [x], f"{out}_nchw", src)
        return ctx.emit(Transpose(perm=(0, 2, 3, 1)), [y], out, src)
    return ctx.emit(Reshape(shape=_ir_shape(out_onnx)), [x], out, src)


@_rule("Flatten")
def _flatten(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    shape = ctx.onnx_shape(node.input[0])
    axis = int(attrs.get("axis", 1)) % max(len(shape), 1)
    if axis != 1:
        raise _NodeError(f"flatten with axis={axis} (only 1)")
    return _reshape_to(ctx, x, (1, int(np.prod(shape[1:]))), node.output[0], src)


@_rule("Reshape")
def _reshape(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    x = ctx.act(node.input[0])
    if not ctx.is_const(node.input[1]):
        raise _NodeError("the target shape is computed at run time (export with static shapes)")
    target = [int(d) for d in ctx.const(node.input[1]).astype(np.int64).reshape(-1)]
    in_shape = ctx.onnx_shape(node.input[0])
    if not int(attrs.get("allowzero", 0)):
        target = [in_shape[i] if d == 0 and i < len(in_shape) else d for i, d in enumerate(target)]
    if target.count(-1) > 1:
        raise _NodeError(f"shape {target} has more than one -1")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        if known == 0:
            raise _NodeError(f"shape {target}")
        target[target.index(-1)] = int(np.prod(in_shape)) // known
    return _reshape_to(ctx, x, tuple(target), node.output[0], src)


def _axes(ctx: _Ctx, node: Any, attrs: dict[str, Any]) -> list[int] | None:
    axes_in = _opt_input(node, 1)
    if axes_in is not None:
        return [int(a) for a in ctx.const(axes_in).astype(np.int64).reshape(-1)]
    return [int(a) for a in attrs["axes"]] if "axes" in attrs else None


@_rule("Squeeze")
def _squeeze(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    shape = ctx.onnx_shape(node.input[0])
    axes = _axes(ctx, node, attrs)
    drop = {a % len(shape) for a in axes} if axes is not None else {i for i, d in enumerate(shape) if d == 1 and i}
    if 0 in drop or any(shape[a] != 1 for a in drop):
        raise _NodeError(f"squeezing axes {sorted(drop)} of shape {list(shape)}")
    out = tuple(d for i, d in enumerate(shape) if i not in drop)
    return _reshape_to(ctx, ctx.act(node.input[0]), out, node.output[0], src)


@_rule("Unsqueeze")
def _unsqueeze(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    shape = list(ctx.onnx_shape(node.input[0]))
    axes = _axes(ctx, node, attrs) or []
    rank = len(shape) + len(axes)
    for a in sorted(x % rank for x in axes):
        shape.insert(a, 1)
    return _reshape_to(ctx, ctx.act(node.input[0]), tuple(shape), node.output[0], src)


@_rule("Pad")
def _pad(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    mode = _decode(attrs.get("mode", "constant"))
    if mode != "constant":
        raise _NodeError(f"mode={mode} (only constant)")
    x = _image(ctx, node.input[0])
    if ctx.opset < 11:
        pads, value = list(attrs.get("pads", [])), float(attrs.get("value", 0.0))
    else:
        if not ctx.is_const(node.input[1]):
            raise _NodeError("pads computed at run time")
        pads = [int(p) for p in ctx.const(node.input[1]).astype(np.int64).reshape(-1)]
        value_in = _opt_input(node, 2)
        value = float(ctx.const(value_in).reshape(-1)[0]) if value_in else 0.0
        if _opt_input(node, 3):
            axes = [a % 4 for a in ctx.const(node.input[3]).astype(np.int64).reshape(-1)]
            full = [0] * 8
            for i, a in enumerate(axes):
                full[a], full[a + 4] = pads[i], pads[i + len(axes)]
            pads = full
    if value != 0.0:
        raise _NodeError(f"padding with {value} (only 0)")
    if len(pads) != 8 or any(p < 0 for p in pads) or pads[0] or pads[1] or pads[4] or pads[5]:
        raise _NodeError(f"pads {pads} (only non-negative padding of H and W)")
    return ctx.emit(Pad(padding=(pads[2], pads[6], pads[3], pads[7])), [x], node.output[0], src)


# -- combining tensors -----------------------------------------------------------------------------
def _binary(ctx: _Ctx, node: Any, op: Any, src: str) -> str:
    if any(ctx.is_const(i) for i in node.input):
        raise _NodeError("an operand is a constant (only two activations of the same shape)")
    a, b = ctx.act(node.input[0]), ctx.act(node.input[1])
    if ctx.b.shape(a) != ctx.b.shape(b):
        raise _NodeError(f"operands of shapes {list(ctx.onnx_shape(node.input[0]))} and "
                         f"{list(ctx.onnx_shape(node.input[1]))} (no broadcasting)")
    return ctx.emit(op, [a, b], node.output[0], src)


@_rule("Add")
def _add(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    return _binary(ctx, node, Add(), src)


@_rule("Mul")
def _mul(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    return _binary(ctx, node, Mul(), src)


@_rule("Concat")
def _concat(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    if any(ctx.is_const(i) for i in node.input):
        raise _NodeError("concatenating constants")
    parts = [ctx.act(i) for i in node.input]
    rank = len(ctx.b.shape(parts[0]))
    axis = int(attrs["axis"]) % rank
    if axis == 0:
        raise _NodeError("concatenation along the batch dimension")
    if len(parts) == 1:
        return parts[0]
    return ctx.emit(Concat(axis=_ir_axis(axis, rank)), parts, node.output[0], src)


# -- float-only and pass-through --------------------------------------------------------------------
@_rule("BatchNormalization")
def _batch_norm(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    if int(attrs.get("training_mode", 0)) or any(o for o in node.output[1:]):
        raise _NodeError("batch normalization in training mode (export the model in eval mode)")
    x = ctx.act(node.input[0])
    rank = len(ctx.b.shape(x))
    if rank not in (2, 4):
        raise _NodeError(f"batch normalization of a rank-{rank} tensor (only [N, C] and [N, C, H, W])")
    gamma, beta, mean, var = (ctx.const(n).astype(np.float64) for n in node.input[1:5])
    scale, shift = BatchNorm.scale_shift(gamma, beta, mean, var, float(attrs.get("epsilon", 1e-5)))
    s = ctx.graph.add_constant(f"{node.input[1]}.scale", scale)
    t = ctx.graph.add_constant(f"{node.input[2]}.shift", shift)
    return ctx.emit(BatchNorm(), [x, s, t], node.output[0], src)


@_rule("Dropout")
def _dropout(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    training = _opt_input(node, 2)
    if training is not None and (not ctx.is_const(training) or bool(ctx.const(training).reshape(-1)[0])):
        raise _NodeError("dropout in training mode")
    if len(node.output) > 1 and node.output[1] and ctx.consumers.get(node.output[1]):
        raise _NodeError("the dropout mask is used")
    return ctx.act(node.input[0])


@_rule("Identity")
def _identity(ctx: _Ctx, node: Any, attrs: dict[str, Any], src: str) -> str:
    return ctx.act(node.input[0])


# -- QDQ ------------------------------------------------------------------------------------------
def _qparams_of(ctx: _Ctx, node: Any, attrs: dict[str, Any], for_const: bool) -> tuple[QuantParams, bool, Any]:
    if not ctx.is_const(node.input[1]) or (_opt_input(node, 2) and not ctx.is_const(node.input[2])):
        raise _NodeError("scale and zero point must be constants")
    scale = ctx.consts.get(ctx.resolve(node.input[1]))
    zp_name = _opt_input(node, 2)
    zp = ctx.consts.get(ctx.resolve(zp_name)) if zp_name else None
    if scale is None:
        raise _NodeError("scale must be a constant")
    dtype = zp.dtype if zp is not None else np.dtype(np.uint8)
    if "output_dtype" in attrs and int(attrs["output_dtype"]) not in (0, 2, 3):
        raise _NodeError("only int8 and uint8 quantization is supported")
    if dtype not in (np.int8, np.uint8) and not (for_const and dtype == np.int32):
        raise _NodeError(f"{dtype} quantization (only int8 and uint8)")
    if int(attrs.get("block_size", 0)):
        raise _NodeError("blocked quantization")
    axis = int(attrs.get("axis", 1)) if scale.size > 1 else None
    zp_arr = np.zeros(scale.shape, np.int64) if zp is None else zp.astype(np.int64)
    if not for_const and scale.size != 1:
        raise _NodeError("per-channel quantization of an activation")
    unsigned = dtype == np.uint8
    return int8_params(scale.reshape(-1), zp_arr.reshape(-1), unsigned, axis), unsigned, dtype


def _next_quantize(ctx: _Ctx, onnx_name: str) -> QuantParams | None:
    """The parameters of the QuantizeLinear that reads `onnx_name`, if one does."""
    for user in ctx.consumers.get(onnx_name, []):
        if user.op_type == "QuantizeLinear":
            return _qparams_of(ctx, user, _attrs(user), for_const=False)[0]
    return None


def _quantize_linear(ctx: _Ctx, node: Any, attrs: dict[str, Any]) -> None:
    src = ctx.resolve(node.input[0])
    if ctx.is_const(src):
        raise _NodeError("QuantizeLinear of a constant (store the constant quantized)")
    params, _, _ = _qparams_of(ctx, node, attrs, for_const=False)
    old = ctx.qparams.get(src)
    if old is not None and not (old.zp == params.zp and np.float32(old.s) == np.float32(params.s)):
        raise _NodeError(f"tensor '{src}' is quantized twice with different parameters")
    ctx.qparams[src] = params
    ctx.alias[node.output[0]] = src
    if src in ctx.values:  # produced already: give it the parameters now
        ctx.values[src] = ctx.b.settle(ctx.values[src], params, node.name or node.output[0])


def _dequantize_linear(ctx: _Ctx, node: Any, attrs: dict[str, Any]) -> None:
    name = node.input[0]
    key = ctx.resolve(name)
    if key in ctx.consts:
        params, unsigned, dtype = _qparams_of(ctx, node, attrs, for_const=True)
        q = ctx.consts[key]
        if dtype == np.int32:
            params = QuantParams(params.scale, np.zeros(params.scale.shape, np.int64), params.axis)
        ctx.qconsts[node.output[0]] = QConst(q, params, unsigned)
        return
    if key not in ctx.values:
        raise _NodeError(f"input '{name}' is already quantized (only float graph inputs are supported)")
    ctx.alias[node.output[0]] = key


# -- driver --------------------------------------------------------------------------------------
def _source(node: Any, index: int) -> str:
    return f"{node.name or node.output[0]} ({node.op_type})"


def _where(node: Any, index: int) -> str:
    return f"node '{node.name or node.output[0]}' ({node.op_type}, #{index})"


def _check_opset(model: Any) -> int:
    opset = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = int(imp.version)
    if opset is None:
        raise UnsupportedError("the model imports no standard ONNX opset; the ONNX frontend needs ai.onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if opset < MIN_OPSET or opset > newest:
        raise UnsupportedError(f"ONNX opset {opset} is not supported (opsets {MIN_OPSET} to {newest}); convert it "
                               "with onnx.version_converter.convert_version or re-export with another opset_version")
    return opset


def _check_coverage(model: Any) -> None:
    problems = []
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{_where(node, i)} from domain '{node.domain}' is not supported by the ONNX frontend")
        elif node.op_type in _QOPERATOR:
            problems.append(f"{_where(node, i)} is not supported by the ONNX frontend: QOperator and dynamic "
                            f"quantization are not supported, {QDQ_HINT}")
        elif node.op_type not in _RULES and node.op_type not in ("QuantizeLinear", "DequantizeLinear", "Constant"):
            problems.append(f"{_where(node, i)} is not supported by the ONNX frontend")
    if problems:
        more = f" (and {len(problems) - 1} more unsupported node{'s' if len(problems) > 2 else ''})" \
            if len(problems) > 1 else ""
        raise UnsupportedError(f"{problems[0]}{more}; {HINT}")


def _static_shape(vi: Any) -> tuple[int, ...]:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        raise EdgeqError(f"input '{vi.name}' has no static tensor shape; export with static shapes")
    dims: list[int | str] = []
    for d in t.shape.dim:
        dims.append(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?"))
    if not dims:
        raise EdgeqError(f"input '{vi.name}' is a scalar; the model needs a batch dimension")
    if any(not isinstance(d, int) for d in dims[1:]):
        raise EdgeqError(f"input '{vi.name}' has a dynamic shape {dims}; export with static shapes "
                         "(only the batch dimension may be dynamic)")
    return (1, *(int(d) for d in dims[1:]))


def _input_dtype(vi: Any) -> None:
    from onnx import TensorProto

    if vi.type.tensor_type.elem_type not in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
        raise UnsupportedError(f"input '{vi.name}' is not a float tensor (elem_type "
                               f"{vi.type.tensor_type.elem_type}); only float inputs are supported; {HINT}")


def from_onnx(model: Any, name: str | None = None) -> Graph:
    """Convert an onnx.ModelProto (float, or int8 QDQ) to an IR graph with batch size 1."""
    from onnx import numpy_helper

    opset = _check_opset(model)
    _check_coverage(model)
    g = model.graph
    qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.node)
    graph = Graph(name or g.name or "model")
    ctx = _Ctx(QBuilder(graph, qdq), opset=opset, graph_outputs={o.name for o in g.output})
    for init in g.initializer:
        ctx.consts[init.name] = numpy_helper.to_array(init)
    for node in g.node:
        for i in node.input:
            ctx.consumers.setdefault(i, []).append(node)
    init_names = set(ctx.consts)
    for vi in g.input:
        if vi.name in init_names:
            continue
        shape = _static_shape(vi)
        _input_dtype(vi)
        tname = graph.unique_name(vi.name)
        graph.add_tensor(Tensor(tname, _ir_shape(shape)))
        graph.inputs.append(tname)
        ctx.values[vi.name] = tname
    if not graph.inputs:
        raise UnsupportedError("the model has no input; the ONNX frontend needs one")
    for i, node in enumerate(g.node):
        if id(node) in ctx.skip:
            continue
        attrs = _attrs(node)
        try:
            if node.op_type == "Constant":
                if "value" not in attrs:
                    raise _NodeError("only a 'value' tensor constant is supported")
                ctx.consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            elif node.op_type == "QuantizeLinear":
                _quantize_linear(ctx, node, attrs)
            elif node.op_type == "DequantizeLinear":
                _dequantize_linear(ctx, node, attrs)
            elif node.op_type == "Identity" and ctx.is_const(node.input[0]):
                ctx.alias[node.output[0]] = ctx.resolve(node.input[0])
            else:
                y = _RULES[node.op_type](ctx, node, attrs, _source(node, i))
                assert y is not None
                ctx.set_output(node.output[0], y, _source(node, i))
        except _NodeError as err:
            raise UnsupportedError(f"{_where(node, i)} is not supported by the ONNX frontend: {err}; {HINT}") from None
        except ValueError as err:
            raise UnsupportedError(f"{_where(node, i)}: {_first_line(err)}; {HINT}") from None
    for out in g.output:
        key = ctx.resolve(out.name)
        if key not in ctx.values:
            raise UnsupportedError(f"output '{out.name}' is not computed from the input; {HINT}")
        value = ctx.values[key]
        if value in graph.inputs:
            raise UnsupportedError("the model returns its input unchanged; there is nothing to convert")
        graph.outputs.append(value)
    graph.input_layout = "NCHW" if any(len(graph.tensors[t].shape) == 4 for t in graph.inputs) else "NHWC"
    graph.output_layout = "NCHW" if any(len(graph.tensors[t].shape) == 4 for t in graph.outputs) else "NHWC"
    graph.meta.update({"framework": "onnx", "opset": str(opset), "quantized": "qdq" if qdq else "float"})
    if qdq:  # onnxruntime requantizes with float32 multipliers and one rounding
        graph.meta[REQUANT_META] = FLOAT32_REQUANT
    graph.remove_unused_tensors()
    if qdq:
        check_all_quantized(graph, "QDQ model", QDQ_HINT)
        for t in graph.tensors.values():
            if not t.is_constant:
                t.dtype = DType.INT8
        fuse_equal_clamps(graph)
        fold_flatten_transposes(graph)
    verify(graph)
    return graph


def load_onnx(path: str | Path, name: str | None = None) -> Graph:
    """Read an .onnx file (float, or int8 QDQ) and convert it to an IR graph."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise EdgeqError(f"{p}: no such file")
    try:
        model = onnx.load(str(p))
    except Exception as err:
        raise EdgeqError(f"{p}: not a readable ONNX file ({_first_line(err)})") from None
    if not model.graph.node or not model.opset_import:
        raise EdgeqError(f"{p}: not an ONNX model (no graph or no opset)")
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise EdgeqError(f"{p}: invalid ONNX model ({_first_line(err)})") from None
    return from_onnx(model, name=name or p.stem)
