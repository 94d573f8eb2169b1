"""The numpy reference interpreter: float mode and bit-exact int8 mode, with a trace.

This is the golden for everything else: the generated C, on every target, must give
exactly the bytes `run_int8` gives. Inputs are in graph layout (NHWC for images) with a
leading batch dimension; the ops are written so any batch size runs at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeq.ir.graph import Graph, Node


def _execute(graph: Graph, inputs: list[np.ndarray], step: Callable[[Node, list[np.ndarray]], np.ndarray],
             trace: dict[str, np.ndarray] | None) -> list[np.ndarray]:
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    values: dict[str, np.ndarray] = {}
    for name, x in zip(graph.inputs, inputs, strict=True):
        values[name] = x
    for t in graph.constants():
        values[t.name] = t.data  # type: ignore[assignment]
    for node in graph.nodes:
        out = step(node, [values[t] for t in node.inputs])
        values[node.outputs[0]] = out
        if trace is not None:
            trace[node.outputs[0]] = out
    return [values[t] for t in graph.outputs]


def run_float(graph: Graph, inputs: list[np.ndarray], trace: dict[str, np.ndarray] | None = None
              ) -> list[np.ndarray]:
    """Run the float reference. `trace`, if given, receives every node's output by tensor name."""
    return _execute(graph, [np.asarray(x, dtype=np.float32) for x in inputs],
                    lambda node, ins: node.op.run_float(ins), trace)


def run_int8(graph: Graph, inputs: list[np.ndarray], trace: dict[str, np.ndarray] | None = None
             ) -> list[np.ndarray]:
    """Run the bit-exact int8 reference on int8 inputs of a quantized graph."""
    for x in inputs:
        if np.asarray(x).dtype != np.int8:
            raise ValueError(f"run_int8 takes int8 inputs, got {np.asarray(x).dtype}")
    return _execute(graph, list(inputs), lambda node, ins: node.op.run_int8(ins, node.kernel), trace)
