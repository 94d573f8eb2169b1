"""A stable, human-readable text dump of a graph (used in tests and `--dump-graph`)."""

from __future__ import annotations

from dataclasses import fields

from edgeq.ir.graph import Graph
from edgeq.ir.tensor import Tensor


def _tensor(t: Tensor) -> str:
    s = f"{t.name}:{t.dtype.value}{list(t.shape)}"
    if t.quant is not None and t.quant.is_per_tensor:
        s += f"(s={t.quant.s:.6g},zp={t.quant.zp})"
    elif t.quant is not None:
        s += f"(per-channel axis={t.quant.axis})"
    return s


def dump(graph: Graph) -> str:
    lines = [f"graph {graph.name} (input layout {graph.input_layout})"]
    lines.append("  inputs: " + ", ".join(_tensor(graph.tensors[t]) for t in graph.inputs))
    for node in graph.nodes:
        attrs = ", ".join(f"{f.name}={getattr(node.op, f.name)!r}" for f in fields(node.op))
        ins = ", ".join(_tensor(graph.tensors[t]) for t in node.inputs)
        outs = ", ".join(_tensor(graph.tensors[t]) for t in node.outputs)
        lines.append(f"  {node.name} = {node.kind}({attrs})  [{ins}] -> [{outs}]")
    lines.append("  outputs: " + ", ".join(graph.outputs))
    return "\n".join(lines)
