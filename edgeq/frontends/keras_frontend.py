"""Keras 3 frontend: Sequential and functional models (in memory, .keras or .h5) to a float IR graph.

Layers map to IR ops by class (a dispatch table, subclasses included), never by name.
Coverage is checked for every layer before anything is built, so an unsupported layer
or argument gives one error naming it. Keras is NHWC like the IR; only the weight
layouts change (Conv2D HWIO -> OHWI, DepthwiseConv2D [kh, kw, C, M] -> [1, kh, kw, C*M],
Dense [in, out] -> [out, in]). Keras and TensorFlow are imported lazily.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import Tensor
from edgeq.ops import (
    NO_ACTIVATION,
    RELU,
    RELU6,
    Activation,
    Add,
    AvgPool2D,
    BatchNorm,
    Clamp,
    Concat,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Identity,
    Logistic,
    MaxPool2D,
    Mul,
    Op,
    Pad,
    Reshape,
    Softmax,
    Tanh,
    Transpose,
)
from edgeq.ops.common import Padding, same_padding

Shape = tuple[int | None, ...]
HINT = "run 'edgeq ops' to see what is"

# -- what is supported ------------------------------------------------------------------

#: (Keras layer as a user knows it, IR op(s) it becomes), for `edgeq ops`.
SUPPORTED: list[tuple[str, str]] = [
    ("InputLayer / keras.Input", "graph input (batch 1, NHWC)"),
    ("Conv2D", "conv2d (+ logistic / tanh / softmax for those activations)"),
    ("DepthwiseConv2D", "depthwise_conv2d (+ logistic / tanh / softmax)"),
    ("SeparableConv2D", "depthwise_conv2d (zero bias) + conv2d 1x1 (bias, activation)"),
    ("Dense", "fully_connected (+ logistic / tanh / softmax)"),
    ("BatchNormalization (last axis)", "batch_norm (folded into the producer by a pass)"),
    ("Activation (relu, relu6, linear, sigmoid, tanh, softmax)", "clamp / identity / logistic / tanh / softmax"),
    ("ReLU (max_value; negative_slope 0, threshold 0)", "clamp"),
    ("Softmax (last axis)", "softmax"),
    ("MaxPooling2D", "max_pool2d"),
    ("AveragePooling2D", "avg_pool2d (padding excluded from averages)"),
    ("GlobalAveragePooling2D", "avg_pool2d (full window) + reshape unless keepdims"),
    ("GlobalMaxPooling2D", "max_pool2d (full window) + reshape unless keepdims"),
    ("Flatten", "reshape"),
    ("Reshape", "reshape"),
    ("Permute", "transpose"),
    ("ZeroPadding2D", "pad"),
    ("Add", "add (chained for more than two inputs)"),
    ("Multiply", "mul (chained for more than two inputs)"),
    ("Concatenate", "concat"),
    ("Dropout, SpatialDropout2D, GaussianNoise, GaussianDropout, Identity", "identity (removed by a pass)"),
    ("nested Sequential / functional model", "flattened into the graph"),
]

_ACTIVATIONS = ("linear", "relu", "relu6", "sigmoid", "tanh", "softmax")
_POST_OPS: dict[str, type[Op]] = {"sigmoid": Logistic, "tanh": Tanh, "softmax": Softmax}
_FUSED: dict[str, Activation] = {"linear": NO_ACTIVATION, "relu": RELU, "relu6": RELU6}


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError:
        raise EdgeqError(
            "TensorFlow/Keras is not installed; install it with: pip install 'edgeq[tensorflow]'"
        ) from None
    return keras


# -- names and messages --------------------------------------------------------------------


def _printable(text: str) -> str:
    """`text` on one printable line (escapes newlines and other control characters)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _base_name(text: str) -> str:
    """A readable tensor/node name fragment: letters, digits and underscores."""
    return re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "layer"


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _class_name(layer: Any) -> str:
    return type(layer).__name__


def _describe(layer: Any) -> str:
    return f"layer {layer.name!r} ({_class_name(layer)})"


def _unsupported_argument(layer: Any, argument: str) -> UnsupportedError:
    return UnsupportedError(f"{_describe(layer)}: {argument} is not supported by the Keras frontend; {HINT}")


# -- the model as a flat list of layer applications ----------------------------------------


@dataclass
class _Step:
    """One application of a layer: keys of its input and output tensors, with Keras shapes."""

    layer: Any
    inputs: list[int]
    outputs: list[int]
    in_shapes: list[Shape]
    out_shapes: list[Shape]


@dataclass
class _Flat:
    inputs: list[tuple[int, Any]]  # (key, KerasTensor)
    outputs: list[int]
    steps: list[_Step] = field(default_factory=list)


def _shape(t: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in t.shape)


def _as_function(model: Any) -> Any | None:
    """The functional graph of a Sequential or functional model, None for other layers."""
    keras = _keras()
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise EdgeqError(
                f"model {model.name!r} (Sequential) has no input shape; start it with "
                "keras.Input(shape=...) or call model.build(input_shape) before converting"
            )
        return fn
    if isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _ordered_nodes(fn: Any) -> Iterator[Any]:
    by_depth = fn._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def _walk(fn: Any, scope: dict[int, int], flat: _Flat, keys: Iterator[int]) -> None:
    """Append the layer applications of `fn` to `flat`, flattening nested models.

    `scope` maps id(KerasTensor) of `fn` to tensor keys (its inputs must be there).
    """
    for node in _ordered_nodes(fn):
        if any(id(t) not in scope for t in node.input_tensors):
            continue  # not part of this model (as Keras itself skips it)
        ins = [scope[id(t)] for t in node.input_tensors]
        inner = _as_function(node.operation)
        if inner is not None:
            if len(inner.inputs) != len(ins):
                raise UnsupportedError(f"{_describe(node.operation)}: nested model called with "
                                       f"{len(ins)} inputs for {len(inner.inputs)}")
            inner_scope = {id(a): k for a, k in zip(inner.inputs, ins, strict=True)}
            _walk(inner, inner_scope, flat, keys)
            for outer_t, inner_t in zip(node.outputs, inner.outputs, strict=True):
                scope[id(outer_t)] = inner_scope[id(inner_t)]
            continue
        outs = [next(keys) for _ in node.outputs]
        scope.update({id(t): k for t, k in zip(node.outputs, outs, strict=True)})
        flat.steps.append(_Step(node.operation, ins, outs, [_shape(t) for t in node.input_tensors],
                                [_shape(t) for t in node.outputs]))


def _flatten(model: Any) -> _Flat:
    if type(model).__module__.startswith("tf_keras"):
        raise EdgeqError(
            f"model {getattr(model, 'name', '?')!r} is a tf_keras (Keras 2) object; save it as .h5 "
            "(model.save('model.h5')) and convert the file"
        )
    fn = _as_function(model)
    if fn is None:
        raise EdgeqError(
            f"model {getattr(model, 'name', '?')!r} ({_class_name(model)}) is not a Sequential or "
            "functional Keras model; subclassed models cannot be converted"
        )
    keys = itertools.count()
    scope: dict[int, int] = {}
    flat = _Flat(inputs=[], outputs=[])
    for t in fn.inputs:
        key = next(keys)
        scope[id(t)] = key
        flat.inputs.append((key, t))
    _walk(fn, scope, flat, keys)
    for t in fn.outputs:
        if id(t) not in scope:
            raise EdgeqError(f"model {model.name!r}: an output is not connected to the inputs")
        flat.outputs.append(scope[id(t)])
    return flat


# -- building context ------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What a converter sees: the graph under construction and the step being converted."""

    graph: Graph
    step: _Step
    names: dict[int, str]

    @property
    def layer(self) -> Any:
        return self.step.layer

    @property
    def base(self) -> str:
        return _base_name(self.layer.name)

    @property
    def source(self) -> str:
        return f"{_printable(self.layer.name)} ({_class_name(self.layer)})"

    def input(self, i: int = 0) -> str:
        return self.names[self.step.inputs[i]]

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.graph.tensors[tensor].shape

    def const(self, suffix: str, data: np.ndarray) -> str:
        return self.graph.add_constant(f"{self.base}_{suffix}", np.asarray(data, dtype=np.float32))

    def emit(self, op: Op, inputs: list[str], suffix: str = "") -> str:
        """Add a node applying `op` to `inputs`; return its output tensor's name."""
        base = self.base + (f"_{suffix}" if suffix else "")
        (shape,) = op.infer_shapes([self.shape(t) for t in inputs])
        out = self.graph.unique_name(base)
        self.graph.add_tensor(Tensor(out, tuple(shape)))
        self.graph.add_node(Node(self.graph.unique_name(base + "_op"), op, list(inputs), [out],
                                 source=self.source))
        return out


Converter = Callable[[_Ctx], str]
Checker = Callable[[_Step], None]


def _np(variable: Any) -> np.ndarray:
    return np.asarray(_keras().ops.convert_to_numpy(variable), dtype=np.float32)


# -- argument helpers ------------------------------------------------------------------------


def _activation_name(fn: Any) -> str | None:
    """The name of a supported Keras activation function, None for anything else."""
    activations = _keras().activations
    if fn is None:
        return "linear"
    for name in _ACTIVATIONS:
        if fn is getattr(activations, name, None):
            return name
    return None


def _describe_activation(fn: Any) -> str:
    return str(getattr(fn, "__name__", type(fn).__name__))


def _check_activation(layer: Any) -> None:
    fn = getattr(layer, "activation", None)
    if _activation_name(fn) is None:
        raise _unsupported_argument(layer, f"activation={_describe_activation(fn)!r}")


def _split_activation(layer: Any) -> tuple[Activation, type[Op] | None]:
    """The fused clamp for the op and the separate op (Logistic, Tanh, Softmax) to follow it."""
    name = _activation_name(getattr(layer, "activation", None))
    assert name is not None  # checked before building
    if name in _FUSED:
        return _FUSED[name], None
    return NO_ACTIVATION, _POST_OPS[name]


def _finish_activation(ctx: _Ctx, pre: str, post: type[Op] | None) -> str:
    return pre if post is None else ctx.emit(post(), [pre], post.kind)


def _padding(layer: Any, in_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> Padding:
    if layer.padding == "valid":
        return (0, 0, 0, 0)
    top, bottom = same_padding(in_shape[1], kernel[0], stride[0], dilation[0])
    left, right = same_padding(in_shape[2], kernel[1], stride[1], dilation[1])
    return (top, bottom, left, right)


def _pair(value: Any) -> tuple[int, int]:
    a, b = (value, value) if isinstance(value, int) else tuple(value)
    return int(a), int(b)


def _bias(layer: Any, channels: int) -> np.ndarray:
    if getattr(layer, "use_bias", True) and getattr(layer, "bias", None) is not None:
        return _np(layer.bias)
    return np.zeros(channels, dtype=np.float32)


def _last_axis(axis: Any, rank: int) -> bool:
    axes = [axis] if isinstance(axis, int) else list(axis)
    return len(axes) == 1 and int(axes[0]) % rank == rank - 1


# -- checkers (run for every layer before anything is built) ---------------------------------


def _check_common(step: _Step) -> None:
    layer = step.layer
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise _unsupported_argument(layer, "data_format='channels_first'")
    policy = getattr(layer, "dtype_policy", None)
    if getattr(policy, "quantization_mode", None):
        raise _unsupported_argument(layer, f"a {policy.quantization_mode} quantized layer")
    if hasattr(layer, "activation"):
        _check_activation(layer)
    padding = getattr(layer, "padding", None)
    if isinstance(padding, str) and padding not in ("valid", "same"):
        raise _unsupported_argument(layer, f"padding={padding!r}")


def _check_conv(step: _Step) -> None:
    _check_common(step)
    if getattr(step.layer, "groups", 1) != 1:
        raise _unsupported_argument(step.layer, f"groups={step.layer.groups}")


def _check_dense(step: _Step) -> None:
    _check_common(step)
    if len(step.in_shapes[0]) < 2:
        raise _unsupported_argument(step.layer, f"input of shape {step.in_shapes[0]}")


def _check_batch_norm(step: _Step) -> None:
    _check_common(step)
    if not _last_axis(step.layer.axis, len(step.in_shapes[0])):
        raise _unsupported_argument(step.layer, f"axis={step.layer.axis} (only the last axis)")


def _check_softmax(step: _Step) -> None:
    _check_common(step)
    if not _last_axis(step.layer.axis, len(step.in_shapes[0])):
        raise _unsupported_argument(step.layer, f"axis={step.layer.axis} (only the last axis)")


def _check_relu(step: _Step) -> None:
    layer = step.layer
    if float(layer.negative_slope) != 0.0:
        raise _unsupported_argument(layer, f"negative_slope={float(layer.negative_slope)}")
    if float(layer.threshold) != 0.0:
        raise _unsupported_argument(layer, f"threshold={float(layer.threshold)}")


def _check_same_shapes(step: _Step) -> None:
    if any(s[1:] != step.in_shapes[0][1:] for s in step.in_shapes):
        raise _unsupported_argument(step.layer, f"broadcasting between shapes {step.in_shapes}")


def _check_concat(step: _Step) -> None:
    if int(step.layer.axis) % len(step.in_shapes[0]) == 0:
        raise _unsupported_argument(step.layer, "concatenation along the batch axis")


# -- converters ------------------------------------------------------------------------------


def _conv2d(ctx: _Ctx) -> str:
    layer, x = ctx.layer, ctx.input()
    kernel = _np(layer.kernel)  # HWIO
    weights = kernel.transpose(3, 0, 1, 2)  # OHWI
    stride, dilation = _pair(layer.strides), _pair(layer.dilation_rate)
    pad = _padding(layer, ctx.shape(x), kernel.shape[:2], stride, dilation)
    fused, post = _split_activation(layer)
    op = Conv2D(stride=stride, dilation=dilation, padding=pad, activation=fused)
    y = ctx.emit(op, [x, ctx.const("weights", weights), ctx.const("bias", _bias(layer, weights.shape[0]))])
    return _finish_activation(ctx, y, post)


def _depthwise(ctx: _Ctx, kernel: np.ndarray, bias: np.ndarray, fused: Activation, suffix: str = "") -> str:
    layer, x = ctx.layer, ctx.input()
    kh, kw, channels, multiplier = kernel.shape
    stride, dilation = _pair(layer.strides), _pair(layer.dilation_rate)
    pad = _padding(layer, ctx.shape(x), (kh, kw), stride, dilation)
    op = DepthwiseConv2D(stride=stride, dilation=dilation, padding=pad, depth_multiplier=int(multiplier),
                         activation=fused)
    weights = kernel.reshape(1, kh, kw, channels * multiplier)
    prefix = f"{suffix}_" if suffix else ""
    return ctx.emit(op, [x, ctx.const(prefix + "weights", weights), ctx.const(prefix + "bias", bias)], suffix)


def _depthwise_conv2d(ctx: _Ctx) -> str:
    kernel = _np(ctx.layer.kernel)
    fused, post = _split_activation(ctx.layer)
    y = _depthwise(ctx, kernel, _bias(ctx.layer, kernel.shape[2] * kernel.shape[3]), fused)
    return _finish_activation(ctx, y, post)


def _separable_conv2d(ctx: _Ctx) -> str:
    layer = ctx.layer
    depth_kernel = _np(layer.depthwise_kernel)
    channels = depth_kernel.shape[2] * depth_kernel.shape[3]
    mid = _depthwise(ctx, depth_kernel, np.zeros(channels, dtype=np.float32), NO_ACTIVATION, "depthwise")
    point = _np(layer.pointwise_kernel).transpose(3, 0, 1, 2)  # [F, 1, 1, C*M]
    fused, post = _split_activation(layer)
    op = Conv2D(activation=fused)
    y = ctx.emit(op, [mid, ctx.const("pointwise_weights", point), ctx.const("bias", _bias(layer, point.shape[0]))],
                 "pointwise")
    return _finish_activation(ctx, y, post)


def _dense(ctx: _Ctx) -> str:
    layer = ctx.layer
    weights = _np(layer.kernel).T  # [out, in]
    fused, post = _split_activation(layer)
    y = ctx.emit(FullyConnected(activation=fused),
                 [ctx.input(), ctx.const("weights", weights), ctx.const("bias", _bias(layer, weights.shape[0]))])
    return _finish_activation(ctx, y, post)


def _batch_norm(ctx: _Ctx) -> str:
    layer = ctx.layer
    mean, var = _np(layer.moving_mean), _np(layer.moving_variance)
    gamma = _np(layer.gamma) if layer.scale else np.ones_like(mean)
    beta = _np(layer.beta) if layer.center else np.zeros_like(mean)
    scale, shift = BatchNorm.scale_shift(gamma, beta, mean, var, float(layer.epsilon))
    return ctx.emit(BatchNorm(), [ctx.input(), ctx.const("scale", scale), ctx.const("shift", shift)])


def _activation_layer(ctx: _Ctx) -> str:
    name = _activation_name(ctx.layer.activation)
    if name == "linear":
        return ctx.emit(Identity(), [ctx.input()])
    if name in _FUSED:
        return ctx.emit(Clamp(activation=_FUSED[name]), [ctx.input()])
    return ctx.emit(_POST_OPS[str(name)](), [ctx.input()])


def _relu(ctx: _Ctx) -> str:
    max_value = ctx.layer.max_value
    act = RELU if max_value is None else Activation(0.0, float(max_value))
    return ctx.emit(Clamp(activation=act), [ctx.input()])


def _softmax(ctx: _Ctx) -> str:
    return ctx.emit(Softmax(), [ctx.input()])


def _identity(ctx: _Ctx) -> str:
    return ctx.emit(Identity(), [ctx.input()])


def _pool(ctx: _Ctx, op_class: type[MaxPool2D] | type[AvgPool2D]) -> str:
    layer, x = ctx.layer, ctx.input()
    size = _pair(layer.pool_size)
    stride = _pair(layer.strides if layer.strides is not None else layer.pool_size)
    pad = _padding(layer, ctx.shape(x), size, stride)
    return ctx.emit(op_class(kernel_size=size, stride=stride, padding=pad), [x])


def _max_pool(ctx: _Ctx) -> str:
    return _pool(ctx, MaxPool2D)


def _avg_pool(ctx: _Ctx) -> str:
    return _pool(ctx, AvgPool2D)


def _global_pool(ctx: _Ctx, op_class: type[MaxPool2D] | type[AvgPool2D]) -> str:
    x = ctx.input()
    n, h, w, c = ctx.shape(x)
    pooled = ctx.emit(op_class(kernel_size=(h, w), stride=(1, 1)), [x], "pool" if not ctx.layer.keepdims else "")
    if ctx.layer.keepdims:
        return pooled
    return ctx.emit(Reshape(shape=(n, c)), [pooled])


def _global_avg_pool(ctx: _Ctx) -> str:
    return _global_pool(ctx, AvgPool2D)


def _global_max_pool(ctx: _Ctx) -> str:
    return _global_pool(ctx, MaxPool2D)


def _flatten_layer(ctx: _Ctx) -> str:
    shape = ctx.shape(ctx.input())
    return ctx.emit(Reshape(shape=(shape[0], int(np.prod(shape[1:], dtype=np.int64)))), [ctx.input()])


def _reshape(ctx: _Ctx) -> str:
    target = ctx.step.out_shapes[0][1:]
    dims = tuple(d for d in target if d is not None)
    if len(dims) != len(target):
        raise _unsupported_argument(ctx.layer, f"a dynamic target shape {target}")
    return ctx.emit(Reshape(shape=(ctx.shape(ctx.input())[0], *dims)), [ctx.input()])


def _permute(ctx: _Ctx) -> str:
    return ctx.emit(Transpose(perm=(0, *(int(d) for d in ctx.layer.dims))), [ctx.input()])


def _zero_padding(ctx: _Ctx) -> str:
    (top, bottom), (left, right) = ctx.layer.padding
    return ctx.emit(Pad(padding=(int(top), int(bottom), int(left), int(right))), [ctx.input()])


def _chain(ctx: _Ctx, op: Op) -> str:
    names = [ctx.input(i) for i in range(len(ctx.step.inputs))]
    y = names[0]
    for i, other in enumerate(names[1:], start=1):
        y = ctx.emit(op, [y, other], "" if i == len(names) - 1 else f"part{i}")
    return y


def _add(ctx: _Ctx) -> str:
    return _chain(ctx, Add())


def _multiply(ctx: _Ctx) -> str:
    return _chain(ctx, Mul())


def _concatenate(ctx: _Ctx) -> str:
    names = [ctx.input(i) for i in range(len(ctx.step.inputs))]
    axis = int(ctx.layer.axis) % len(ctx.shape(names[0]))
    return ctx.emit(Concat(axis=axis), names)


@dataclass(frozen=True)
class _Rule:
    convert: Converter
    check: Checker = _check_common


_RULES: dict[str, _Rule] = {
    "Conv2D": _Rule(_conv2d, _check_conv),
    "DepthwiseConv2D": _Rule(_depthwise_conv2d),
    "SeparableConv2D": _Rule(_separable_conv2d),
    "Dense": _Rule(_dense, _check_dense),
    "BatchNormalization": _Rule(_batch_norm, _check_batch_norm),
    "Activation": _Rule(_activation_layer),
    "ReLU": _Rule(_relu, _check_relu),
    "Softmax": _Rule(_softmax, _check_softmax),
    "MaxPooling2D": _Rule(_max_pool),
    "AveragePooling2D": _Rule(_avg_pool),
    "GlobalAveragePooling2D": _Rule(_global_avg_pool),
    "GlobalMaxPooling2D": _Rule(_global_max_pool),
    "Flatten": _Rule(_flatten_layer),
    "Reshape": _Rule(_reshape),
    "Permute": _Rule(_permute),
    "ZeroPadding2D": _Rule(_zero_padding),
    "Add": _Rule(_add, _check_same_shapes),
    "Multiply": _Rule(_multiply, _check_same_shapes),
    "Concatenate": _Rule(_concatenate, _check_concat),
    "Dropout": _Rule(_identity),
    "SpatialDropout2D": _Rule(_identity),
    "GaussianNoise": _Rule(_identity),
    "GaussianDropout": _Rule(_identity),
    "Identity": _Rule(_identity),
}
"""Keyed by the name of the class in `keras.layers`; resolved to the class itself lazily."""


@cache
def _dispatch() -> dict[type, _Rule]:
    layers = _keras().layers
    return {getattr(layers, name): rule for name, rule in _RULES.items() if hasattr(layers, name)}


def _rule_for(layer: Any) -> _Rule | None:
    table = _dispatch()
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def _check_coverage(flat: _Flat) -> None:
    layer_class = _keras().layers.Layer
    for step in flat.steps:
        rule = _rule_for(step.layer)
        if rule is None and isinstance(step.layer, layer_class):
            raise UnsupportedError(f"{_describe(step.layer)} is not supported by the Keras frontend; {HINT}")
        if rule is None:
            raise UnsupportedError(
                f"operation {step.layer.name!r} (keras.ops {_class_name(step.layer)}) on symbolic tensors is not "
                f"supported by the Keras frontend; use the equivalent layer (keras.layers) instead, or {HINT}"
            )
        rule.check(step)


# -- the graph -------------------------------------------------------------------------------


def _add_inputs(graph: Graph, flat: _Flat, names: dict[int, str]) -> None:
    for key, t in flat.inputs:
        history = getattr(t, "_keras_history", None)
        label = str(getattr(getattr(history, "operation", None), "name", None) or t.name or "input")
        shape = _shape(t)
        if len(shape) < 2 or any(d is None for d in shape[1:]):
            raise EdgeqError(
                f"input {label!r} has a dynamic shape {shape}; give the model a fixed input shape "
                "(e.g. keras.Input(shape=(96, 96, 3)))"
            )
        dtype = str(getattr(t, "dtype", "float32"))
        if not dtype.startswith("float"):
            raise UnsupportedError(f"input {label!r} has dtype {dtype}; only float inputs are supported")
        name = graph.unique_name(_base_name(label))
        graph.add_tensor(Tensor(name, (1, *(int(d) for d in shape[1:]))))
        graph.inputs.append(name)
        names[key] = name


def _convert_step(graph: Graph, step: _Step, names: dict[int, str]) -> None:
    rule = _rule_for(step.layer)
    assert rule is not None
    out = rule.convert(_Ctx(graph, step, names))
    got, want = graph.tensors[out].shape[1:], step.out_shapes[0][1:]
    if tuple(got) != tuple(want):
        raise UnsupportedError(
            f"{_describe(step.layer)}: converted output shape {got} differs from Keras' {want}; "
            "this configuration is not supported"
        )
    names[step.outputs[0]] = out


def from_keras(model: Any, name: str | None = None) -> Graph:
    """Convert an in-memory Keras Sequential or functional model to a float IR graph."""
    flat = _flatten(model)
    _check_coverage(flat)
    for step in flat.steps:
        if len(step.outputs) != 1:
            raise _unsupported_argument(step.layer, f"{len(step.outputs)} outputs")
    graph = Graph(name=name or str(model.name), input_layout="NHWC", output_layout="NHWC")
    graph.meta["frontend"] = "keras"
    names: dict[int, str] = {}
    _add_inputs(graph, flat, names)
    for step in flat.steps:
        _convert_step(graph, step, names)
    graph.outputs = [names[k] for k in flat.outputs]
    return graph


# -- files -----------------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _read_magic(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(8)
    except OSError as e:
        raise EdgeqError(f"{path}: cannot read the file ({_one_line(e)})") from e


def _check_file(path: Path) -> str:
    """'keras' or 'h5' for a file that looks like a Keras model; EdgeqError otherwise."""
    if not path.exists():
        raise EdgeqError(f"{path}: no such file")
    if path.is_dir():
        raise EdgeqError(f"{path}: is a directory, not a .keras or .h5 model file")
    suffix = path.suffix.lower()
    kinds = {".keras": ("keras", _ZIP_MAGIC, "a .keras (zip) archive"),
             ".h5": ("h5", _HDF5_MAGIC, "an HDF5 file"), ".hdf5": ("h5", _HDF5_MAGIC, "an HDF5 file")}
    if suffix not in kinds:
        raise EdgeqError(f"{path}: not a Keras model file (expected a .keras or .h5 file)")
    kind, magic, what = kinds[suffix]
    head = _read_magic(path)
    if not head:
        raise EdgeqError(f"{path}: the file is empty")
    if not head.startswith(magic):
        raise EdgeqError(f"{path}: not {what}; the file is corrupt or of another format")
    return kind


def _h5_model_config(path: Path) -> Any:
    try:
        import h5py
    except ImportError:
        raise EdgeqError("h5py is not installed; install it with: pip install 'edgeq[tensorflow]'") from None

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except Exception as e:  # h5py raises OSError, KeyError, RuntimeError... for damaged files
        raise EdgeqError(f"{path}: cannot read the HDF5 file ({_one_line(e)})") from e
    if raw is None:
        raise EdgeqError(f"{path}: the HDF5 file holds no model (no model_config; a weights-only file?)")
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except ValueError as e:
        raise EdgeqError(f"{path}: the model_config of the HDF5 file is not valid JSON") from e


def _class_names(config: Any) -> Iterator[str]:
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            yield config["class_name"]
        for value in config.values():
            yield from _class_names(value)
    elif isinstance(config, list):
        for value in config:
            yield from _class_names(value)


def _init_parameters(cls: type) -> set[str]:
    """Keyword arguments the constructors along `cls`'s MRO accept by name."""
    import inspect

    names = {"input_shape", "input_dim"}  # popped by keras.layers.Layer itself
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def _lenient(cls: type, dropped: list[str]) -> type:
    """A subclass of layer class `cls` whose from_config drops config keys Keras 3 no longer knows."""
    allowed = _init_parameters(cls)
    base_from_config = cls.from_config.__func__  # type: ignore[attr-defined]

    def from_config(klass: type, config: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return base_from_config(klass, config, *args, **kwargs)
        except (TypeError, ValueError):
            extra = sorted(k for k in config if k not in allowed)
            if not extra:
                raise
            dropped.extend(f"{cls.__name__}.{k}" for k in extra)
            kept = {k: v for k, v in config.items() if k in allowed}
            return base_from_config(klass, kept, *args, **kwargs)

    return type(cls.__name__, (cls,), {"from_config": classmethod(from_config), "__module__": cls.__module__,
                                       "__qualname__": cls.__qualname__})


def _legacy_objects(config: Any, dropped: list[str]) -> dict[str, type]:
    keras = _keras()
    objects: dict[str, type] = {}
    for class_name in set(_class_names(config)):
        cls = getattr(keras.layers, class_name, None)
        if isinstance(cls, type) and issubclass(cls, keras.layers.Layer) and not issubclass(cls, keras.Model):
            objects[class_name] = _lenient(cls, dropped)
    return objects


def _load_model(path: Path) -> tuple[Any, list[str]]:
    """The Keras model in `path` and the legacy config keys dropped to load it."""
    kind = _check_file(path)
    keras = _keras()
    config = _h5_model_config(path) if kind == "h5" else None
    try:
        return keras.models.load_model(path, compile=False), []
    except Exception as first:  # Keras raises many types for files it cannot read
        if kind != "h5":
            raise EdgeqError(f"{path}: Keras cannot load the model ({_one_line(first)})") from first
        error: Exception = first
    dropped: list[str] = []
    try:
        model = keras.models.load_model(path, compile=False, custom_objects=_legacy_objects(config, dropped))
    except Exception as e:
        raise EdgeqError(f"{path}: Keras cannot load the model ({_one_line(error)})") from e
    return model, sorted(set(dropped))


def load_keras_file(path: str | Path, name: str | None = None) -> Graph:
    """Load a .keras or .h5 model (legacy Keras 2 HDF5 files included) and convert it."""
    p = Path(path)
    model, dropped = _load_model(p)
    graph = from_keras(model, name=name or p.stem)
    graph.meta["source_file"] = p.name
    if dropped:
        graph.meta["legacy_config_dropped"] = ", ".join(dropped)
    return graph
