"""The build part of report.json: board, model, size (read from the built binary), memory
plan and layers."""

from __future__ import annotations

from typing import Any

from edgeq import __version__
from edgeq.codegen.planner import MemoryPlan
from edgeq.ir.graph import Graph

# Sections holding executable code (the vector table and unwind tables included).
CODE_SECTIONS = (".boot2", ".isr_vector", ".text", ".init", ".fini", ".ARM.extab", ".ARM.exidx")


def _float_weights(float_graph: Graph | None) -> dict[str, int] | None:
    """Node name -> bytes of its float constant inputs (weights, bias), as the float model holds them."""
    if float_graph is None:
        return None
    return {node.name: sum(float_graph.tensors[t].nbytes for t in node.inputs if float_graph.tensors[t].is_constant)
            for node in float_graph.nodes}


def layer_rows(graph: Graph, plan: MemoryPlan, firmware: Any = None,
               float_graph: Graph | None = None) -> list[dict[str, Any]]:
    """One row per layer. `weights_bytes` comes from the binary's symbols when it has them
    (`edgeq_<model>_l<i>_weights/bias/const*`), else from the graph; `arena_peak_bytes` is what
    the layer's output holds in the arena at the step where the arena is fullest."""
    elf_layers: dict[int, dict[str, int]] = dict(getattr(firmware, "layers", None) or {})
    peak = {a.tensor: a.size for a in plan.live_at_peak()}
    float_weights = _float_weights(float_graph)
    rows = []
    for i, node in enumerate(graph.nodes):
        shapes = [graph.tensors[t].shape for t in node.inputs]
        out = graph.tensors[node.outputs[0]]
        graph_weights = sum(graph.tensors[t].nbytes for t in node.inputs if graph.tensors[t].is_constant)
        elf = elf_layers.get(i)
        alloc = plan.allocations.get(out.name)
        rows.append({
            "name": node.source or node.name,
            "op": node.kind,
            "macs": node.op.macs(shapes, out.shape),
            "weights_bytes": elf["weights"] if elf and elf.get("weights") else graph_weights,
            "float_weights_bytes": None if float_weights is None else float_weights.get(node.name),
            "code_bytes": elf.get("code", 0) if elf else None,
            "output_shape": list(out.shape),
            "output_bytes": out.nbytes,
            "arena_offset": alloc.offset if alloc else None,
            "arena_peak_bytes": peak.get(out.name, 0),
        })
    return rows


def size_breakdown(size: dict[str, int], firmware: Any = None) -> dict[str, Any]:
    """Flash = weights + kernel code + runtime and startup + rest; RAM = arena + stack + rest.

    From the binary's sections and symbols: weights are the layers' constant arrays, kernel
    code the model's functions (`edgeq_<model>_*`), runtime and startup every other byte of
    code sections (main loop, protocol, HAL, vector table, C library), and the rest what is
    left of flash (requantization tables, strings, the initialised-data image)."""
    sections: dict[str, int] = dict(getattr(firmware, "sections", None) or {})
    flash = int(size.get("flash_bytes", 0))
    ram = int(size.get("ram_bytes", 0))
    weights = int(size.get("weights_bytes", 0))
    kernel = int(size.get("code_bytes", 0))
    code_total = sum(v for k, v in sections.items() if k in CODE_SECTIONS)
    runtime = max(code_total - kernel, 0)
    arena = int(size.get("arena_bytes", 0))
    stack = int(size.get("stack_bytes", 0))
    return {
        "flash": {"weights": weights, "kernel_code": kernel, "runtime_startup": runtime,
                  "rest": max(flash - weights - kernel - runtime, 0)},
        "ram": {"arena": arena, "stack": stack, "rest": max(ram - arena - stack, 0)},
        "sections": sections,
    }


def build_report(*, board: str, model: dict[str, str], graph: Graph, plan: MemoryPlan,
                 size: dict[str, int], quantization: dict[str, Any], firmware: Any = None,
                 float_graph: Graph | None = None) -> dict[str, Any]:
    """`firmware` is the build's FirmwareSize (sections and per-layer symbol sizes from the
    binary); `float_graph` the float model (None for imported int8 models)."""
    layers = layer_rows(graph, plan, firmware, float_graph)
    size = dict(size)
    floats = [r["float_weights_bytes"] for r in layers]
    size["float_weights_bytes"] = None if float_graph is None else sum(f or 0 for f in floats)
    size["breakdown"] = size_breakdown(size, firmware)
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
