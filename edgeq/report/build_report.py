"""The build part of report.json: board, model, size, memory plan and layers."""

from __future__ import annotations

from typing import Any

from edgeq import __version__
from edgeq.codegen.planner import MemoryPlan
from edgeq.ir.graph import Graph


def layer_rows(graph: Graph, plan: MemoryPlan) -> list[dict[str, Any]]:
    rows = []
    for node in graph.nodes:
        shapes = [graph.tensors[t].shape for t in node.inputs]
        out = graph.tensors[node.outputs[0]]
        weights = sum(graph.tensors[t].nbytes for t in node.inputs if graph.tensors[t].is_constant)
        alloc = plan.allocations.get(out.name)
        rows.append({
            "name": node.source or node.name,
            "op": node.kind,
            "macs": node.op.macs(shapes, out.shape),
            "weights_bytes": weights,
            "output_shape": list(out.shape),
            "output_bytes": out.nbytes,
            "arena_offset": alloc.offset if alloc else None,
        })
    return rows


def build_report(*, board: str, model: dict[str, str], graph: Graph, plan: MemoryPlan,
                 size: dict[str, int], quantization: dict[str, Any]) -> dict[str, Any]:
    layers = layer_rows(graph, plan)
    return {
        "edgeq_version": __version__,
        "board": board,
        "model": model,
        "size": size,
        "memory": {
            "arena_bytes": plan.arena_bytes,
            "naive_bytes": plan.naive_bytes,
            "live_at_peak": [{"tensor": a.tensor, "bytes": a.size, "offset": a.offset}
                             for a in sorted(plan.live_at_peak(), key=lambda a: a.offset)],
        },
        "quantization": quantization,
        "macs": sum(r["macs"] for r in layers),
        "layers": layers,
    }
