"""PyTorch eager-mode quantized models (QuantStub / prepare / calibrate / convert) to an int8 IR graph.

A model converted with `torch.ao.quantization.convert` holds quantized modules
(`torch.ao.nn.quantized.Conv2d`, `Linear`, `Quantize`, `DeQuantize`, fused `ConvReLU2d`...).
It is traced with `torch.fx` (modules stay leaves) and run once on the example input so every
value's quantized parameters and shape are known; each node then maps to IR ops by module type
or function, never by name. Weights keep their int8 values and (per-channel) scales, every
activation keeps its scale and zero point (quint8 moves to int8 by -128; fbgemm/x86's
`reduce_range` only narrows the observed range, the stored parameters are used as they are).
The bias is quantized with input_scale * weight_scale as the engine rounds it, and the graph asks
for the requantization multipliers these engines use (float32, applied with one rounding; see
`edgeq.ops.common.per_channel_multipliers`).
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import fx, nn

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
from edgeq.ops.common import BIAS_FRACTION_META, FLOAT32_REQUANT, RELU, RELU6, REQUANT_META, Activation
from edgeq.ops.concat import Concat
from edgeq.ops.conv2d import Conv2D
from edgeq.ops.depthwise_conv2d import DepthwiseConv2D
from edgeq.ops.fully_connected import FullyConnected
from edgeq.ops.mul import Mul
from edgeq.ops.pool2d import HALF_EVEN, HALF_EVEN_ZP, AvgPool2D, MaxPool2D
from edgeq.ops.shape_ops import Reshape, Transpose

__all__ = ["SUPPORTED", "from_torch_quantized", "is_quantized_module"]

nnq = torch.ao.nn.quantized
nniq = torch.ao.nn.intrinsic.quantized
qops = torch.ops.quantized

#: (quantized PyTorch layer or function, IR op(s) it becomes), for `edgeq ops`.
SUPPORTED: list[tuple[str, str]] = [
    ("QuantStub -> nnq.Quantize, DeQuantStub -> nnq.DeQuantize", "graph input / output parameters"),
    ("nnq.Conv2d, nniq.ConvReLU2d (groups 1 or depthwise; fused conv+bn(+relu))", "conv2d / depthwise_conv2d"),
    ("nnq.Linear, nniq.LinearReLU", "fully_connected"),
    ("nn.ReLU, nnq.ReLU6, nn.ReLU6, F.relu on quantized tensors", "clamp (fused when exact)"),
    ("nn.Sigmoid, nn.Tanh, nnq.Softmax (last dim)", "logistic / tanh / softmax"),
    ("nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, torch.mean over H, W", "max_pool2d / avg_pool2d"),
    ("nn.Flatten, flatten, view, reshape", "reshape (transpose + reshape for images)"),
    ("FloatFunctional add, add_relu, mul, cat (converted to QFunctional)", "add / mul / concat"),
    ("nn.Dropout, nn.Identity", "(removed)"),
]

HINT = "run 'edgeq ops' to see what is supported"


def _quantized_types() -> tuple[type, ...]:
    return (nnq.Quantize, nnq.DeQuantize, nnq.Conv2d, nnq.Linear, nniq.ConvReLU2d, nniq.LinearReLU,
            nnq.QFunctional, nnq.Conv1d, nnq.Conv3d, nnq.BatchNorm2d, nnq.ReLU6, nnq.Softmax)


def is_quantized_module(model: Any) -> bool:
    """True for an nn.Module that holds modules converted by torch.ao.quantization.convert."""
    if not isinstance(model, nn.Module):
        return False
    types = _quantized_types()
    return any(isinstance(m, types) for m in model.modules())


def _first_line(err: BaseException) -> str:
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, nnq.QFunctional):
            return False
        return super().is_leaf_module(m, qualname) or isinstance(m, _quantized_types())


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.values[n.name] = out
        return out


def _qparams(t: torch.Tensor) -> QuantParams:
    if t.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        raise UnsupportedError("an activation quantized per channel; " + HINT)
    if t.dtype not in (torch.quint8, torch.qint8):
        raise UnsupportedError(f"an activation of dtype {t.dtype} (only quint8 and qint8); {HINT}")
    return int8_params(t.q_scale(), t.q_zero_point(), t.dtype == torch.quint8)


def _ir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    s = (1, *shape[1:]) if shape else shape
    return (s[0], s[2], s[3], s[1]) if len(s) == 4 else tuple(s)


class _NodeError(Exception):
    pass


@dataclass
class _Ctx:
    b: QBuilder
    gm: fx.GraphModule
    rec: dict[str, Any]
    values: dict[str, str] = field(default_factory=dict)

    @property
    def graph(self) -> Graph:
        return self.b.graph

    def act(self, arg: Any) -> str:
        if not isinstance(arg, fx.Node) or arg.name not in self.values:
            raise _NodeError("an input that is not a quantized tensor computed from the model's input")
        return self.values[arg.name]

    def torch_shape(self, node: fx.Node) -> tuple[int, ...]:
        v = self.rec[node.name]
        return (1, *(int(d) for d in v.shape[1:]))


def _weight_const(ctx: _Ctx, w: torch.Tensor, perm: tuple[int, ...] | None, ir_axis: int, base: str) -> str:
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        scale = w.q_per_channel_scales().double().numpy()
        zp = w.q_per_channel_zero_points().numpy()
        if int(w.q_per_channel_axis()) != 0:
            raise _NodeError(f"weights quantized per channel along axis {w.q_per_channel_axis()}")
        axis: int | None = ir_axis
    else:
        scale, zp, axis = np.array([w.q_scale()]), np.array([w.q_zero_point()]), None
    if w.dtype != torch.qint8 or np.any(zp != 0):
        raise _NodeError("weights must be qint8 symmetric (zero point 0)")
    q = w.int_repr().numpy().astype(np.int8)
    q = np.ascontiguousarray(q.transpose(perm) if perm else q)
    name = ctx.graph.unique_name(base)
    ctx.graph.add_tensor(Tensor(name, tuple(q.shape), DType.INT8, data=q,
                                quant=QuantParams(scale, np.zeros(scale.shape, np.int64), axis)))
    return name


def _bias_const(ctx: _Ctx, bias: torch.Tensor | None, x: str, wn: str, out_c: int, base: str) -> str:
    """The float bias as int32 at scale input_scale * weight_scale, rounded as the engine does.

    Both compute that scale in float32. qnnpack quantizes the bias with it (times its float32
    reciprocal, rounded half to even); fbgemm/x86 keep it float and add bias / scale (float32) to
    the float accumulator, whose fraction int32 cannot hold: the nearest integer (half to even),
    and the fraction in the graph's BIAS_FRACTION_META, which the kernels add in their rounding.
    """
    b = np.zeros(out_c, np.float32) if bias is None else bias.detach().float().numpy().reshape(-1)
    qin = ctx.b.quant(x)
    assert qin is not None
    w_scale = ctx.graph.tensors[wn].quant.scale  # type: ignore[union-attr]
    scale = np.broadcast_to((np.float32(qin.s) * w_scale.astype(np.float32)).astype(np.float32), (out_c,))
    if ctx.graph.meta.get("engine") == "qnnpack":
        q = np.rint(b * (np.float32(1.0) / scale).astype(np.float32))
    else:
        q = np.rint((b / scale).astype(np.float32))
    name = ctx.graph.unique_name(base)
    data = np.clip(q.astype(np.float64), -(2**31), 2**31 - 1).astype(np.int32)
    if ctx.graph.meta.get("engine") != "qnnpack":  # the fraction enters the kernels' rounding
        exact = (b / scale).astype(np.float32).astype(np.float64)
        ctx.graph.meta.setdefault(BIAS_FRACTION_META, {})[name] = exact - data.astype(np.float64)
    ctx.graph.add_tensor(Tensor(name, (out_c,), DType.INT32,
                                data=data,
                                quant=QuantParams(scale.astype(np.float64), np.zeros(out_c, np.int64), 0)))
    return name


def _conv(ctx: _Ctx, node: fx.Node, mod: Any, src: str) -> str:
    x = ctx.act(node.args[0])
    if getattr(mod, "padding_mode", "zeros") != "zeros":
        raise _NodeError(f"padding_mode={mod.padding_mode}")
    w = mod.weight()
    groups, out_c = int(mod.groups), int(w.shape[0])
    in_c = ctx.b.shape(x)[3]
    stride, dilation = tuple(mod.stride), tuple(mod.dilation)
    ph, pw = tuple(mod.padding)
    if groups == 1:
        op: Any = Conv2D(stride=stride, dilation=dilation, padding=(ph, ph, pw, pw))
        wn = _weight_const(ctx, w, (0, 2, 3, 1), 0, f"{node.target}.weight")
    elif groups == in_c and w.shape[1] == 1:
        op = DepthwiseConv2D(stride=stride, dilation=dilation, padding=(ph, ph, pw, pw),
                             depth_multiplier=out_c // groups)
        wn = _weight_const(ctx, w, (1, 2, 3, 0), 3, f"{node.target}.weight")
    else:
        raise _NodeError(f"groups={groups} (only 1 or in_channels={in_c})")
    bn = _bias_const(ctx, mod.bias(), x, wn, out_c, f"{node.target}.bias")
    if isinstance(mod, nniq.ConvReLU2d):
        op = type(op)(**{**op.__dict__, "activation": RELU})
    return ctx.b.emit(op, [x, wn, bn], node.name, src)


def _linear(ctx: _Ctx, node: fx.Node, mod: Any, src: str) -> str:
    x = ctx.act(node.args[0])
    if len(ctx.b.shape(x)) == 4:
        raise _NodeError("a Linear on a 4-D tensor (flatten it first)")
    w = mod.weight()
    wn = _weight_const(ctx, w, None, 0, f"{node.target}.weight")
    bn = _bias_const(ctx, mod.bias(), x, wn, int(w.shape[0]), f"{node.target}.bias")
    per_channel = ctx.graph.tensors[wn].quant.axis is not None  # type: ignore[union-attr]
    act = RELU if isinstance(mod, nniq.LinearReLU) else Activation()
    return ctx.b.emit(FullyConnected(activation=act, per_channel=per_channel), [x, wn, bn], node.name, src)


def _reshape(ctx: _Ctx, node: fx.Node, src: str) -> str:
    x = ctx.act(node.args[0])
    in_t = ctx.torch_shape(node.args[0])  # type: ignore[arg-type]
    out_t = ctx.torch_shape(node)
    if in_t == out_t:
        return x
    if len(in_t) == 4:
        moved = [p for p in (0, 3, 1, 2) if ctx.b.shape(x)[p] != 1]
        if moved != sorted(moved):
            x = ctx.b.emit(Transpose(perm=(0, 3, 1, 2)), [x], f"{node.name}_nchw", src)
    if len(out_t) == 4:
        y = ctx.b.emit(Reshape(shape=out_t), [x], f"{node.name}_nchw", src)
        return ctx.b.emit(Transpose(perm=(0, 2, 3, 1)), [y], node.name, src)
    return ctx.b.emit(Reshape(shape=_ir_shape(out_t)), [x], node.name, src)


def _pool_args(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _max_pool(ctx: _Ctx, node: fx.Node, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil: bool,
              src: str) -> str:
    x = ctx.act(node.args[0])
    if _pool_args(dilation) != (1, 1):
        raise _NodeError("max pooling with dilation")
    k = _pool_args(kernel)
    s = _pool_args(stride if stride else kernel)
    ph, pw = _pool_args(padding)
    _, in_h, in_w, _ = ctx.b.shape(x)
    out_h, out_w = _ir_shape(ctx.torch_shape(node))[1:3]
    extra_h = max((out_h - 1) * s[0] + k[0] - (in_h + 2 * ph), 0) if ceil else 0
    extra_w = max((out_w - 1) * s[1] + k[1] - (in_w + 2 * pw), 0) if ceil else 0
    return ctx.b.emit(MaxPool2D(kernel_size=k, stride=s, padding=(ph, ph + extra_h, pw, pw + extra_w)), [x],
                      node.name, src)


def _pool_rounding(ctx: _Ctx) -> str:
    """fbgemm/x86 round the stored values' mean half to even, qnnpack the mean of value - zero point."""
    return HALF_EVEN_ZP if ctx.graph.meta.get("engine") == "qnnpack" else HALF_EVEN


def _avg_pool_window(ctx: _Ctx, node: fx.Node, src: str, keep: bool = True) -> str:
    x = ctx.act(node.args[0])
    _, h, w, c = ctx.b.shape(x)
    oh, ow = _ir_shape(ctx.torch_shape(node))[1:3] if keep else (1, 1)
    if h % oh or w % ow:
        raise _NodeError(f"adaptive pooling from {h}x{w} to {oh}x{ow} (the output size must divide the input size)")
    win = (h // oh, w // ow)
    y = ctx.b.emit(AvgPool2D(kernel_size=win, stride=win, rounding=_pool_rounding(ctx)), [x],
                   node.name if keep else f"{node.name}_pool", src)
    return y if keep else ctx.b.emit(Reshape(shape=(1, c)), [y], node.name, src)


def _module_rule(ctx: _Ctx, node: fx.Node, mod: nn.Module, src: str) -> str:
    if isinstance(mod, (nnq.Conv2d, nniq.ConvReLU2d)):
        return _conv(ctx, node, mod, src)
    if isinstance(mod, (nnq.Linear, nniq.LinearReLU)):
        return _linear(ctx, node, mod, src)
    if isinstance(mod, (nn.ReLU, nnq.ReLU6, nn.ReLU6)):
        act = RELU if isinstance(mod, nn.ReLU) else RELU6
        return ctx.b.clamp(ctx.act(node.args[0]), act, node.name, src)
    if isinstance(mod, nn.Sigmoid):
        return ctx.b.emit(Logistic(), [ctx.act(node.args[0])], node.name, src)
    if isinstance(mod, nn.Tanh):
        return ctx.b.emit(Tanh(), [ctx.act(node.args[0])], node.name, src)
    if isinstance(mod, (nnq.Softmax, nn.Softmax)):
        rank = len(ctx.torch_shape(node))
        dim = (mod.dim if mod.dim is not None else -1) % rank
        if dim != (1 if rank == 4 else rank - 1):
            raise _NodeError(f"softmax over dim={dim} of a rank-{rank} tensor (only the last dim, or channels)")
        return ctx.b.emit(Softmax(), [ctx.act(node.args[0])], node.name, src)
    if isinstance(mod, nn.MaxPool2d):
        return _max_pool(ctx, node, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, src)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        return _avg_pool_window(ctx, node, src)
    if isinstance(mod, nn.AvgPool2d):
        if mod.ceil_mode or _pool_args(mod.padding) != (0, 0) or mod.divisor_override:
            raise _NodeError("average pooling with padding, ceil_mode or divisor_override")
        k = _pool_args(mod.kernel_size)
        s = _pool_args(mod.stride if mod.stride else mod.kernel_size)
        return ctx.b.emit(AvgPool2D(kernel_size=k, stride=s, rounding=_pool_rounding(ctx)), [ctx.act(node.args[0])],
                          node.name, src)
    if isinstance(mod, nn.Flatten):
        return _reshape(ctx, node, src)
    if isinstance(mod, (nn.Dropout, nn.Identity, nnq.DeQuantize)):
        return ctx.act(node.args[0])
    raise _NodeError("this layer type is not supported")


_RESHAPES = {torch.flatten, torch.reshape, "flatten", "view", "reshape", "squeeze", "unsqueeze", "contiguous"}


def _function_rule(ctx: _Ctx, node: fx.Node, src: str) -> str:
    t = node.target
    if t in (qops.add, qops.add_relu):
        y = ctx.b.emit(Add(), [ctx.act(node.args[0]), ctx.act(node.args[1])], node.name, src)
        if t is qops.add_relu:
            producer = ctx.graph.producer(y)
            assert producer is not None
            producer.op = Add(activation=RELU)
        return y
    if t in (qops.mul, qops.mul_relu):
        op = Mul(activation=RELU if t is qops.mul_relu else Activation())
        return ctx.b.emit(op, [ctx.act(node.args[0]), ctx.act(node.args[1])], node.name, src)
    if t is qops.cat:
        parts = [ctx.act(p) for p in node.args[0]]  # type: ignore[union-attr]
        rank = len(ctx.torch_shape(node))
        dim = int(node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)) % rank
        if dim == 0:
            raise _NodeError("concatenation along the batch dimension")
        return ctx.b.emit(Concat(axis=(0, 3, 1, 2)[dim] if rank == 4 else dim), parts, node.name, src)
    if t in (torch.relu, nn.functional.relu, torch.nn.functional.relu6):
        act = RELU6 if t is nn.functional.relu6 else RELU
        return ctx.b.clamp(ctx.act(node.args[0]), act, node.name, src)
    if t in (torch.sigmoid,):
        return ctx.b.emit(Logistic(), [ctx.act(node.args[0])], node.name, src)
    if t in (torch.tanh,):
        return ctx.b.emit(Tanh(), [ctx.act(node.args[0])], node.name, src)
    if t in _RESHAPES:
        return _reshape(ctx, node, src)
    if t in (torch.mean, "mean"):
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        rank = len(ctx.torch_shape(node.args[0]))  # type: ignore[arg-type]
        if rank != 4 or dims is None or {int(d) % 4 for d in dims} != {2, 3}:  # type: ignore[union-attr]
            raise _NodeError("mean over anything but H, W of an image")
        keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False))
        return _avg_pool_window(ctx, node, src, keep)
    if t in (operator.getitem,):
        raise _NodeError("indexing")
    raise _NodeError("this function is not supported")


def _describe(node: fx.Node, gm: fx.GraphModule) -> tuple[str, str]:
    """(source for messages and reports, where for errors)."""
    if node.op == "call_module":
        kind = type(gm.get_submodule(str(node.target))).__name__
        return f"{node.target} ({kind})", f"layer '{node.target}' ({kind})"
    fn = getattr(node.target, "__name__", str(node.target))
    return fn, f"function '{fn}' ({node.name})"


def from_torch_quantized(model: nn.Module, example_input: Any, name: str | None = None) -> Graph:
    """Convert a model converted by torch.ao.quantization (eager mode) to an int8 IR graph."""
    if example_input is None:
        raise EdgeqError("a quantized PyTorch model needs an example input (example_input=...)")
    example = torch.as_tensor(np.asarray(example_input) if not isinstance(example_input, torch.Tensor)
                              else example_input).float()[:1]
    model = model.eval()
    try:
        gm = fx.GraphModule(model, _Tracer().trace(model))
    except Exception as err:
        raise EdgeqError(f"torch.fx could not trace {type(model).__name__}: {_first_line(err)}") from None
    # Coverage first: one line naming the first layer or function that is not supported.
    for node in gm.graph.nodes:
        if node.op == "call_module":
            mod = gm.get_submodule(str(node.target))
            if not isinstance(mod, _KNOWN_MODULES):
                raise UnsupportedError(f"{_describe(node, gm)[1]} is not supported by the quantized PyTorch "
                                       f"frontend; {HINT}")
        elif node.op in ("call_function", "call_method") and node.target not in _KNOWN_FUNCTIONS:
            raise UnsupportedError(f"{_describe(node, gm)[1]} is not supported by the quantized PyTorch frontend; "
                                   f"{HINT}")
    rec = _Recorder(gm)
    try:
        with torch.no_grad():
            rec.run(example)
    except Exception as err:
        raise EdgeqError(f"running the quantized {type(model).__name__} on the example input failed: "
                         f"{_first_line(err)}") from None
    graph = Graph(name or type(model).__name__)
    # Requantization constants as these engines compute them (float32, one rounding).
    graph.meta.update({"framework": "pytorch-quantized", "torch_version": str(torch.__version__),
                       "engine": str(torch.backends.quantized.engine), REQUANT_META: FLOAT32_REQUANT})
    ctx = _Ctx(QBuilder(graph, quantized=True), gm, rec.values)
    for node in gm.graph.nodes:
        src, where = _describe(node, gm)
        try:
            if node.op == "placeholder":
                continue
            if node.op == "get_attr":
                raise _NodeError("a tensor attribute used as a value")
            if node.op == "output":
                for out in fx.node.map_arg(node.args[0], lambda n: n) if isinstance(node.args[0], (list, tuple)) \
                        else [node.args[0]]:
                    graph.outputs.append(ctx.act(out))
                continue
            if node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)), nnq.Quantize):
                arg = node.args[0]
                if not isinstance(arg, fx.Node) or arg.op != "placeholder":
                    raise _NodeError("QuantStub must be applied to the model's input")
                tname = graph.unique_name(arg.name)
                graph.add_tensor(Tensor(tname, _ir_shape(ctx.torch_shape(arg)), DType.INT8,
                                        quant=_qparams(rec.values[node.name])))
                graph.inputs.append(tname)
                ctx.values[node.name] = tname
                continue
            if node.op == "call_module":
                y = _module_rule(ctx, node, gm.get_submodule(str(node.target)), src)
            else:
                y = _function_rule(ctx, node, src)
            value = rec.values[node.name]
            if isinstance(value, torch.Tensor) and value.is_quantized:
                y = ctx.b.settle(y, _qparams(value), src)
            elif isinstance(value, torch.Tensor) and not (node.op == "call_module" and isinstance(
                    gm.get_submodule(str(node.target)), nnq.DeQuantize)):
                raise _NodeError("it computes in float inside the quantized model (a missing QuantStub?)")
            ctx.values[node.name] = y
        except _NodeError as err:
            raise UnsupportedError(f"{where} is not supported by the quantized PyTorch frontend: {err}; {HINT}"
                                   ) from None
    if not graph.inputs:
        raise UnsupportedError(f"the model has no QuantStub on its input; {HINT}")
    if any(o in graph.inputs for o in graph.outputs):
        raise UnsupportedError("the model returns its input unchanged; there is nothing to convert")
    graph.input_layout = "NCHW" if any(len(graph.tensors[t].shape) == 4 for t in graph.inputs) else "NHWC"
    graph.output_layout = "NCHW" if any(len(graph.tensors[t].shape) == 4 for t in graph.outputs) else "NHWC"
    graph.remove_unused_tensors()
    check_all_quantized(graph, "quantized PyTorch model", "put a QuantStub before and a DeQuantStub after it")
    fuse_equal_clamps(graph)
    fold_flatten_transposes(graph)
    verify(graph)
    return copy.deepcopy(graph)


_KNOWN_MODULES = (nnq.Quantize, nnq.DeQuantize, nnq.Conv2d, nniq.ConvReLU2d, nnq.Linear, nniq.LinearReLU,
                  nn.ReLU, nnq.ReLU6, nn.ReLU6, nn.Sigmoid, nn.Tanh, nnq.Softmax, nn.Softmax, nn.MaxPool2d,
                  nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)
_KNOWN_FUNCTIONS = {qops.add, qops.add_relu, qops.mul, qops.mul_relu, qops.cat, torch.relu, nn.functional.relu,
                    nn.functional.relu6, torch.sigmoid, torch.tanh, torch.mean, "mean", *_RESHAPES}
