"""PyTorch frontend: an nn.Module, a torch.export program or a .pt2 file to a float IR graph.

The model is captured with `torch.export`. The ATen graph is first walked as a whole to
check that every node is supported (so the user gets one line naming the first layer that
is not), then each node is mapped to IR ops by its ATen target through `_RULES`.

Layout: PyTorch images are NCHW, IR images NHWC. Every rank-4 activation is NHWC in the
IR; a PyTorch dim `d` of a rank-4 tensor is IR axis `[0, 3, 1, 2][d]`. Reshapes of images
keep PyTorch's C, H, W element order through an explicit TRANSPOSE. The graph has batch 1.
Nodes that depend only on parameters and buffers (for example the weight transpose of a
decomposed Linear) are evaluated by torch once and become constants.
"""

from __future__ import annotations

import logging
import operator
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import fx

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import Tensor
from edgeq.ir.verify import verify
from edgeq.ops.activations import Logistic, Softmax, Tanh
from edgeq.ops.add import Add
from edgeq.ops.base import Op
from edgeq.ops.clamp import Clamp
from edgeq.ops.common import Activation, Padding, same_padding
from edgeq.ops.concat import Concat
from edgeq.ops.conv2d import Conv2D
from edgeq.ops.depthwise_conv2d import DepthwiseConv2D
from edgeq.ops.float_only import BatchNorm
from edgeq.ops.fully_connected import FullyConnected
from edgeq.ops.mul import Mul
from edgeq.ops.pool2d import AvgPool2D, MaxPool2D
from edgeq.ops.shape_ops import Pad, Reshape, Transpose

__all__ = ["SUPPORTED", "from_torch", "load_pt2"]

aten = torch.ops.aten

#: (PyTorch layer or function as a user knows it, IR op(s) it becomes), for `edgeq ops`.
SUPPORTED: list[tuple[str, str]] = [
    ("nn.Conv2d (groups=1; stride, padding incl. 'same'/'valid', dilation)", "conv2d"),
    ("nn.Conv2d (depthwise: groups=in_channels, any depth multiplier)", "depthwise_conv2d"),
    ("nn.Linear, F.linear", "fully_connected"),
    ("nn.BatchNorm1d (on [N, C]), nn.BatchNorm2d", "batch_norm (folded into the previous layer)"),
    ("nn.ReLU, nn.ReLU6, nn.Hardtanh, torch.clamp", "clamp (fused into the previous layer)"),
    ("nn.Sigmoid, torch.sigmoid", "logistic"),
    ("nn.Tanh, torch.tanh", "tanh"),
    ("nn.Softmax (last dim; channels of an image)", "softmax"),
    ("nn.MaxPool2d (dilation=1)", "max_pool2d"),
    ("nn.AvgPool2d (ceil_mode=False)", "avg_pool2d (pad + avg_pool2d when count_include_pad)"),
    ("nn.AdaptiveAvgPool2d (output size divides input size)", "avg_pool2d"),
    ("torch.mean over H, W", "avg_pool2d (+ reshape without keepdim)"),
    ("nn.Flatten, view, reshape, flatten, squeeze, unsqueeze", "reshape (transpose + reshape for images)"),
    ("nn.Dropout, nn.Identity, clone, detach", "(removed)"),
    ("a + b (same shape, alpha=1)", "add"),
    ("a * b (same shape)", "mul"),
    ("torch.cat (not along the batch)", "concat"),
]

_HINT = "run 'edgeq ops' to see what is"


# -- where a node comes from ---------------------------------------------------------
@dataclass(frozen=True)
class _Origin:
    """The user's view of an ATen node: the layer (module path and type) or function."""

    path: str
    type_name: str
    fn: str
    aten: str
    is_layer: bool

    @property
    def source(self) -> str:
        if self.is_layer:
            return f"{self.path or 'model'} ({self.type_name})"
        if self.path:
            return f"{self.fn} in {self.path} ({self.type_name})"
        return self.fn

    @property
    def where(self) -> str:
        if self.is_layer:
            return f"layer '{self.path or 'model'}' ({self.type_name}, {self.aten})"
        if self.path:
            return f"function '{self.fn}' in layer '{self.path}' ({self.type_name}, {self.aten})"
        return f"function '{self.fn}' ({self.aten})"


def _aten_name(node: fx.Node) -> str:
    schema = getattr(node.target, "_schema", None)
    if schema is not None:
        return str(schema.name).replace("::", ".")
    return str(getattr(node.target, "__name__", node.target))


def _origin(node: fx.Node) -> _Origin:
    stack = node.meta.get("nn_module_stack") or {}
    path, mod_type = list(stack.values())[-1] if stack else ("", "")
    type_str = mod_type if isinstance(mod_type, str) else f"{mod_type.__module__}.{mod_type.__qualname__}"
    path = str(path).removeprefix("L['self'].")
    torch_fn = node.meta.get("torch_fn")
    aten_name = _aten_name(node)
    fn = str(torch_fn[1]).rsplit(".", 1)[-1] if torch_fn else aten_name.rsplit(".", 1)[-1]
    is_layer = type_str.startswith("torch.nn.")
    return _Origin(path, type_str.rsplit(".", 1)[-1] or "model", fn, aten_name, is_layer)


def _unsupported(node: fx.Node, reason: str | None = None) -> str:
    detail = f": {reason}" if reason else ""
    return f"{_origin(node).where} is not supported by the PyTorch frontend{detail}; {_HINT}"


def _first_line(err: BaseException) -> str:
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


# -- shapes and arguments --------------------------------------------------------------
def _meta_val(arg: Any) -> Any:
    return arg.meta.get("val") if isinstance(arg, fx.Node) else None


def _torch_shape(arg: Any) -> tuple[int, ...]:
    """The PyTorch shape of an activation with the batch set to 1."""
    val = _meta_val(arg)
    shape = tuple(int(d) for d in val.shape)
    return (1, *shape[1:]) if shape else shape


def _rank(arg: Any) -> int:
    val = _meta_val(arg)
    return len(val.shape) if isinstance(val, torch.Tensor) else -1


def _ir_shape(torch_shape: Sequence[int]) -> tuple[int, ...]:
    s = tuple(torch_shape)
    return (s[0], s[2], s[3], s[1]) if len(s) == 4 else s


def _ir_axis(dim: int, rank: int) -> int:
    d = dim % rank
    return (0, 3, 1, 2)[d] if rank == 4 else d


def _pair(value: Any, default: tuple[int, int] = (1, 1)) -> tuple[int, int]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return default
    if isinstance(value, int):
        return value, value
    v = [int(i) for i in value]
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _bind(node: fx.Node) -> dict[str, Any]:
    """The node's arguments by schema name, defaults filled in."""
    schema = node.target._schema  # type: ignore[union-attr]
    out: dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args) and not arg.kwarg_only:
            out[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            out[arg.name] = node.kwargs[arg.name]
        else:
            out[arg.name] = arg.default_value if arg.has_default_value() else None
    return out


def _is_trivial_perm(perm: Sequence[int], shape: Sequence[int]) -> bool:
    """True when transposing `shape` by `perm` leaves the flat element order unchanged."""
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


# -- conversion context ------------------------------------------------------------------
@dataclass
class _Ctx:
    """Conversion state: the graph being built and the value of every converted fx node.

    A value is an IR tensor name (activation), a torch.Tensor (constant), a tuple of
    values (multi-output ATen ops), or a Python scalar.
    """

    graph: Graph
    values: dict[str, Any] = field(default_factory=dict)
    const_names: dict[str, str] = field(default_factory=dict)

    def act(self, arg: Any) -> str:
        value = self.values[arg.name]
        assert isinstance(value, str), f"{arg.name} is not an activation"
        return value

    def tensor(self, arg: Any) -> torch.Tensor | None:
        if arg is None:
            return None
        value = self.values[arg.name]
        assert isinstance(value, torch.Tensor), f"{arg.name} is not a constant"
        return value.detach()

    def const(self, base: str, data: torch.Tensor | np.ndarray) -> str:
        array = data.detach().to(torch.float32).numpy() if isinstance(data, torch.Tensor) else data
        return self.graph.add_constant(base, array)

    def const_base(self, arg: Any, suffix: str = "") -> str:
        return self.const_names.get(arg.name, arg.name) + suffix

    def shape(self, tensor: str) -> tuple[int, ...]:
        return tuple(self.graph.tensors[tensor].shape)

    def emit(self, op: Op, inputs: list[str], base: str, source: str) -> str:
        out_shape = op.infer_shapes([self.shape(t) for t in inputs])[0]
        name = self.graph.unique_name(base)
        self.graph.add_tensor(Tensor(name, tuple(out_shape)))
        self.graph.add_node(Node(self.graph.unique_name(f"{name}_op"), op, list(inputs), [name], source))
        return name


Convert = Callable[[_Ctx, fx.Node], Any]
Check = Callable[[fx.Node, "set[str]"], "str | None"]


@dataclass(frozen=True)
class _Rule:
    convert: Convert
    check: Check | None = None


_RULES: dict[Any, _Rule] = {}


def _targets(*names: str) -> list[Any]:
    """ATen overloads by 'op.overload' name, skipping any this torch does not have."""
    found = []
    for name in names:
        packet, _, overload = name.partition(".")
        op = getattr(getattr(aten, packet, None), overload or "default", None)
        if op is not None:
            found.append(op)
    return found


def _bias_base(weight_name: str) -> str:
    """'features.0.weight' -> 'features.0.bias' (for the zero bias of a layer without one)."""
    return weight_name.removesuffix(".weight") + ".bias" if weight_name.endswith(".weight") else weight_name + "_bias"


def _rule(*names: str, check: Check | None = None) -> Callable[[Convert], Convert]:
    def register(fn: Convert) -> Convert:
        for target in _targets(*names):
            _RULES[target] = _Rule(fn, check)
        return fn

    return register


#: Nodes without an output that torch.export inserts for its own checks.
_SKIP = set(_targets("_assert_tensor_metadata", "_assert_scalar", "_assert_async.msg",
                     "sym_constrain_range_for_size", "sym_constrain_range"))
#: Multi-output ATen ops whose first result is the only one we produce.
_FIRST_RESULT_ONLY = set(_targets("max_pool2d_with_indices", "_native_batch_norm_legit_no_training"))


def _is_act(arg: Any, dynamic: set[str]) -> bool:
    return isinstance(arg, fx.Node) and arg.name in dynamic


def _is_const(arg: Any, dynamic: set[str]) -> bool:
    return isinstance(arg, fx.Node) and arg.name not in dynamic


# -- convolution -------------------------------------------------------------------------
def _check_conv(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    if not _is_act(a["input"], dynamic):
        return "the input is not an activation"
    if not _is_const(a["weight"], dynamic) or not (a["bias"] is None or _is_const(a["bias"], dynamic)):
        return "weights must be parameters, not computed from the input"
    if _rank(a["weight"]) != 4 or _rank(a["input"]) != 4:
        return "only 2-D convolutions on NCHW images are supported"
    if a.get("transposed"):
        return "transposed convolutions are not supported"
    groups, in_c = int(a["groups"]), _torch_shape(a["input"])[1]
    w_in = tuple(_meta_val(a["weight"]).shape)[1]
    if groups != 1 and not (groups == in_c and w_in == 1):
        return f"groups={groups} (only 1 or in_channels={in_c})"
    return None


def _conv_padding(padding: Any, in_hw: tuple[int, int], k_hw: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int]) -> Padding:
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        t, b = same_padding(in_hw[0], k_hw[0], stride[0], dilation[0])
        left, r = same_padding(in_hw[1], k_hw[1], stride[1], dilation[1])
        return t, b, left, r
    ph, pw = _pair(padding, (0, 0))
    return ph, ph, pw, pw


@_rule("conv2d", "conv2d.padding", "convolution", check=_check_conv)
def _conv(ctx: _Ctx, node: fx.Node) -> str:
    a, src = _bind(node), _origin(node).source
    x = ctx.act(a["input"])
    w = ctx.tensor(a["weight"])
    assert w is not None
    bias = ctx.tensor(a["bias"])
    stride, dilation = _pair(a["stride"]), _pair(a["dilation"])
    x_shape = ctx.shape(x)
    padding = _conv_padding(a["padding"], (x_shape[1], x_shape[2]), (w.shape[2], w.shape[3]), stride, dilation)
    groups, out_c = int(a["groups"]), int(w.shape[0])
    if bias is None:
        b_name = ctx.const(_bias_base(ctx.const_base(a["weight"])), np.zeros(out_c, np.float32))
    else:
        b_name = ctx.const(ctx.const_base(a["bias"]), bias)
    if groups == 1:
        op: Op = Conv2D(stride=stride, dilation=dilation, padding=padding)
        w_name = ctx.const(ctx.const_base(a["weight"]), w.permute(0, 2, 3, 1))
    else:
        op = DepthwiseConv2D(stride=stride, dilation=dilation, padding=padding, depth_multiplier=out_c // groups)
        w_name = ctx.const(ctx.const_base(a["weight"]), w.permute(1, 2, 3, 0))
    return ctx.emit(op, [x, w_name, b_name], node.name, src)


# -- fully connected -------------------------------------------------------------------------
def _check_linear(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    if "input" in a:  # linear
        x, w, b = a["input"], a["weight"], a["bias"]
    elif "mat1" in a:  # addmm
        x, w, b = a["mat1"], a["mat2"], a["self"]
    else:  # mm
        x, w, b = a["self"], a["mat2"], None
    if not _is_act(x, dynamic):
        return "the input is not an activation"
    if not _is_const(w, dynamic) or not (b is None or _is_const(b, dynamic)):
        return "weights must be parameters, not computed from the input"
    if _rank(x) == 4:
        return "a Linear on a 4-D tensor (flatten it first)"
    if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
        return "addmm with beta or alpha other than 1"
    return None


def _fully_connected(ctx: _Ctx, node: fx.Node, x_arg: Any, w: torch.Tensor, w_arg: Any,
                     bias: torch.Tensor | None, b_arg: Any) -> str:
    x = ctx.act(x_arg)
    out_c = int(w.shape[0])
    w_name = ctx.const(ctx.const_base(w_arg), w)
    if bias is None:
        b_name = ctx.const(_bias_base(ctx.const_base(w_arg)), np.zeros(out_c, np.float32))
    else:
        b_name = ctx.const(ctx.const_base(b_arg), torch.broadcast_to(bias, (out_c,)))
    return ctx.emit(FullyConnected(), [x, w_name, b_name], node.name, _origin(node).source)


@_rule("linear", check=_check_linear)
def _linear(ctx: _Ctx, node: fx.Node) -> str:
    a = _bind(node)
    w = ctx.tensor(a["weight"])
    assert w is not None
    return _fully_connected(ctx, node, a["input"], w, a["weight"], ctx.tensor(a["bias"]), a["bias"])


@_rule("addmm", "mm", check=_check_linear)
def _addmm(ctx: _Ctx, node: fx.Node) -> str:
    a = _bind(node)
    x_arg, b_arg = (a["self"], None) if node.target is aten.mm.default else (a["mat1"], a["self"])
    w_t = ctx.tensor(a["mat2"])  # [in, out]
    assert w_t is not None
    return _fully_connected(ctx, node, x_arg, w_t.t(), a["mat2"], ctx.tensor(b_arg), b_arg)


# -- batch norm -------------------------------------------------------------------------------
def _check_batch_norm(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    if a.get("training"):
        return "batch norm in training mode (call model.eval())"
    if a["running_mean"] is None or a["running_var"] is None:
        return "batch norm without running statistics (track_running_stats=False)"
    if not all(a[k] is None or _is_const(a[k], dynamic) for k in ("weight", "bias", "running_mean", "running_var")):
        return "batch norm parameters computed from the input"
    if _rank(a["input"]) not in (2, 4):
        return "batch norm on a rank-3 tensor (only [N, C] and [N, C, H, W])"
    return None


@_rule("batch_norm", "_native_batch_norm_legit_no_training", check=_check_batch_norm)
def _batch_norm(ctx: _Ctx, node: fx.Node) -> Any:
    a = _bind(node)
    mean, var = ctx.tensor(a["running_mean"]), ctx.tensor(a["running_var"])
    assert mean is not None and var is not None
    gamma = ctx.tensor(a["weight"])
    beta = ctx.tensor(a["bias"])
    gamma = torch.ones_like(mean) if gamma is None else gamma
    beta = torch.zeros_like(mean) if beta is None else beta
    scale, shift = BatchNorm.scale_shift(*(t.double().numpy() for t in (gamma, beta, mean, var)), float(a["eps"]))
    base = _origin(node).path or node.name
    s_name = ctx.const(f"{base}.scale", scale)
    b_name = ctx.const(f"{base}.shift", shift)
    out = ctx.emit(BatchNorm(), [ctx.act(a["input"]), s_name, b_name], node.name, _origin(node).source)
    return (out, None, None) if node.target in _FIRST_RESULT_ONLY else out


# -- element-wise activations -------------------------------------------------------------------------
def _clamp_to(ctx: _Ctx, node: fx.Node, lo: float | None, hi: float | None) -> str:
    x = ctx.act(node.args[0])
    if lo is None and hi is None:
        return x
    act = Activation(None if lo is None else float(lo), None if hi is None else float(hi))
    return ctx.emit(Clamp(activation=act), [x], node.name, _origin(node).source)


def _check_scalar_bounds(node: fx.Node, dynamic: set[str]) -> str | None:
    if any(isinstance(v, fx.Node) for v in (*node.args[1:], *node.kwargs.values())):
        return "clamp bounds must be numbers"
    return None


@_rule("relu", "relu_")
def _relu(ctx: _Ctx, node: fx.Node) -> str:
    return _clamp_to(ctx, node, 0.0, None)


@_rule("relu6", "relu6_")
def _relu6(ctx: _Ctx, node: fx.Node) -> str:
    return _clamp_to(ctx, node, 0.0, 6.0)


@_rule("hardtanh", "hardtanh_", check=_check_scalar_bounds)
def _hardtanh(ctx: _Ctx, node: fx.Node) -> str:
    a = _bind(node)
    return _clamp_to(ctx, node, a["min_val"], a["max_val"])


@_rule("clamp", "clamp_", check=_check_scalar_bounds)
def _clamp(ctx: _Ctx, node: fx.Node) -> str:
    a = _bind(node)
    return _clamp_to(ctx, node, a["min"], a["max"])


@_rule("clamp_min", check=_check_scalar_bounds)
def _clamp_min(ctx: _Ctx, node: fx.Node) -> str:
    return _clamp_to(ctx, node, _bind(node)["min"], None)


@_rule("clamp_max", check=_check_scalar_bounds)
def _clamp_max(ctx: _Ctx, node: fx.Node) -> str:
    return _clamp_to(ctx, node, None, _bind(node)["max"])


@_rule("sigmoid")
def _sigmoid(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.emit(Logistic(), [ctx.act(node.args[0])], node.name, _origin(node).source)


@_rule("tanh")
def _tanh(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.emit(Tanh(), [ctx.act(node.args[0])], node.name, _origin(node).source)


def _check_softmax(node: fx.Node, dynamic: set[str]) -> str | None:
    rank = _rank(node.args[0])
    dim = int(_bind(node)["dim"]) % max(rank, 1)
    if _ir_axis(dim, rank) != rank - 1:
        want = "dim=1 (channels)" if rank == 4 else "the last dim"
        return f"softmax over dim={dim} of a rank-{rank} tensor (only over {want})"
    return None


@_rule("softmax.int", "_softmax", check=_check_softmax)
def _softmax(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.emit(Softmax(), [ctx.act(node.args[0])], node.name, _origin(node).source)


# -- pooling ----------------------------------------------------------------------------------
def _check_pool_input(node: fx.Node, dynamic: set[str]) -> str | None:
    if not _is_act(node.args[0], dynamic) or _rank(node.args[0]) != 4:
        return "pooling needs an NCHW image input"
    return None


def _check_max_pool(node: fx.Node, dynamic: set[str]) -> str | None:
    if _pair(_bind(node)["dilation"]) != (1, 1):
        return "max pooling with dilation"
    return _check_pool_input(node, dynamic)


@_rule("max_pool2d", "max_pool2d_with_indices", check=_check_max_pool)
def _max_pool(ctx: _Ctx, node: fx.Node) -> Any:
    a = _bind(node)
    kernel = _pair(a["kernel_size"])
    stride = _pair(a["stride"], kernel)
    ph, pw = _pair(a["padding"], (0, 0))
    _, _, in_h, in_w = _torch_shape(a["self"])
    val = _meta_val(node)
    out = val[0] if isinstance(val, (tuple, list)) else val
    out_h, out_w = int(out.shape[2]), int(out.shape[3])
    # ceil_mode: extra padding at the end; max pooling ignores padded positions.
    extra_h = max((out_h - 1) * stride[0] + kernel[0] - (in_h + 2 * ph), 0)
    extra_w = max((out_w - 1) * stride[1] + kernel[1] - (in_w + 2 * pw), 0)
    op = MaxPool2D(kernel_size=kernel, stride=stride, padding=(ph, ph + extra_h, pw, pw + extra_w))
    y = ctx.emit(op, [ctx.act(a["self"])], node.name, _origin(node).source)
    return (y, None) if node.target in _FIRST_RESULT_ONLY else y


def _check_avg_pool(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    if a["ceil_mode"]:
        return "average pooling with ceil_mode=True"
    if a["divisor_override"] is not None:
        return "average pooling with divisor_override"
    return _check_pool_input(node, dynamic)


@_rule("avg_pool2d", check=_check_avg_pool)
def _avg_pool(ctx: _Ctx, node: fx.Node) -> str:
    a, src = _bind(node), _origin(node).source
    kernel = _pair(a["kernel_size"])
    stride = _pair(a["stride"], kernel)
    ph, pw = _pair(a["padding"], (0, 0))
    x = ctx.act(a["self"])
    padding = (ph, ph, pw, pw)
    if a["count_include_pad"] and (ph or pw):
        # TFLite averages only valid elements: make PyTorch's zero padding explicit.
        x = ctx.emit(Pad(padding=padding), [x], f"{node.name}_pad", src)
        padding = (0, 0, 0, 0)
    return ctx.emit(AvgPool2D(kernel_size=kernel, stride=stride, padding=padding), [x], node.name, src)


def _check_adaptive(node: fx.Node, dynamic: set[str]) -> str | None:
    reason = _check_pool_input(node, dynamic)
    if reason:
        return reason
    _, _, h, w = _torch_shape(node.args[0])
    oh, ow = _pair(node.args[1])
    if h % oh or w % ow:
        return f"adaptive pooling from {h}x{w} to {oh}x{ow} (the output size must divide the input size)"
    return None


@_rule("adaptive_avg_pool2d", "_adaptive_avg_pool2d", check=_check_adaptive)
def _adaptive_avg_pool(ctx: _Ctx, node: fx.Node) -> str:
    x = ctx.act(node.args[0])
    _, h, w, _ = ctx.shape(x)
    oh, ow = _pair(node.args[1])
    window = (h // oh, w // ow)
    op = AvgPool2D(kernel_size=window, stride=window, padding=(0, 0, 0, 0))
    return ctx.emit(op, [x], node.name, _origin(node).source)


def _check_mean(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    rank = _rank(a["self"])
    dims = {int(d) % rank for d in a["dim"]} if a["dim"] and rank > 0 else set()
    if rank != 4 or dims != {2, 3}:
        return f"mean over dims {sorted(dims) or 'all'} of a rank-{rank} tensor (only over H, W of an image)"
    return None


@_rule("mean.dim", check=_check_mean)
def _mean(ctx: _Ctx, node: fx.Node) -> str:
    a, src = _bind(node), _origin(node).source
    x = ctx.act(a["self"])
    _, h, w, c = ctx.shape(x)
    pool = AvgPool2D(kernel_size=(h, w), stride=(1, 1), padding=(0, 0, 0, 0))
    if a["keepdim"]:
        return ctx.emit(pool, [x], node.name, src)
    y = ctx.emit(pool, [x], f"{node.name}_pool", src)
    return ctx.emit(Reshape(shape=(1, c)), [y], node.name, src)


# -- shapes ----------------------------------------------------------------------------------
def _check_reshape(node: fx.Node, dynamic: set[str]) -> str | None:
    src = node.args[0]
    if not _is_act(src, dynamic):
        return "the input is not an activation"
    in_shape, out_shape = tuple(_meta_val(src).shape), tuple(_meta_val(node).shape)
    if not out_shape or not in_shape or int(out_shape[0]) != int(in_shape[0]):
        return f"reshape from {list(in_shape)} to {list(out_shape)} changes the batch dimension"
    return None


@_rule("view", "reshape", "_unsafe_view", "flatten.using_ints", "squeeze", "squeeze.dim", "squeeze.dims",
       "unsqueeze", check=_check_reshape)
def _reshape(ctx: _Ctx, node: fx.Node) -> str:
    src = _origin(node).source
    x = ctx.act(node.args[0])
    in_torch, out_torch = _torch_shape(node.args[0]), _torch_shape(node)
    if in_torch == out_torch:
        return x
    if len(in_torch) == 4 and not _is_trivial_perm((0, 3, 1, 2), ctx.shape(x)):
        x = ctx.emit(Transpose(perm=(0, 3, 1, 2)), [x], f"{node.name}_nchw", src)
    if len(out_torch) == 4 and not _is_trivial_perm((0, 2, 3, 1), out_torch):
        y = ctx.emit(Reshape(shape=out_torch), [x], f"{node.name}_nchw", src)
        return ctx.emit(Transpose(perm=(0, 2, 3, 1)), [y], node.name, src)
    return ctx.emit(Reshape(shape=_ir_shape(out_torch)), [x], node.name, src)


def _check_dropout(node: fx.Node, dynamic: set[str]) -> str | None:
    return "dropout in training mode (call model.eval())" if _bind(node).get("train") else None


@_rule("dropout", "feature_dropout", "alpha_dropout", check=_check_dropout)
def _dropout(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.act(node.args[0])


@_rule("clone", "alias", "detach", "lift_fresh_copy")
def _pass_through(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.act(node.args[0])


def _getitem(ctx: _Ctx, node: fx.Node) -> Any:
    parent, index = node.args
    return ctx.values[parent.name][index]  # type: ignore[union-attr]


def _check_getitem(node: fx.Node, dynamic: set[str]) -> str | None:
    parent, index = node.args
    if isinstance(parent, fx.Node) and parent.target not in _RULES:
        return None  # the parent is reported itself
    if not isinstance(parent, fx.Node) or parent.target not in _FIRST_RESULT_ONLY:
        return "indexing a result that is not a tuple"
    if index != 0:
        return f"uses result {index} of {_aten_name(parent)} (only the first result is produced)"
    return None


_RULES[operator.getitem] = _Rule(_getitem, _check_getitem)


# -- tensors combined ----------------------------------------------------------------------------------
def _check_binary(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    x, y = a["self"], a["other"]
    if not (_is_act(x, dynamic) and _is_act(y, dynamic)):
        return "only two activations are supported (not a constant or a number)"
    if a.get("alpha", 1) != 1:
        return f"add with alpha={a['alpha']}"
    if tuple(_meta_val(x).shape) != tuple(_meta_val(y).shape):
        return f"operands of shapes {list(_meta_val(x).shape)} and {list(_meta_val(y).shape)} (no broadcasting)"
    return None


@_rule("add.Tensor", "add_.Tensor", check=_check_binary)
def _add(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.emit(Add(), [ctx.act(node.args[0]), ctx.act(node.args[1])], node.name, _origin(node).source)


@_rule("mul.Tensor", "mul_.Tensor", check=_check_binary)
def _mul(ctx: _Ctx, node: fx.Node) -> str:
    return ctx.emit(Mul(), [ctx.act(node.args[0]), ctx.act(node.args[1])], node.name, _origin(node).source)


def _check_cat(node: fx.Node, dynamic: set[str]) -> str | None:
    a = _bind(node)
    parts = list(a["tensors"])
    if not all(_is_act(p, dynamic) for p in parts):
        return "concatenating constants"
    rank = _rank(parts[0])
    if int(a["dim"]) % max(rank, 1) == 0:
        return "concatenation along the batch dimension"
    return None


@_rule("cat", check=_check_cat)
def _cat(ctx: _Ctx, node: fx.Node) -> str:
    a = _bind(node)
    parts = [ctx.act(p) for p in a["tensors"]]
    if len(parts) == 1:
        return parts[0]
    axis = _ir_axis(int(a["dim"]), len(ctx.shape(parts[0])))
    return ctx.emit(Concat(axis=axis), parts, node.name, _origin(node).source)


# -- the exported program ------------------------------------------------------------------------------
def _input_kinds(ep: Any) -> dict[str, Any]:
    return {spec.arg.name: spec for spec in ep.graph_signature.input_specs}


def _constant_tensors(ep: Any) -> dict[str, tuple[str, torch.Tensor]]:
    """Placeholder name -> (readable name, tensor) for parameters, buffers and constants."""
    from torch.export.graph_signature import InputKind

    out: dict[str, tuple[str, torch.Tensor]] = {}
    for name, spec in _input_kinds(ep).items():
        if spec.kind == InputKind.USER_INPUT or spec.target is None:
            continue
        source = ep.state_dict if spec.target in ep.state_dict else ep.constants
        value = source.get(spec.target)
        if isinstance(value, torch.Tensor):
            out[name] = (spec.target, value.detach())
    return out


def _user_inputs(ep: Any) -> list[fx.Node]:
    from torch.export.graph_signature import InputKind

    kinds = _input_kinds(ep)
    return [n for n in ep.graph.nodes if n.op == "placeholder" and kinds[n.name].kind == InputKind.USER_INPUT]


def _dynamic_nodes(ep: Any, inputs: list[fx.Node]) -> set[str]:
    """Names of nodes that depend on a user input (the rest can be computed once)."""
    dynamic = {n.name for n in inputs}
    for node in ep.graph.nodes:
        if node.op != "placeholder" and any(i.name in dynamic for i in node.all_input_nodes):
            dynamic.add(node.name)
    return dynamic


def _check_input(node: fx.Node) -> str | None:
    val = _meta_val(node)
    if not isinstance(val, torch.Tensor):
        return f"input '{node.name}' is not a tensor"
    if not all(isinstance(d, int) for d in val.shape):
        return f"input '{node.name}' has a dynamic shape {list(val.shape)}; export with static shapes"
    if not val.dtype.is_floating_point:
        return f"input '{node.name}' has dtype {val.dtype} (only float inputs are supported)"
    if val.dim() == 0 or int(val.shape[0]) < 1:
        return f"input '{node.name}' of shape {list(val.shape)} has no batch dimension"
    return None


def _check_outputs(ep: Any, dynamic: set[str]) -> str | None:
    from torch.export.graph_signature import OutputKind

    for spec in ep.graph_signature.output_specs:
        if spec.kind == OutputKind.BUFFER_MUTATION:
            return f"the model updates buffer '{spec.target}' when it runs (is it in training mode?)"
        if spec.kind == OutputKind.USER_OUTPUT:
            name = getattr(spec.arg, "name", None)
            if name is None or name not in dynamic:
                return "the model returns something that is not a tensor computed from its input"
    return None


def _node_problem(node: fx.Node, dynamic: set[str]) -> str | None:
    """The one-line reason `node` cannot be converted, or None."""
    if node.op in ("placeholder", "output"):
        return None
    if node.op != "call_function":
        return _unsupported(node, f"{node.op} nodes")
    if node.name not in dynamic or node.target in _SKIP:
        return None  # computed once from parameters, or a torch.export check
    rule = _RULES.get(node.target)
    if rule is None:
        return _unsupported(node)
    reason = rule.check(node, dynamic) if rule.check is not None else None
    return _unsupported(node, reason) if reason else None


def _check_coverage(ep: Any, inputs: list[fx.Node], dynamic: set[str]) -> None:
    if not inputs:
        raise UnsupportedError("the model has no tensor input; the PyTorch frontend needs one")
    for node in inputs:
        reason = _check_input(node)
        if reason:
            raise UnsupportedError(f"{reason}; {_HINT}")
    problems: dict[tuple[str, str], str] = {}  # first problem per layer (or function)
    for node in ep.graph.nodes:
        problem = _node_problem(node, dynamic)
        if problem:
            origin = _origin(node)
            problems.setdefault((origin.path, origin.type_name if origin.is_layer else origin.fn), problem)
    if problems:
        first, others = next(iter(problems.values())), len(problems) - 1
        more = f" (and {others} more unsupported layer{'s' if others > 1 else ''})" if others else ""
        raise UnsupportedError(first.replace(f"; {_HINT}", f"{more}; {_HINT}"))
    reason = _check_outputs(ep, dynamic)
    if reason:
        raise UnsupportedError(f"{reason}; {_HINT}")


def _fold(ctx: _Ctx, node: fx.Node) -> Any:
    """Evaluate a node that depends only on constants."""
    args = fx.node.map_arg(node.args, lambda n: ctx.values[n.name])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: ctx.values[n.name])
    try:
        with torch.no_grad():
            return node.target(*args, **kwargs)  # type: ignore[operator]
    except Exception as err:
        raise UnsupportedError(_unsupported(node, f"computing it from the parameters failed: {_first_line(err)}")
                               ) from err


def _add_input(ctx: _Ctx, node: fx.Node) -> None:
    shape = _ir_shape(_torch_shape(node))
    name = ctx.graph.unique_name(node.name)
    ctx.graph.add_tensor(Tensor(name, shape))
    ctx.graph.inputs.append(name)
    ctx.values[node.name] = name


def _convert_node(ctx: _Ctx, node: fx.Node, dynamic: set[str]) -> None:
    if node.name not in dynamic:
        ctx.values[node.name] = _fold(ctx, node)
        named = [ctx.const_names[i.name] for i in node.all_input_nodes if i.name in ctx.const_names]
        if named:  # the transpose of 'fc.weight' is still called 'fc.weight'
            ctx.const_names[node.name] = named[0]
        return
    if node.target in _SKIP:
        return
    value = _RULES[node.target].convert(ctx, node)
    ctx.values[node.name] = value
    val = _meta_val(node)
    if isinstance(value, str) and isinstance(val, torch.Tensor):
        expected, got = _ir_shape(_torch_shape(node)), ctx.shape(value)
        assert got == expected, f"torch frontend: {node.name} ({node.target}) gives {got}, torch says {expected}"


def _add_outputs(ctx: _Ctx, ep: Any) -> None:
    from torch.export.graph_signature import OutputKind

    for spec in ep.graph_signature.output_specs:
        if spec.kind != OutputKind.USER_OUTPUT:
            continue
        name = ctx.values[spec.arg.name]
        if name in ctx.graph.inputs:
            raise UnsupportedError("the model returns its input unchanged; there is nothing to convert")
        ctx.graph.outputs.append(name)


def _layout(graph: Graph, names: list[str]) -> str:
    return "NCHW" if any(len(graph.tensors[t].shape) == 4 for t in names) else "NHWC"


def _convert(ep: Any, name: str) -> Graph:
    inputs = _user_inputs(ep)
    dynamic = _dynamic_nodes(ep, inputs)
    _check_coverage(ep, inputs, dynamic)
    ctx = _Ctx(Graph(name))
    for placeholder, (readable, tensor) in _constant_tensors(ep).items():
        ctx.values[placeholder] = tensor
        ctx.const_names[placeholder] = readable
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node in inputs:
                _add_input(ctx, node)
        elif node.op == "call_function":
            _convert_node(ctx, node, dynamic)
    _add_outputs(ctx, ep)
    graph = ctx.graph
    graph.input_layout = _layout(graph, graph.inputs)
    graph.output_layout = _layout(graph, graph.outputs)
    graph.meta.update({"framework": "pytorch", "torch_version": str(torch.__version__)})
    graph.remove_unused_tensors()
    verify(graph)
    return graph


# -- entry points ------------------------------------------------------------------------------------
def _example_tensor(example_input: Any) -> torch.Tensor:
    if isinstance(example_input, np.ndarray):
        example = torch.from_numpy(np.ascontiguousarray(example_input))
    elif isinstance(example_input, torch.Tensor):
        example = example_input.detach()
    else:
        raise EdgeqError(f"the example input must be a torch.Tensor or numpy array, not {type(example_input).__name__}")
    if example.dim() == 0 or example.shape[0] == 0:
        raise EdgeqError(f"the example input of shape {list(example.shape)} has no batch dimension")
    if example.is_floating_point():
        example = example.to(torch.float32)
    return example[:1].contiguous()


def _export(model: torch.nn.Module, example_input: Any) -> Any:
    if example_input is None:
        raise EdgeqError(f"converting {type(model).__name__} needs an example input (a batch of one sample)")
    example = _example_tensor(example_input)
    model.eval()
    try:
        return torch.export.export(model, (example,))
    except EdgeqError:
        raise
    except Exception as err:
        raise EdgeqError(f"torch.export could not capture {type(model).__name__}: {_first_line(err)}") from err


def from_torch(model: torch.nn.Module | torch.export.ExportedProgram, example_input: Any = None,
               name: str | None = None) -> Graph:
    """Convert a PyTorch model to a float IR graph with batch size 1.

    `model` is an nn.Module (put in eval mode, then captured with torch.export on
    `example_input`; a batch of N > 1 is cut to its first sample) or an ExportedProgram.
    Raises UnsupportedError naming the first layer that cannot be converted, before
    anything is built, and EdgeqError when torch.export cannot capture the model.
    """
    if isinstance(model, torch.export.ExportedProgram):
        return _convert(model, name or "model")
    if not isinstance(model, torch.nn.Module):
        raise EdgeqError(f"expected a torch.nn.Module or ExportedProgram, got {type(model).__name__}")
    return _convert(_export(model, example_input), name or type(model).__name__)


class _CaptureErrors(logging.Filter):
    """Keeps the exceptions torch logs while loading a file, instead of printing them."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
        return record.levelno < logging.WARNING


def load_pt2(path: str | Path, name: str | None = None) -> Graph:
    """Convert a program saved by `torch.export.save` to a float IR graph."""
    p = Path(path)
    if not p.is_file():
        raise EdgeqError(f"{p}: no such file")
    if not zipfile.is_zipfile(p):
        raise EdgeqError(f"{p}: not a torch.export .pt2 file (not a zip archive)")
    capture = _CaptureErrors()
    torch_log = logging.getLogger("torch.export")
    torch_log.addFilter(capture)  # torch logs a traceback of the real error, then raises another
    try:
        ep = torch.export.load(str(p))
    except Exception as err:
        reason = _first_line(capture.errors[0] if capture.errors else err).split(". ")[0]
        raise EdgeqError(f"{p}: not a readable torch.export .pt2 file ({reason})") from err
    finally:
        torch_log.removeFilter(capture)
    if not isinstance(ep, torch.export.ExportedProgram):
        raise EdgeqError(f"{p}: does not hold a torch.export program")
    return from_torch(ep, name=name or p.stem)
