"""TFLite frontend: a full-integer int8 .tflite flatbuffer to an already-quantized IR graph.

The flatbuffer is read with the `tflite` package (generated from TFLite's schema); no
bytes are parsed by hand. Every tensor keeps its scales, zero points and quantized
dimension as stored: the pipeline then only computes each op's kernel constants, so the
generated C does what TFLite Micro's reference kernels do with the same numbers.

The IR layouts are TFLite's: activations NHWC, conv weights OHWI, depthwise weights
[1, kh, kw, C*M], fully connected weights [out, in], int32 bias. A QUANTIZE from a float
model input and a DEQUANTIZE to a float model output are stripped: the graph's input and
output are then the int8 tensors, whose parameters quantize and dequantize user floats.

Operators map by builtin code. Coverage (operators, types, shapes) is checked for the
whole model before anything is built, so a bad model gives one error naming the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType, QuantParams, Tensor
from edgeq.ir.verify import verify
from edgeq.ops import (
    NO_ACTIVATION,
    RELU,
    RELU6,
    Activation,
    Add,
    AvgPool2D,
    Clamp,
    ClampInput,
    Concat,
    Conv2D,
    DepthwiseConv2D,
    FullyConnected,
    Logistic,
    MaxPool2D,
    Mean,
    Mul,
    Op,
    Pad,
    Reshape,
    Softmax,
    Tanh,
)
from edgeq.ops.common import same_padding

HINT = "run 'edgeq ops' to see what is"
FLOAT_MODEL = ("is a float or hybrid model; edgeq imports full-integer int8 .tflite files: quantize it with "
               "the TFLite converter's full-integer quantization first (representative dataset, "
               "TFLITE_BUILTINS_INT8), or build the float Keras/PyTorch model with edgeq and calibration data")

#: (TFLite builtin operator, IR op(s) it becomes), for `edgeq ops`.
SUPPORTED: list[tuple[str, str]] = [
    ("QUANTIZE (float model input) / DEQUANTIZE (float model output)", "stripped: int8 graph input/output"),
    ("CONV_2D", "conv2d (per-channel int8 weights, fused NONE/RELU/RELU6/RELU_N1_TO_1)"),
    ("DEPTHWISE_CONV_2D", "depthwise_conv2d"),
    ("FULLY_CONNECTED (keep_num_dims either way)", "fully_connected (per-tensor or per-channel), reshape"),
    ("ADD, MUL (same shapes)", "add, mul"),
    ("AVERAGE_POOL_2D, MAX_POOL_2D", "avg_pool2d, max_pool2d"),
    ("MEAN (over H and W of NHWC)", "mean"),
    ("PAD, PADV2 (H and W, with the zero point)", "pad"),
    ("RESHAPE, SQUEEZE", "reshape"),
    ("CONCATENATION", "concat"),
    ("SOFTMAX (beta), LOGISTIC, TANH", "softmax, logistic, tanh"),
    ("RELU", "clamp (requantizes, as TFLite Micro)"),
    ("RELU6, RELU_N1_TO_1", "clamp_input (clamps in the input's parameters, as TFLite Micro)"),
    ("QUANTIZE (int8 to int8, inside the model)", "clamp (requantize, no bounds)"),
]

_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
               9: "int8", 10: "float64", 17: "int4"}
_FLOAT_TYPES = {0, 1, 10, 16}  # float32, float16, float64, bfloat16
INT8, INT32 = 9, 2


# -- the flatbuffer as plain Python values ---------------------------------------------------------


@dataclass
class _TfTensor:
    index: int
    name: str
    shape: tuple[int, ...]
    signature: tuple[int, ...] | None
    type: int
    data: np.ndarray | None  # raw bytes of a constant
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, f"type {self.type}")

    def array(self) -> np.ndarray:
        assert self.data is not None
        dtype = {INT8: np.int8, INT32: np.int32}[self.type]
        arr = self.data.view(dtype)
        if arr.size != int(np.prod(self.shape, dtype=np.int64)):
            raise ValueError(f"tensor {self.name!r} holds {arr.size} values for shape {list(self.shape)}")
        return arr.reshape(self.shape)


@dataclass
class _TfOp:
    index: int
    name: str  # builtin operator name, e.g. CONV_2D
    inputs: list[int]  # -1: optional input left out
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _TfModel:
    tensors: list[_TfTensor]
    ops: list[_TfOp]
    inputs: list[int]
    outputs: list[int]


def _tflite() -> Any:
    try:
        import tflite
    except ImportError:
        raise EdgeqError("the 'tflite' package is not installed; "
                         "install it with: pip install 'edgeq[tflite]'") from None
    return tflite


def _enum_names(enum_class: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def _options(tfl: Any, op: Any, cls_name: str) -> Any:
    table = op.BuiltinOptions()
    opts = getattr(tfl, cls_name)()
    if table is None:  # all defaults
        return None
    opts.Init(table.Bytes, table.Pos)
    return opts


_PADDING = {0: "SAME", 1: "VALID"}
_FUSED = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def _read_options(tfl: Any, name: str, op: Any) -> dict[str, Any]:
    """The builtin options edgeq uses, by operator."""
    if name == "CONV_2D":
        o = _options(tfl, op, "Conv2DOptions")
        return dict(padding=_PADDING.get(o.Padding()), stride=(o.StrideH(), o.StrideW()),
                    dilation=(o.DilationHFactor(), o.DilationWFactor()),
                    activation=_FUSED.get(o.FusedActivationFunction()))
    if name == "DEPTHWISE_CONV_2D":
        o = _options(tfl, op, "DepthwiseConv2DOptions")
        return dict(padding=_PADDING.get(o.Padding()), stride=(o.StrideH(), o.StrideW()),
                    dilation=(o.DilationHFactor(), o.DilationWFactor()),
                    activation=_FUSED.get(o.FusedActivationFunction()))
    if name == "FULLY_CONNECTED":
        o = _options(tfl, op, "FullyConnectedOptions")
        if o is None:
            return dict(activation="NONE", keep_num_dims=False, weights_format=0)
        return dict(activation=_FUSED.get(o.FusedActivationFunction()), keep_num_dims=bool(o.KeepNumDims()),
                    weights_format=o.WeightsFormat())
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = _options(tfl, op, "Pool2DOptions")
        return dict(padding=_PADDING.get(o.Padding()), stride=(o.StrideH(), o.StrideW()),
                    kernel=(o.FilterHeight(), o.FilterWidth()), activation=_FUSED.get(o.FusedActivationFunction()))
    if name in ("ADD", "MUL", "CONCATENATION"):
        cls = {"ADD": "AddOptions", "MUL": "MulOptions", "CONCATENATION": "ConcatenationOptions"}[name]
        o = _options(tfl, op, cls)
        opts = dict(activation=_FUSED.get(o.FusedActivationFunction()) if o is not None else "NONE")
        if name == "CONCATENATION":
            opts["axis"] = o.Axis() if o is not None else 0
        return opts
    if name == "MEAN":
        o = _options(tfl, op, "ReducerOptions")
        return dict(keep_dims=bool(o.KeepDims()) if o is not None else False)
    if name == "SOFTMAX":
        o = _options(tfl, op, "SoftmaxOptions")
        return dict(beta=float(o.Beta()) if o is not None else 1.0)
    return {}


def _read_model(path: Path) -> _TfModel:
    """The flatbuffer's one subgraph as plain values; any structural problem is an EdgeqError."""
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise EdgeqError(f"model file {path} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    tfl = _tflite()
    op_names = _enum_names(tfl.BuiltinOperator)
    try:
        model = tfl.Model.GetRootAsModel(buf, 0)
        n_subgraphs = model.SubgraphsLength()
        if n_subgraphs != 1:
            raise EdgeqError(f"model file {path} has {n_subgraphs} subgraphs; edgeq imports models with exactly "
                             "one subgraph (no control flow or multiple signatures)")
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            name = op_names.get(code, f"builtin {code}")
            if name == "CUSTOM":
                name = f"CUSTOM ({(oc.CustomCode() or b'').decode(errors='replace')})"
            codes.append(name)
        buffers = []
        for i in range(model.BuffersLength()):
            b = model.Buffers(i)
            if b.Offset() > 1:  # large models keep data after the flatbuffer
                start, size = b.Offset(), b.Size()
                if start + size > len(buf):
                    raise ValueError("buffer past the end of the file")
                buffers.append(np.frombuffer(buf, np.uint8, size, start))
            else:
                buffers.append(b.DataAsNumpy() if b.DataLength() else None)
        sg = model.Subgraphs(0)
        tensors = []
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            q = t.Quantization()
            scale = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else np.zeros(0)
            zp = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else np.zeros(0, np.int64)
            data = buffers[t.Buffer()] if t.Buffer() < len(buffers) else None
            tensors.append(_TfTensor(
                i, (t.Name() or b"").decode(errors="replace"), tuple(int(d) for d in t.ShapeAsNumpy())
                if t.ShapeLength() else (), tuple(int(d) for d in t.ShapeSignatureAsNumpy())
                if t.ShapeSignatureLength() else None, t.Type(), data,
                np.asarray(scale, np.float32).astype(np.float64), np.asarray(zp, np.int64),
                q.QuantizedDimension() if q is not None else 0))
        ops = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name = codes[op.OpcodeIndex()]
            ops.append(_TfOp(i, name, [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
                             [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                             _read_options(tfl, name, op)))
        inputs = [int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else []
        outputs = [int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
        for op in ops:
            for t in op.inputs + op.outputs:
                if t >= len(tensors) or t < -1:
                    raise ValueError(f"operator {op.index} refers to tensor {t}")
    except EdgeqError:
        raise
    except Exception as e:  # a truncated or corrupt flatbuffer fails anywhere in the accessors
        raise EdgeqError(f"model file {path} is truncated or corrupt: its flatbuffer cannot be read "
                         f"({type(e).__name__})") from None
    return _TfModel(tensors, ops, inputs, outputs)


# -- coverage -----------------------------------------------------------------------------------

_MAPPED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
           "PAD", "PADV2", "RESHAPE", "SQUEEZE", "CONCATENATION", "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6",
           "RELU_N1_TO_1", "QUANTIZE"}
_ACTIVATIONS = {"NONE": NO_ACTIVATION, "RELU": RELU, "RELU6": RELU6, "RELU_N1_TO_1": Activation(-1.0, 1.0)}
#: Inputs of each operator that are constants read at import (weights, bias, axes, paddings, shapes).
_CONST_INPUTS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "MEAN": (1,),
                 "PAD": (1,), "PADV2": (1, 2), "RESHAPE": (1,)}


@dataclass
class _Plan:
    """What the coverage check decided: ops to translate and the int8 graph inputs/outputs."""

    ops: list[_TfOp]
    inputs: list[int]
    outputs: list[int]


def _describe(op: _TfOp, model: _TfModel) -> str:
    out = model.tensors[op.outputs[0]].name if op.outputs else ""
    return f"op {op.index} {op.name} (output {_printable(out)!r})"


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def _check(model: _TfModel, path: Path) -> _Plan:
    tensors = model.tensors
    # QUANTIZE from a float model input and DEQUANTIZE to a float model output are stripped.
    inputs, outputs = list(model.inputs), list(model.outputs)
    edge: set[int] = set()
    for op in model.ops:
        if (op.name == "QUANTIZE" and len(op.inputs) == 1 and op.inputs[0] in model.inputs
                and tensors[op.inputs[0]].type in _FLOAT_TYPES and tensors[op.outputs[0]].type == INT8):
            inputs[inputs.index(op.inputs[0])] = op.outputs[0]
            edge.add(op.index)
        elif (op.name == "DEQUANTIZE" and len(op.outputs) == 1 and op.outputs[0] in model.outputs
              and tensors[op.inputs[0]].type == INT8):
            outputs[outputs.index(op.outputs[0])] = op.inputs[0]
            edge.add(op.index)
    ops = [op for op in model.ops if op.index not in edge]
    # Float or hybrid models: float tensors inside the model, or float constants.
    for op in ops:
        for t in op.inputs + op.outputs:
            if t >= 0 and tensors[t].type in _FLOAT_TYPES:
                raise EdgeqError(f"model file {path} {FLOAT_MODEL}")
    for t in inputs + outputs:
        if tensors[t].type in _FLOAT_TYPES:
            raise EdgeqError(f"model file {path} {FLOAT_MODEL}")
    for op in ops:
        if op.name not in _MAPPED:
            raise UnsupportedError(f"model file {path}: operator {op.index} ({op.name}) is not supported by the "
                                   f"TFLite frontend; {HINT}")
    # Types, shapes and quantization parameters of every activation.
    const_inputs = {(op.index, t) for op in ops for i, t in enumerate(op.inputs) if i in _CONST_INPUTS.get(op.name, ())}
    for op in ops:
        for i, t in enumerate(op.inputs + op.outputs):
            if t < 0:
                continue
            tt = tensors[t]
            if (op.index, t) in const_inputs and i < len(op.inputs):
                continue
            if tt.data is not None:
                raise UnsupportedError(f"model file {path}: {_describe(op, model)} has a constant operand "
                                       f"{_printable(tt.name)!r}; edgeq needs activations there")
            if tt.type != INT8:
                raise UnsupportedError(f"model file {path}: {_describe(op, model)} has a {tt.type_name} tensor "
                                       f"{_printable(tt.name)!r}; edgeq imports int8 activations only")
            if tt.signature is not None and any(d < 0 for d in tt.signature[1:]):
                raise EdgeqError(f"model file {path}: tensor {_printable(tt.name)!r} has a dynamic shape "
                                 f"{list(tt.signature)}; edgeq needs static shapes (export with a fixed input size)")
            if any(d <= 0 for d in tt.shape):
                raise EdgeqError(f"model file {path}: tensor {_printable(tt.name)!r} has shape {list(tt.shape)}; "
                                 "edgeq needs static shapes")
            if tt.scale.size != 1 or tt.zero_point.size != 1:
                raise EdgeqError(f"model file {path}: activation {_printable(tt.name)!r} has no per-tensor "
                                 "quantization parameters")
    for t in inputs + outputs:
        if tensors[t].type != INT8:
            raise UnsupportedError(f"model file {path}: model input/output {_printable(tensors[t].name)!r} is "
                                   f"{tensors[t].type_name}; edgeq imports int8 models")
    return _Plan(ops, inputs, outputs)


# -- building the graph -------------------------------------------------------------------------


class _Builder:
    def __init__(self, model: _TfModel, path: Path, name: str) -> None:
        self.model = model
        self.path = path
        self.graph = Graph(name)
        self.names: dict[int, str] = {}

    def fail(self, op: _TfOp, what: str) -> UnsupportedError:
        return UnsupportedError(f"model file {self.path}: {_describe(op, self.model)}: {what}; {HINT}")

    def _base(self, t: _TfTensor) -> str:
        first = t.name.split(";")[0]
        return re.sub(r"[^\w./:-]+", "_", first, flags=re.ASCII).strip("_") or f"t{t.index}"

    def _quant(self, t: _TfTensor, rank: int) -> QuantParams:
        if t.scale.size > 1:
            axis = t.quantized_dimension
            if not 0 <= axis < rank or t.scale.size != t.shape[axis]:
                raise ValueError(f"tensor {t.name!r}: {t.scale.size} scales along dimension {axis}")
            zp = t.zero_point if t.zero_point.size == t.scale.size else np.zeros(t.scale.size, np.int64)
            return QuantParams(t.scale, zp, axis)
        zp = int(t.zero_point[0]) if t.zero_point.size else 0
        return QuantParams.per_tensor(float(t.scale[0]), zp)

    @staticmethod
    def ir_shape(t: _TfTensor) -> tuple[int, ...]:
        """IR activations lead with a batch of 1; a TFLite tensor that does not (rows of a
        flattened FULLY_CONNECTED, say [4, 8]) gets one in front: [1, 4, 8]."""
        return t.shape if t.shape and t.shape[0] == 1 else (1, *t.shape)

    def activation(self, index: int) -> str:
        if index not in self.names:
            t = self.model.tensors[index]
            name = self.graph.unique_name(self._base(t))
            self.graph.add_tensor(Tensor(name, self.ir_shape(t), DType.INT8, quant=self._quant(t, len(t.shape))))
            self.names[index] = name
        return self.names[index]

    def constant(self, op: _TfOp, index: int, kind: str) -> str:
        t = self.model.tensors[index]
        if t.data is None:
            raise self.fail(op, f"its {kind} {t.name!r} is not a constant")
        want = INT32 if kind == "bias" else INT8
        if t.type != want:
            raise UnsupportedError(f"model file {self.path}: {_describe(op, self.model)}: {kind} is {t.type_name}, "
                                   f"edgeq imports {_TYPE_NAMES[want]} {kind}")
        if t.scale.size == 0:
            raise EdgeqError(f"model file {self.path}: {_describe(op, self.model)}: {kind} has no quantization")
        if kind == "weights" and np.any(t.zero_point != 0):
            raise UnsupportedError(f"model file {self.path}: {_describe(op, self.model)}: weights with a non-zero "
                                   "zero point (edgeq's int8 scheme has symmetric weights)")
        if index not in self.names:
            data = t.array()
            name = self.graph.unique_name(self._base(t))
            self.graph.add_tensor(Tensor(name, t.shape, DType.INT8 if want == INT8 else DType.INT32,
                                         data=np.ascontiguousarray(data), quant=self._quant(t, len(t.shape))))
            self.names[index] = name
        return self.names[index]

    def bias(self, op: _TfOp, x: str, w: str, channels: int) -> str:
        """The op's bias input, or zeros with scale input_scale * weight_scale when it has none."""
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = self.constant(op, op.inputs[2], "bias")
            if self.graph.tensors[b].shape != (channels,):
                raise self.fail(op, f"bias shape {self.graph.tensors[b].shape} does not fit {channels} channels")
            return b
        qx, qw = self.graph.tensors[x].quant, self.graph.tensors[w].quant
        assert qx is not None and qw is not None
        scale = np.broadcast_to(qx.s * qw.scale, (channels,)).copy()
        name = self.graph.unique_name(f"{w}_zero_bias")
        quant = QuantParams(scale, np.zeros(channels, np.int64), 0 if channels > 1 else None)
        self.graph.add_tensor(Tensor(name, (channels,), DType.INT32, data=np.zeros(channels, np.int32), quant=quant))
        return name

    def emit(self, op: _TfOp, ir_op: Op, inputs: list[str], output: int | None = None, shape: tuple | None = None,
             like: str | None = None) -> str:
        """Add a node; its output is the TFLite tensor `output` or a new tensor of `shape` quantized like `like`."""
        if output is not None:
            out = self.activation(output)
        else:
            assert shape is not None and like is not None
            out = self.graph.unique_name(f"{inputs[0]}_reshaped")
            self.graph.add_tensor(Tensor(out, tuple(shape), DType.INT8, quant=self.graph.tensors[like].quant))
        want = tuple(self.graph.tensors[out].shape)
        try:
            got = tuple(ir_op.infer_shapes([self.graph.tensors[t].shape for t in inputs])[0])
        except ValueError as e:
            raise self.fail(op, str(e)) from None
        if got != want:
            raise self.fail(op, f"output shape {list(want)} differs from what edgeq computes ({list(got)})")
        suffix = "" if output is not None else " reshape"
        self.graph.add_node(Node(self.graph.unique_name(f"op{op.index}_{op.name.lower()}{suffix.strip()}"), ir_op,
                                 inputs, [out], source=_describe(op, self.model) + suffix))
        return out

    # -- one method per operator ------------------------------------------------------------

    def act(self, op: _TfOp) -> Activation:
        name = op.options.get("activation", "NONE")
        if name not in _ACTIVATIONS:
            raise self.fail(op, f"fused activation {name} is not supported")
        return _ACTIVATIONS[name]

    def padding(self, op: _TfOp, in_shape: tuple, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:
        if op.options["padding"] == "VALID":
            return (0, 0, 0, 0)
        if op.options["padding"] != "SAME":
            raise self.fail(op, f"padding {op.options['padding']} is not supported")
        t, b = same_padding(in_shape[1], kernel[0], stride[0], dilation[0])
        left, r = same_padding(in_shape[2], kernel[1], stride[1], dilation[1])
        return (t, b, left, r)

    def conv(self, op: _TfOp, depthwise: bool) -> None:
        x = self.activation(op.inputs[0])
        w = self.constant(op, op.inputs[1], "weights")
        ws = self.graph.tensors[w].shape
        xs = self.graph.tensors[x].shape
        if len(ws) != 4 or len(xs) != 4:
            raise self.fail(op, f"input {list(xs)} / weights {list(ws)} are not 4-D")
        wq = self.graph.tensors[w].quant
        assert wq is not None
        want_axis = 3 if depthwise else 0
        if wq.axis is not None and wq.axis != want_axis:
            raise self.fail(op, f"weights quantized along dimension {wq.axis}")
        stride, dilation = tuple(op.options["stride"]), tuple(op.options["dilation"])
        pad = self.padding(op, xs, (ws[1], ws[2]), stride, dilation)
        channels = ws[3] if depthwise else ws[0]
        b = self.bias(op, x, w, channels)
        if depthwise:
            if ws[3] % xs[3]:
                raise self.fail(op, f"{ws[3]} output channels are not a multiple of {xs[3]} input channels")
            ir: Op = DepthwiseConv2D(stride=stride, dilation=dilation, padding=pad, depth_multiplier=ws[3] // xs[3],
                                     activation=self.act(op))
        else:
            if ws[3] != xs[3]:
                raise self.fail(op, f"grouped convolution ({xs[3]} input channels, weights {list(ws)})")
            ir = Conv2D(stride=stride, dilation=dilation, padding=pad, activation=self.act(op))
        self.emit(op, ir, [x, w, b], op.outputs[0])

    def fully_connected(self, op: _TfOp) -> None:
        if op.options.get("weights_format", 0) != 0:
            raise self.fail(op, "shuffled weights format")
        x = self.activation(op.inputs[0])
        w = self.constant(op, op.inputs[1], "weights")
        ws = self.graph.tensors[w].shape
        xs = self.graph.tensors[x].shape
        if len(ws) != 2:
            raise self.fail(op, f"weights of shape {list(ws)}")
        wq = self.graph.tensors[w].quant
        assert wq is not None
        if wq.axis not in (None, 0):
            raise self.fail(op, f"weights quantized along dimension {wq.axis}")
        in_features = ws[1]
        if int(np.prod(xs)) % in_features:
            raise self.fail(op, f"input {list(xs)} does not split into rows of {in_features}")
        # TFLite flattens the input to rows of in_features unless keep_num_dims; the IR op keeps
        # the leading dimensions, so the input is reshaped to the output's leading dimensions.
        rows_shape = (*self.ir_shape(self.model.tensors[op.outputs[0]])[:-1], in_features)
        if tuple(xs) != rows_shape:
            x = self.emit(op, Reshape(shape=rows_shape), [x], shape=rows_shape, like=x)
        b = self.bias(op, x, w, ws[0])
        self.emit(op, FullyConnected(activation=self.act(op), per_channel=wq.axis is not None), [x, w, b],
                  op.outputs[0])

    def binary(self, op: _TfOp, cls: type[Op]) -> None:
        a, b = (self.activation(t) for t in op.inputs[:2])
        sa, sb = self.graph.tensors[a].shape, self.graph.tensors[b].shape
        if sa != sb:
            raise self.fail(op, f"broadcasting {list(sa)} with {list(sb)} is not supported")
        self.emit(op, cls(activation=self.act(op)), [a, b], op.outputs[0])

    def pool(self, op: _TfOp, cls: type[Op]) -> None:
        x = self.activation(op.inputs[0])
        xs = self.graph.tensors[x].shape
        if len(xs) != 4:
            raise self.fail(op, f"input {list(xs)} is not NHWC")
        kernel, stride = tuple(op.options["kernel"]), tuple(op.options["stride"])
        self.emit(op, cls(kernel_size=kernel, stride=stride, padding=self.padding(op, xs, kernel, stride),
                          activation=self.act(op)), [x], op.outputs[0])

    def int_constant(self, op: _TfOp, position: int) -> np.ndarray:
        t = self.model.tensors[op.inputs[position]]
        if t.data is None or t.type != INT32:
            raise self.fail(op, f"input {position} must be a constant int32 tensor")
        return t.array()

    def mean(self, op: _TfOp) -> None:
        x = self.activation(op.inputs[0])
        xs = self.graph.tensors[x].shape
        axes = {int(a) % len(xs) for a in self.int_constant(op, 1).ravel()} if xs else set()
        if len(xs) != 4 or axes != {1, 2}:
            raise self.fail(op, f"mean over axes {sorted(axes)} of {list(xs)} (edgeq averages H and W of NHWC)")
        self.emit(op, Mean(keep_dims=bool(op.options["keep_dims"])), [x], op.outputs[0])

    def pad(self, op: _TfOp) -> None:
        x = self.activation(op.inputs[0])
        xs = self.graph.tensors[x].shape
        pads = self.int_constant(op, 1)
        if len(xs) != 4 or pads.shape != (4, 2) or np.any(pads[[0, 3]] != 0) or np.any(pads < 0):
            raise self.fail(op, f"paddings {pads.tolist()} (edgeq pads H and W of NHWC)")
        qx = self.graph.tensors[x].quant
        qy = self.activation(op.outputs[0])
        qo = self.graph.tensors[qy].quant
        assert qx is not None and qo is not None
        if not qx.same_as(qo):
            raise self.fail(op, "input and output quantization differ")
        if op.name == "PADV2" and len(op.inputs) > 2:
            v = self.model.tensors[op.inputs[2]]
            if v.data is None or v.type != INT8 or int(v.array().ravel()[0]) != qx.zp:
                raise self.fail(op, "a pad value other than the zero point")
        self.emit(op, Pad(padding=(int(pads[1, 0]), int(pads[1, 1]), int(pads[2, 0]), int(pads[2, 1]))), [x],
                  op.outputs[0])

    def reshape(self, op: _TfOp) -> None:
        x = self.activation(op.inputs[0])
        shape = self.ir_shape(self.model.tensors[op.outputs[0]])
        self.emit(op, Reshape(shape=shape), [x], op.outputs[0])

    def concat(self, op: _TfOp) -> None:
        if self.act(op) != NO_ACTIVATION:
            raise self.fail(op, "a fused activation on a concatenation")
        xs = [self.activation(t) for t in op.inputs]
        axis = int(op.options["axis"])
        if axis >= 0 and len(self.graph.tensors[xs[0]].shape) > len(self.model.tensors[op.inputs[0]].shape):
            axis += 1  # the IR tensor has a batch of 1 in front
        self.emit(op, Concat(axis=axis), xs, op.outputs[0])

    def unary(self, op: _TfOp, ir: Op) -> None:
        self.emit(op, ir, [self.activation(op.inputs[0])], op.outputs[0])

    def translate(self, op: _TfOp) -> None:
        handlers: dict[str, Callable[[_TfOp], None]] = {
            "CONV_2D": lambda o: self.conv(o, depthwise=False),
            "DEPTHWISE_CONV_2D": lambda o: self.conv(o, depthwise=True),
            "FULLY_CONNECTED": self.fully_connected,
            "ADD": lambda o: self.binary(o, Add),
            "MUL": lambda o: self.binary(o, Mul),
            "AVERAGE_POOL_2D": lambda o: self.pool(o, AvgPool2D),
            "MAX_POOL_2D": lambda o: self.pool(o, MaxPool2D),
            "MEAN": self.mean,
            "PAD": self.pad,
            "PADV2": self.pad,
            "RESHAPE": self.reshape,
            "SQUEEZE": self.reshape,
            "CONCATENATION": self.concat,
            "SOFTMAX": lambda o: self.unary(o, Softmax(beta=float(o.options["beta"]))),
            "LOGISTIC": lambda o: self.unary(o, Logistic()),
            "TANH": lambda o: self.unary(o, Tanh()),
            "RELU": lambda o: self.unary(o, Clamp(activation=RELU)),
            # TFLite Micro's RELU requantizes; its RELU6 and RELU_N1_TO_1 clamp in the input's units.
            "RELU6": lambda o: self.unary(o, ClampInput(activation=RELU6)),
            "RELU_N1_TO_1": lambda o: self.unary(o, ClampInput(activation=_ACTIVATIONS["RELU_N1_TO_1"])),
            # Inside the model QUANTIZE requantizes int8 to int8 (TFLite Micro's Requantize).
            "QUANTIZE": lambda o: self.unary(o, Clamp(activation=NO_ACTIVATION)),
        }
        if len(op.outputs) != 1:
            raise self.fail(op, f"{len(op.outputs)} outputs")
        handlers[op.name](op)


def load_tflite(path: str | Path, name: str | None = None) -> Graph:
    """An int8 .tflite file as an IR graph whose tensors carry the file's quantization parameters."""
    p = Path(path)
    model = _read_model(p)
    plan = _check(model, p)
    builder = _Builder(model, p, name or p.stem)
    g = builder.graph
    g.inputs = [builder.activation(t) for t in plan.inputs]
    try:
        for op in plan.ops:
            builder.translate(op)
    except (ValueError, IndexError, KeyError) as e:
        raise EdgeqError(f"model file {p} is inconsistent: {e}") from None
    produced = {n.outputs[0] for n in g.nodes}
    for t in plan.outputs:
        if t not in builder.names or (builder.names[t] not in produced and builder.names[t] not in g.inputs):
            raise EdgeqError(f"model file {p}: output {model.tensors[t].name!r} is not computed by the model")
    g.outputs = [builder.names[t] for t in plan.outputs]
    g.input_layout = g.output_layout = "NHWC"
    g.meta["source_format"] = "tflite"
    g.remove_unused_tensors()
    try:
        verify(g)
    except AssertionError as e:
        raise EdgeqError(f"model file {p}: cannot import the graph ({e})") from None
    return g


__all__ = ["SUPPORTED", "load_tflite"]
