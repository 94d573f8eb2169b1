"""Post-training static int8 quantization of a float graph (the TFLite int8 scheme)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import numpy as np

from edgeq.interpreter import run_float
from edgeq.ir.graph import Graph
from edgeq.ir.tensor import DType, QuantParams
from edgeq.ops.base import OutputQuant
from edgeq.quant.observers import Observer, make_observer


def choose_quant_params(lo: float, hi: float) -> QuantParams:
    """Asymmetric int8 parameters for the real range [lo, hi], always holding 0 exactly.

    As TFLite's ChooseQuantizationParams; the scale is rounded to float32 as TFLite stores it.
    """
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        return QuantParams.per_tensor(1.0, -128)
    scale = float(np.float32((hi - lo) / 255.0))
    zp_from_min = -128 - lo / scale
    zp = -128 if zp_from_min < -128 else 127 if zp_from_min > 127 else math.floor(zp_from_min + 0.5)
    return QuantParams.per_tensor(scale, zp)


def calibrate(graph: Graph, batches: Iterable[np.ndarray], observer: str = "minmax",
              progress: Callable[[int], None] | None = None) -> dict[str, Observer]:
    """Run the float graph over calibration batches (graph layout), observing every activation."""
    observers: dict[str, Observer] = {t.name: make_observer(observer) for t in graph.activations()}
    for batch in batches:
        trace: dict[str, np.ndarray] = {}
        run_float(graph, [batch], trace=trace)
        trace[graph.inputs[0]] = batch
        for name, value in trace.items():
            if not np.all(np.isfinite(value)):
                raise FloatingPointError(f"tensor {name} is not finite on the calibration data")
            observers[name].update(value)
        if progress is not None:
            progress(len(batch))
    return observers


def assign_activation_params(graph: Graph, observers: dict[str, Observer]) -> None:
    for name in graph.inputs:
        graph.tensors[name].quant = choose_quant_params(*observers[name].range())
    for node in graph.nodes:
        out = graph.tensors[node.outputs[0]]
        rule = node.op.output_quant
        if rule is OutputQuant.FIXED:
            out.quant = node.op.fixed_output_quant()
        elif rule is OutputQuant.SAME_AS_INPUT:
            out.quant = copy.deepcopy(graph.tensors[node.inputs[0]].quant)
        else:
            out.quant = choose_quant_params(*observers[out.name].range())
        out.dtype = DType.INT8
    for name in graph.inputs:
        graph.tensors[name].dtype = DType.INT8


def compute_kernels(graph: Graph) -> None:
    """Each op computes its kernel constants once; unused float constants are dropped."""
    for node in graph.nodes:
        node.kernel = node.op.quantize(node, graph)
    graph.remove_unused_tensors()


def quantize_graph(graph: Graph, batches: Iterable[np.ndarray], observer: str = "minmax",
                   progress: Callable[[int], None] | None = None) -> Graph:
    """A quantized copy of a float graph; `batches` are float arrays in graph layout."""
    q = copy.deepcopy(graph)
    observers = calibrate(q, batches, observer, progress)
    assign_activation_params(q, observers)
    compute_kernels(q)
    return q
