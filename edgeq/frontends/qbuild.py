"""Building IR graphs from models that are already quantized (QDQ ONNX, PyTorch eager-mode).

Such a graph is built directly in its final int8 form: the pipeline runs no passes on it and
no calibration (see `edgeq.pipeline.is_prequantized`), so a frontend must give every
activation its stored parameters, keep int8 weights as stored and do itself what the float
passes would do (drop identities, fuse clamps, fold the NCHW flatten into dense weights).

Ops whose output parameters are fixed by the op in the IR (reshape, pooling, pad: same as the
input; softmax, logistic, tanh: fixed) get a requantizing CLAMP after them when the model
stores other output parameters, so the int8 values mean what the model says they mean.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from edgeq.errors import UnsupportedError
from edgeq.ir.graph import Graph, Node
from edgeq.ir.tensor import DType, QuantParams, Tensor
from edgeq.ops.base import Op, OutputQuant
from edgeq.ops.clamp import Clamp
from edgeq.ops.common import NO_ACTIVATION, Activation
from edgeq.passes.fold_transpose import fold_transpose_into_fully_connected

#: IR ops a standalone clamp folds into (their int8 output is clamped by `activation`).
FUSABLE = {"conv2d", "depthwise_conv2d", "fully_connected", "add", "mul", "max_pool2d", "avg_pool2d"}


def int8_params(scale: np.ndarray | float, zero_point: np.ndarray | int, unsigned: bool,
                axis: int | None = None) -> QuantParams:
    """Parameters of a uint8 or int8 tensor as int8 (uint8: the zero point moves by -128)."""
    zp = np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
    if unsigned:
        zp = zp - 128
    scale = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    return QuantParams(scale, zp, axis)


def same_params(a: QuantParams | None, b: QuantParams | None) -> bool:
    """Equal per-tensor parameters, scales compared as the float32 the models store."""
    if a is None or b is None or not a.is_per_tensor or not b.is_per_tensor:
        return False
    return a.zp == b.zp and np.float32(a.s) == np.float32(b.s)


@dataclass
class QBuilder:
    """Emits IR nodes; in quantized mode every output gets int8 parameters as it is made."""

    graph: Graph
    quantized: bool

    def shape(self, tensor: str) -> tuple[int, ...]:
        return tuple(self.graph.tensors[tensor].shape)

    def quant(self, tensor: str) -> QuantParams | None:
        return self.graph.tensors[tensor].quant

    def emit(self, op: Op, inputs: list[str], base: str, source: str) -> str:
        out_shape = op.infer_shapes([self.shape(t) for t in inputs])[0]
        name = self.graph.unique_name(base)
        tensor = self.graph.add_tensor(Tensor(name, tuple(out_shape)))
        self.graph.add_node(Node(self.graph.unique_name(f"{name}_op"), op, list(inputs), [name], source))
        if self.quantized:
            if op.output_quant is OutputQuant.SAME_AS_INPUT:
                tensor.quant = copy.deepcopy(self.quant(inputs[0]))
            elif op.output_quant is OutputQuant.FIXED:
                tensor.quant = op.fixed_output_quant()
            if tensor.quant is not None:
                tensor.dtype = DType.INT8
        return name

    def settle(self, tensor: str, q: QuantParams | None, source: str) -> str:
        """Give `tensor` the model's parameters `q`; returns the tensor that carries them.

        An op that chooses its own output parameters (observed) simply takes `q`; one whose
        parameters are fixed by the IR op gets a requantizing clamp when `q` differs.
        """
        if not self.quantized or q is None:
            return tensor
        t = self.graph.tensors[tensor]
        producer = self.graph.producer(tensor)
        fixed = producer is not None and producer.op.output_quant is not OutputQuant.OBSERVED
        if not fixed or t.quant is None:
            t.quant, t.dtype = q, DType.INT8
            return tensor
        if same_params(t.quant, q):
            return tensor
        out = self.emit(Clamp(activation=NO_ACTIVATION), [tensor], f"{tensor}_requant", source)
        self.graph.tensors[out].quant = q
        return out

    def clamp(self, x: str, act: Activation, base: str, source: str) -> str:
        """A ReLU / ReLU6 / clip: fused into the producer of `x` when that is exact, else a CLAMP.

        Fusing is exact when `x` has no parameters of its own yet (the model quantizes only
        after the activation) or when the clamp keeps `x`'s parameters.
        """
        producer = self.graph.producer(x)
        if (producer is not None and producer.kind in FUSABLE and producer.op.activation.is_none  # type: ignore[attr-defined]
                and len(self.graph.consumers(x)) == 1 and x not in self.graph.outputs):
            import dataclasses

            if not self.quantized or self.quant(x) is None:
                producer.op = dataclasses.replace(producer.op, activation=act)  # type: ignore[call-arg]
                return x
        return self.emit(Clamp(activation=act), [x], base, source)


def fuse_equal_clamps(graph: Graph) -> None:
    """Fuse a CLAMP whose output parameters equal its input's into the producer (exact)."""
    import dataclasses

    for clamp in [n for n in graph.nodes if n.kind == "clamp"]:
        act: Activation = clamp.op.activation  # type: ignore[attr-defined]
        src = clamp.inputs[0]
        producer = graph.producer(src)
        if producer is None or producer.kind not in FUSABLE or act.is_none:
            continue
        if not producer.op.activation.is_none:  # type: ignore[attr-defined]
            continue
        if len(graph.consumers(src)) != 1 or src in graph.outputs:
            continue
        if not same_params(graph.tensors[src].quant, graph.tensors[clamp.outputs[0]].quant):
            continue
        if producer.op.output_quant is not OutputQuant.OBSERVED:
            continue
        producer.op = dataclasses.replace(producer.op, activation=act)  # type: ignore[call-arg]
        producer.outputs = [clamp.outputs[0]]
        graph.nodes.remove(clamp)
    graph.remove_unused_tensors()


def fold_flatten_transposes(graph: Graph) -> None:
    """TRANSPOSE(0,3,1,2) + RESHAPE feeding only fully connected layers: permute the weight
    columns instead (int8 weights and their parameters kept), as the float pass does."""
    fold_transpose_into_fully_connected(graph)


def check_all_quantized(graph: Graph, what: str, hint: str) -> None:
    for node in graph.nodes:
        for name in node.outputs:
            if graph.tensors[name].quant is None:
                raise UnsupportedError(f"{what}: the output of {node.source or node.name} has no quantization "
                                       f"parameters (the model is only partly quantized); {hint}")
    for name in graph.inputs:
        if graph.tensors[name].quant is None:
            raise UnsupportedError(f"{what}: input {name} is not quantized; {hint}")
