"""Render a quantized graph into C sources with the Jinja templates.

Output files (in the given directory): model.h, model.c, model_weights.h, model_weights.c,
edgeq_target.h (generic names for the firmware), and the runtime headers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import __version__
from edgeq.codegen.env import RUNTIME_DIR, environment
from edgeq.codegen.naming import c_comment, c_identifier, c_string
from edgeq.codegen.planner import IDLE, MemoryPlan, plan_memory, scratch_name
from edgeq.errors import UnsupportedError
from edgeq.ir.graph import Graph
from edgeq.ir.tensor import Tensor

# The stack the firmware needs with the kernels' scratch in the arena: main loop, protocol
# (ASCII db/infer and the binary INFER_LAYERS hook sending frames), the kernels' frames and
# saved registers. Measured with `stack%` (a painted stack) after infer, infer_layers and an
# ASCII db load + infer 1 0 of the MLPerf Tiny IC, VWW and AD models on the emulated
# Cortex-M3/M4/M7/M33/M55: at most 492 bytes (IC on the M4 and the M33: the dsp conv's channel
# routine keeps a 40-byte frame and nine saved registers), rounded up to 496.
FIRMWARE_STACK_BYTES = 496
# Margin for what the emulated runs may not reach: an exception frame at the deepest point (up
# to 104 bytes with a lazily stacked FPU context), other boards' HALs, other models' kernels.
STACK_MARGIN_BYTES = 128
# The firmware's command line buffer (firmware/main.c: EDGEQ_CMD_MAX + 1): planned as the arena's
# idle region, which it uses between inferences when the model offers one at least this large.
FIRMWARE_IDLE_BYTES = 129


def stack_reserve(kernel_stack: int = 0) -> int:
    """Stack reserve for a model whose kernels keep `kernel_stack` bytes on the stack beyond
    the measured firmware (0 for edgeq's kernels: their scratch is in the arena)."""
    return (FIRMWARE_STACK_BYTES + STACK_MARGIN_BYTES + kernel_stack + 31) // 32 * 32


@dataclass(frozen=True)
class GeneratedSources:
    directory: Path
    files: list[Path]
    c_name: str
    plan: MemoryPlan
    symbols: dict[str, str]  # constant tensor -> C symbol
    stack_bytes: int = 0  # the stack reserve the firmware needs for this model


def graph_sha256(graph: Graph) -> str:
    """A content hash of the quantized graph (structure, parameters and constants)."""
    from edgeq.ir.dump import dump

    h = hashlib.sha256(dump(graph).encode())
    for t in sorted(graph.constants(), key=lambda t: t.name):
        assert t.data is not None
        h.update(np.ascontiguousarray(t.data).tobytes())
    return h.hexdigest()


def _rows(values: np.ndarray, per_row: int = 16) -> list[str]:
    flat = [str(int(v)) for v in values.reshape(-1)]
    return [", ".join(flat[i : i + per_row]) for i in range(0, len(flat), per_row)]


def _c_type(data: np.ndarray) -> str:
    return {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "uint8": "uint8_t"}[str(data.dtype)]


def _constant_symbols(graph: Graph, name: str) -> dict[str, str]:
    symbols: dict[str, str] = {}
    for i, node in enumerate(graph.nodes):
        consts = [t for t in node.inputs if graph.tensors[t].is_constant]
        for j, t in enumerate(consts):
            role = ("weights", "bias")[j] if j < 2 else f"const{j}"
            symbols.setdefault(t, f"edgeq_{name}_l{i}_{role}")
    return symbols


def _take_scratch_options(graph: Graph, scratch: dict[int, int], options: dict[int, list[dict[str, Any]]],
                          kernel_contexts: dict[int, dict[str, Any]], plan: MemoryPlan,
                          idle_bytes: int) -> MemoryPlan:
    """Faster forms of kernels that need more scratch (a kernel context's `scratch_options`, best
    first: `extra_bytes` after its scratch, `ctx` for its template), taken layer by layer where
    the arena has room for them: the first option whose plan is no larger than the plan without
    it. The option's region starts at `extra_offset` in the layer's scratch; `rereads_input`: the
    kernel reads its input again after writing outputs, so its output is planned apart from it
    (`plan_memory(separate=...)`: live at the same step, the two never share bytes).
    `scratch` and the contexts are updated; returns the plan."""
    separate: frozenset[str] = frozenset()
    for i, choices in sorted(options.items()):
        base = scratch[i]
        for option in choices:
            scratch[i] = base + int(option["extra_bytes"])
            apart = separate | {graph.nodes[i].outputs[0]} if option.get("rereads_input") else separate
            trial = plan_memory(graph, scratch=scratch, idle_bytes=idle_bytes, separate=apart)
            if trial.arena_bytes <= plan.arena_bytes:
                plan, separate = trial, apart
                kernel_contexts[i].update(option["ctx"], extra_offset=base)
                break
        else:
            scratch[i] = base
    return plan


def _io(graph: Graph, tensor: Tensor, layout: str) -> dict[str, Any]:
    assert tensor.quant is not None
    return dict(size=tensor.size, shape=list(tensor.shape), scale=repr(float(np.float32(tensor.quant.s))),
                zero_point=tensor.quant.zp, layout_comment=f"NHWC inside; the user's framework uses {layout}")


def generate(graph: Graph, out_dir: Path, model_sha256: str | None = None,
             target_features: tuple[str, ...] | list[str] = (), idle_bytes: int = FIRMWARE_IDLE_BYTES
             ) -> GeneratedSources:
    """Render `graph` into C in out_dir. `target_features` are the board's cpu features
    (dsp, mve, ...): ops with specialised kernels pick their variant from them. `idle_bytes`:
    the arena's idle region (free while no inference runs, apart from the input region)."""
    if not graph.is_quantized:
        raise AssertionError("generate() needs a quantized graph")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise AssertionError("generate() supports one input and one output")
    env = environment()
    name = c_identifier(graph.name)
    symbols = _constant_symbols(graph, name)
    common = dict(version=__version__, model_name_comment=c_comment(graph.name),
                  model_sha256=model_sha256 or graph_sha256(graph), name=name, NAME=name.upper())
    features = tuple(target_features)
    kernel_contexts: dict[int, dict[str, Any]] = {}
    for i, node in enumerate(graph.nodes):
        kernel_context = getattr(node.op, "kernel_context", None)
        if kernel_context is not None:
            try:
                kernel_contexts[i] = kernel_context(node, graph, features)
            except ValueError as e:  # constants the kernels cannot hold (an imported model's bias)
                raise UnsupportedError(f"layer {node.source or node.name} ({node.kind}): {e}") from None
    scratch = {i: int(k.pop("scratch_bytes", 0)) for i, k in kernel_contexts.items()}  # arena regions
    kernel_stack = max((int(k.pop("stack_bytes", 0)) for k in kernel_contexts.values()), default=0)
    options = {i: k.pop("scratch_options", []) for i, k in kernel_contexts.items()}
    plan = _take_scratch_options(graph, scratch, options, kernel_contexts,
                                 plan_memory(graph, scratch=scratch, idle_bytes=idle_bytes), idle_bytes)
    arena = f"edgeq_{name}_arena"

    def pointer(tensor: str) -> str:
        if tensor in graph.outputs:
            return "output"
        return f"(arena + {plan.allocations[tensor].offset})"

    overrides: dict[str, np.ndarray] = {}  # C symbol -> kernel layout of a layer's constant
    layers = []
    shared: dict[str, dict[str, Any]] = {}  # kernels every layer of a kind calls, rendered once
    shared_maxima: dict[str, dict[str, int]] = {}
    for i, node in enumerate(graph.nodes):
        fn = f"edgeq_{name}_l{i}_{node.kind}"
        consts = [symbols[t] for t in node.inputs if graph.tensors[t].is_constant]
        ctx: dict[str, Any] = dict(fn=fn, k=node.kernel, op=node.op, features=features, name=name)
        if consts:
            ctx["w"] = consts[0]
        if len(consts) > 1:
            ctx["b"] = consts[1]
        template = node.op.template
        if i in kernel_contexts:
            kctx = kernel_contexts[i]
            template = kctx.pop("template", template)
            region = plan.allocations.get(scratch_name(i))
            ctx["scratch"] = f"({arena} + {region.offset})" if region is not None else "NULL"
            spec = kctx.pop("shared", None)
            if spec is not None:  # one shared kernel per kind, cpu variant and requantization
                maxima = shared_maxima.setdefault(spec["key"], {})  # buffer sizes: per kind and variant
                fused_add = bool(spec.get("fused_add"))  # the instantiation ending in a residual ADD
                shared.setdefault(f"{spec['key']}_{kctx['rq_kind']}{'_add' if fused_add else ''}",
                                  dict(template=spec["template"], variant=spec["variant"], rq=kctx["rq_kind"],
                                       maxima=maxima, fused_add=fused_add))
                for key, value in spec["max"].items():
                    maxima[key] = max(maxima.get(key, 0), int(value))
            for role, data in kctx.pop("constants", {}).items():  # data None: held by another constant
                symbol = f"edgeq_{name}_l{i}_{role}"
                overrides[symbol] = data
                key = "w" if role == "weights" else "b" if role == "bias" else role
                ctx[key] = symbol if data is not None else "NULL"
            ctx.update(kctx)
        else:
            try:
                ctx.update(node.op.template_context(node, graph))
            except ValueError as e:  # constants the kernel cannot hold
                raise UnsupportedError(f"layer {node.source or node.name} ({node.kind}): {e}") from None
        if node.kind == "reshape":
            ctx["in_place"] = node.outputs[0] in plan.aliases  # the output is the input's buffer
        code = env.get_template(template).render(**ctx)
        activations = [t for t in node.inputs if not graph.tensors[t].is_constant]
        out = node.outputs[0]
        layers.append(dict(kind=node.kind, comment=c_comment(node.source or node.name), code=code, fn=fn,
                           args=[pointer(t) for t in activations] + [pointer(out)], out=pointer(out),
                           out_size=graph.tensors[out].size))

    constants = []
    for tensor, symbol in symbols.items():
        t = graph.tensors[tensor]
        assert t.data is not None
        data = overrides.pop(symbol, t.data)
        if data is None:  # a kernel keeps it inside another constant
            continue
        comment = c_comment(tensor) + (" (kernel layout)" if data is not t.data else "")
        constants.append(dict(symbol=symbol, ctype=_c_type(data), dtype=str(data.dtype), shape=list(data.shape),
                              size=data.size, rows=_rows(data), comment=comment))
    for symbol, data in overrides.items():  # layouts of constants another layer printed first
        if data is None:
            continue
        constants.append(dict(symbol=symbol, ctype=_c_type(data), dtype=str(data.dtype), shape=list(data.shape),
                              size=data.size, rows=_rows(data), comment="kernel layout"))

    shared_code = "".join(env.get_template(e["template"]).render(name=name, variant=e["variant"], rq=e["rq"],
                                                                      fused_add=e["fused_add"], **e["maxima"])
                          + "\n" for _, e in sorted(shared.items()))
    # DSP intrinsics for every kernel of a core with the DSP extension (the mve cores' ADDs too)
    uses_dsp = "dsp" in features or any(e["variant"] == "dsp" for e in shared.values())
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    in_region = plan.allocations.get(graph.inputs[0])
    if in_region is None:
        raise AssertionError("generate() needs an input distinct from the output")
    common.update(layers=layers, constants=constants, shared_code=shared_code, uses_dsp=uses_dsp,
                  arena_bytes=plan.arena_bytes,
                  input=_io(graph, inp, graph.input_layout), output=_io(graph, outp, graph.output_layout),
                  input_offset=in_region.offset, input_kept=plan.input_kept,
                  idle=plan.allocations.get(IDLE),
                  name_string=c_string(graph.name), stack_bytes=stack_reserve(kernel_stack),
                  max_layer_output=max(graph.tensors[n.outputs[0]].size for n in graph.nodes))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for template, filename in [("model.h.j2", "model.h"), ("model.c.j2", "model.c"),
                               ("weights.h.j2", "model_weights.h"), ("weights.c.j2", "model_weights.c"),
                               ("target.h.j2", "edgeq_target.h")]:
        path = out_dir / filename
        path.write_text(env.get_template(template).render(file=filename, **common))
        files.append(path)
    for header in sorted(RUNTIME_DIR.glob("*.h")):
        banner = env.get_template("banner.j2").render(file=header.name, **common)
        path = out_dir / header.name
        path.write_text(banner + header.read_text())
        files.append(path)
    return GeneratedSources(out_dir, files, name, plan, symbols, stack_reserve(kernel_stack))
