"""The memory planner: activation tensors' lifetimes to offsets in one static arena.

In-place execution first: a reshape whose input dies there is an alias of its input (no
copy), an elementwise add writes into an input of its shape that dies there, and a conv that
ends in a residual ADD (conv2d_add) writes into its skip operand when the skip dies there
(output element i over skip element i, which the kernel reads just before writing it). A
convolution or depthwise convolution whose input dies there writes its output over the
input, shifted so that no output pixel lands on input bytes a later pixel still reads (the
kernels visit output pixels in order and read a pixel's window before writing it): a 3x3
stride-1 layer needs one input row of slack, a 1x1 layer that widens the channels starts
its output below the input. Tensors sharing memory form one buffer (offsets relative to
each other fixed) whose lifetime is the union of theirs. Buffers are then placed by
several greedy strategies (largest first, earliest first, longest-lived first, ...), each
at the lowest aligned offset that does not overlap a buffer whose lifetime intersects its
own; the smallest arena wins.

The graph's input lives in the arena like any other tensor (from the start to its last
reader); when keeping it live for the whole inference does not enlarge the arena, it is kept,
so several runs can share one loaded input (`MemoryPlan.input_kept`). A layer's kernel
scratch (`scratch`: node index -> bytes) is a region live during that layer only. The idle
region (`idle_bytes`, the firmware's command line) is live only before the first layer (step
-1, with the input), so an inference may overwrite it but it never overlaps the input. The graph's
output lives in the caller's buffer, not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from edgeq.ir.graph import Graph


@dataclass(frozen=True)
class Allocation:
    tensor: str
    offset: int
    size: int
    first: int  # index of the producing node (-1: before the inference)
    last: int  # index of the last consuming node

    def overlaps_in_time(self, other: Allocation) -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps_in_space(self, other: Allocation) -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass(frozen=True)
class MemoryPlan:
    allocations: dict[str, Allocation]
    arena_bytes: int
    naive_bytes: int  # every tensor in its own buffer
    aliases: dict[str, str] = field(default_factory=dict)  # tensor -> tensor whose buffer it reuses in place
    strategy: str = "size"  # the placement that gave the smallest arena
    shifts: dict[str, int] = field(default_factory=dict)  # in-place tensor -> its offset minus its input's
    input_kept: bool = True  # an inference leaves the graph input's bytes unchanged

    def root(self, tensor: str) -> str:
        while tensor in self.aliases:
            tensor = self.aliases[tensor]
        return tensor

    def live_at_peak(self) -> list[Allocation]:
        """The buffers live at the step where live bytes are highest (an in-place chain counts
        once, under the tensor live at that step that was produced last)."""
        if not self.allocations:
            return []
        allocs = self.allocations.values()
        steps = range(min(a.first for a in allocs), max(a.last for a in allocs) + 1)

        def live(s: int) -> list[Allocation]:
            by_root: dict[str, Allocation] = {}
            for a in self.allocations.values():
                if a.first <= s <= a.last:
                    r = self.root(a.tensor)
                    if r not in by_root or a.first > by_root[r].first:
                        by_root[r] = a
            return list(by_root.values())

        best = max(steps, key=lambda s: sum(a.size for a in live(s)))
        return live(best)


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


SCRATCH_PREFIX = "scratch:l"
IDLE = "idle:firmware"  # the region a firmware may use while no inference runs


def scratch_name(index: int) -> str:
    """The arena region of layer `index`'s kernel scratch."""
    return f"{SCRATCH_PREFIX}{index}"


def is_scratch(name: str) -> bool:
    return name.startswith(SCRATCH_PREFIX)


def lifetimes(graph: Graph, scratch: dict[int, int] | None = None, keep_input: bool = False,
              idle_bytes: int = 0) -> dict[str, tuple[int, int]]:
    """[first, last] node indices for every arena region: the activations, the graph input (from
    the first node to its last reader, or to the last node with keep_input) and each layer's
    kernel scratch (its own node only). With idle_bytes, the idle region and the input are live
    at step -1 (before the inference) too. Graph outputs live in the caller's buffer."""
    outputs = set(graph.outputs)
    spans: dict[str, tuple[int, int]] = {t: (0, 0) for t in graph.inputs if t not in outputs}
    for i, node in enumerate(graph.nodes):
        for t in node.outputs:
            if t not in outputs:
                spans[t] = (i, i)
        for t in node.inputs:
            if t in spans:
                spans[t] = (spans[t][0], i)
    if keep_input and graph.nodes:
        for t in graph.inputs:
            if t in spans:
                spans[t] = (0, len(graph.nodes) - 1)
    for i, nbytes in sorted((scratch or {}).items()):
        if nbytes > 0:
            spans[scratch_name(i)] = (i, i)
    if idle_bytes > 0:
        for t in graph.inputs:
            if t in spans:
                spans[t] = (-1, spans[t][1])
        spans[IDLE] = (-1, -1)
    return spans


INPLACE_ELEMENTWISE = ("add",)
#: Layers whose kernel reads element i of their input `index` just before writing output element i.
INPLACE_OPERAND = {"conv2d_add": 1}


def in_place_aliases(graph: Graph, spans: dict[str, tuple[int, int]]) -> dict[str, str]:
    """tensor -> input tensor whose buffer it takes: reshapes, and elementwise ops writing into
    an input of the output's shape that is not read after them."""
    aliases: dict[str, str] = {}
    for i, node in enumerate(graph.nodes):
        out = node.outputs[0]
        if out not in spans or len(node.outputs) != 1:
            continue
        shape = graph.tensors[out].shape
        if node.kind == "reshape":
            candidates = node.inputs[:1]
        elif node.kind in INPLACE_ELEMENTWISE and all(graph.tensors[t].shape == shape for t in node.inputs):
            candidates = list(node.inputs)
        elif node.kind in INPLACE_OPERAND and graph.tensors[node.inputs[INPLACE_OPERAND[node.kind]]].shape == shape:
            candidates = [node.inputs[INPLACE_OPERAND[node.kind]]]
        else:
            continue
        for t in candidates:
            if (t in spans and spans[t][1] == i and node.inputs.count(t) == 1
                    and graph.tensors[t].nbytes == graph.tensors[out].nbytes and t not in aliases.values()):
                aliases[out] = t
                break
    return aliases


STRATEGIES = {
    "size": lambda size, span: (-size, span[0]),
    "first": lambda size, span: (span[0], -size),
    "longest": lambda size, span: (-(span[1] - span[0]), -size),
    "area": lambda size, span: (-size * (span[1] - span[0] + 1), span[0]),
}


OVERLAP_OPS = ("conv2d", "depthwise_conv2d", "conv2d_add")


def overlap_shift(graph: Graph, node) -> int | None:
    """The largest safe (output offset - input offset) for a conv/depthwise writing over its
    input: output pixel q is written after its window is read, so its bytes may cover only
    input pixels that no later output pixel reads. None when the op's kernel does not qualify."""
    import numpy as np

    if node.kind not in OVERLAP_OPS:
        return None
    op = node.op.conv if node.kind == "conv2d_add" else node.op  # the conv part of a conv2d_add
    if node.kind == "depthwise_conv2d" and op.depth_multiplier != 1:
        return None  # the generic kernel: channels of one pixel interleave reads and writes
    xt, yt = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    weights = next(t for t in node.inputs if graph.tensors[t].is_constant)  # conv2d_add: [x, skip, w, b]
    x, y, w = xt.shape, yt.shape, graph.tensors[weights].shape
    if len(x) != 4 or x[0] != 1 or xt.dtype != yt.dtype:
        return None
    itemsize = xt.nbytes // xt.size
    kh, kw = (w[1], w[2])
    (sh, sw), (dh, dw), (pt, _, pl, _) = op.stride, op.dilation, op.padding

    def first_valid(out: int, size: int, k: int, s: int, d: int, p: int) -> np.ndarray:
        o = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
        o = np.where((o >= 0) & (o < size), o, np.iinfo(np.int64).max)
        return o.min(axis=1)

    iy = first_valid(y[1], x[1], kh, sh, dh, pt)
    ix = first_valid(y[2], x[2], kw, sw, dw, pl)
    if np.any(iy == np.iinfo(np.int64).max) or np.any(ix == np.iinfo(np.int64).max):
        return None
    first = (iy[:, None] * x[2] + ix[None, :]).reshape(-1)  # lowest input pixel each output pixel reads
    later = np.minimum.accumulate(first[::-1])[::-1][1:]  # lowest input pixel read after pixel q
    if later.size == 0:
        return None
    q = np.arange(later.size)
    return int(np.min(later * x[3] - (q + 1) * y[3])) * itemsize


def _lcm(a: int, b: int) -> int:
    import math

    return a * b // math.gcd(a, b)


def _place(order: list[str], pieces: dict[str, list[Allocation]]) -> dict[str, int]:
    """Buffer -> offset. A buffer is its tensors (`pieces`, offsets relative to the buffer's
    start, each with its own lifetime): it goes to the lowest offset where none of its tensors
    overlaps a placed tensor live at the same time. That offset is 0 or puts one of its tensors
    right after a placed one it meets in time."""
    placed: list[Allocation] = []
    offsets: dict[str, int] = {}
    for r in order:
        conflicts = [(a, q) for q in pieces[r] for a in placed if a.overlaps_in_time(q)]
        candidates = sorted({0} | {a.offset + a.size - q.offset for a, q in conflicts})
        for offset in candidates:
            if offset >= 0 and all(a.offset >= offset + q.offset + q.size or offset + q.offset >= a.offset + a.size
                                   for a, q in conflicts):
                break
        offsets[r] = offset
        placed += [Allocation(q.tensor, offset + q.offset, q.size, q.first, q.last) for q in pieces[r]]
    return offsets


def overlap_aliases(graph: Graph, spans: dict[str, tuple[int, int]], sizes: dict[str, int],
                    taken: dict[str, str], alignment: int,
                    exclude: frozenset[str] = frozenset()) -> dict[str, tuple[str, int]]:
    """tensor -> (input tensor, shift) for conv/depthwise outputs written over their dying input.
    The shift is chosen inside the safe range so the chain's footprint grows least; an overlap
    is kept only where it saves memory against a separate buffer."""
    out: dict[str, tuple[str, int]] = {}
    rel: dict[str, int] = {}  # offset relative to the chain's first tensor
    root: dict[str, str] = {}
    extent: dict[str, tuple[int, int]] = {}  # chain root -> [lo, hi) relative extent
    for t in spans:
        rel[t], root[t], extent[t] = 0, t, (0, sizes[t])
    for t, src in taken.items():  # shift-0 aliases (reshape, add) are part of chains too
        r = root[src]
        root[t], rel[t] = r, rel[src]
        lo, hi = extent[r]
        extent[r] = (min(lo, rel[t]), max(hi, rel[t] + sizes[t]))
    used = set(taken.values())
    for i, node in enumerate(graph.nodes):
        if not node.outputs or node.outputs[0] not in spans or node.outputs[0] in taken or node.outputs[0] in exclude:
            continue
        o, a = node.outputs[0], node.inputs[0]
        if a not in spans or spans[a][1] != i or a in used or node.inputs.count(a) != 1:
            continue
        s_max = overlap_shift(graph, node)
        if s_max is None:
            continue
        step = alignment if node.kind in ("conv2d", "conv2d_add") else _lcm(alignment, graph.tensors[o].shape[-1])
        s_max = s_max // step * step
        r = root[a]
        lo, hi = extent[r]
        base = rel[a]
        # Safe: at or below s_max (over the input's bytes that are already read), or wholly
        # above the input (the chain's other tensors are dead at this step).
        above = -(-sizes[a] // step) * step
        starts_lo, ends_hi = -(-(lo - base) // step) * step, (hi - sizes[o] - base) // step * step
        options = [s for s in (min(s_max, 0), s_max, starts_lo, ends_hi, above, max(above, starts_lo))
                   if s <= s_max or s >= sizes[a]]
        best = min(options, key=lambda s: (max(hi, base + s + sizes[o]) - min(lo, base + s), abs(s)))
        new_span = max(hi, base + best + sizes[o]) - min(lo, base + best)
        if new_span >= (hi - lo) + sizes[o]:
            continue  # no saving against a separate buffer
        out[o] = (a, best)
        used.add(a)
        root[o], rel[o] = r, base + best
        extent[r] = (min(lo, rel[o]), max(hi, rel[o] + sizes[o]))
    return out


def plan_memory(graph: Graph, alignment: int = 16, in_place: bool = True,
                scratch: dict[int, int] | None = None, idle_bytes: int = 0,
                separate: frozenset[str] = frozenset()) -> MemoryPlan:
    """The smallest plan; with the input kept live for the whole inference when that costs no
    arena bytes. `scratch`: node index -> bytes of that layer's kernel scratch region;
    `idle_bytes`: the idle region (IDLE) for use between inferences; `separate`: tensors not to
    be written over their layer's input (their kernel reads the input again)."""
    kept = _plan_memory(graph, alignment, in_place, scratch, True, idle_bytes, separate)
    if not any(t in kept.allocations for t in graph.inputs):
        return kept  # the input is the caller's buffer (it is also the output)
    dropped = _plan_memory(graph, alignment, in_place, scratch, False, idle_bytes, separate)
    if kept.arena_bytes <= dropped.arena_bytes:
        return kept
    return replace(dropped, input_kept=False)


def _plan_memory(graph: Graph, alignment: int, in_place: bool, scratch: dict[int, int] | None,
                 keep_input: bool, idle_bytes: int, separate: frozenset[str]) -> MemoryPlan:
    """The smallest of the plans with every in-place option, with the same-offset ones only,
    and (a longer shared lifetime can cost more than it saves) with none."""
    spans = lifetimes(graph, scratch, keep_input, idle_bytes)

    def nbytes(t: str) -> int:
        if t == IDLE:
            return idle_bytes
        return scratch[int(t[len(SCRATCH_PREFIX):])] if scratch and is_scratch(t) else graph.tensors[t].nbytes

    sizes = {t: _align(nbytes(t), alignment) for t in spans}
    if not in_place:
        return _plan(spans, sizes, {}, {})
    aliases = {t: src for t, src in in_place_aliases(graph, spans).items() if t not in separate}
    shifted = overlap_aliases(graph, spans, sizes, aliases, alignment, separate)
    best = _plan(spans, sizes, aliases, shifted)
    # Each overlap is chosen for its own step; a chain's fixed geometry can cost more later (a
    # tensor the chain holds early pins where its late tensors go): drop overlaps one at a
    # time while that shrinks the arena.
    exclude = separate
    while shifted:
        trials = []
        for t in sorted(shifted):
            trial_shifted = overlap_aliases(graph, spans, sizes, aliases, alignment, exclude | {t})
            trials.append((_plan(spans, sizes, aliases, trial_shifted), t, trial_shifted))
        trial, t, trial_shifted = min(trials, key=lambda x: x[0].arena_bytes)  # the best single drop
        if trial.arena_bytes >= best.arena_bytes:
            break
        best, exclude, shifted = trial, exclude | {t}, trial_shifted
    plans = [best, _plan(spans, sizes, aliases, {}), _plan(spans, sizes, {}, {})]
    return min(plans, key=lambda p: p.arena_bytes)  # the first of equals: the most in place


def _plan(spans: dict[str, tuple[int, int]], sizes: dict[str, int], aliases: dict[str, str],
          shifted: dict[str, tuple[str, int]]) -> MemoryPlan:
    links = {t: (src, 0) for t, src in aliases.items()} | shifted

    def root(t: str) -> str:
        while t in links:
            t = links[t][0]
        return t

    def rel(t: str) -> int:
        r = 0
        while t in links:
            t, s = links[t]
            r += s
        return r

    buffers: dict[str, tuple[int, int]] = {}
    lo: dict[str, int] = {}
    hi: dict[str, int] = {}
    for t, (first, last) in spans.items():
        r = root(t)
        f0, l0 = buffers.get(r, (first, last))
        buffers[r] = (min(f0, first), max(l0, last))
        lo[r] = min(lo.get(r, 0), rel(t))
        hi[r] = max(hi.get(r, 0), rel(t) + sizes[t])
    bsizes = {r: hi[r] - lo[r] for r in buffers}
    pieces: dict[str, list[Allocation]] = {r: [] for r in buffers}
    for t, (first, last) in spans.items():
        r = root(t)
        pieces[r].append(Allocation(t, rel(t) - lo[r], sizes[t], first, last))
    best: tuple[int, str, dict[str, int]] | None = None
    for name, key in STRATEGIES.items():
        offsets = _place(sorted(buffers, key=lambda r: (*key(bsizes[r], buffers[r]), r)), pieces)
        arena = max((offsets[r] + bsizes[r] for r in buffers), default=0)
        if best is None or arena < best[0]:
            best = (arena, name, offsets)
    assert best is not None
    arena, strategy, offsets = best
    allocations = {t: Allocation(t, offsets[root(t)] + rel(t) - lo[root(t)], sizes[t], *spans[t]) for t in spans}
    all_aliases = aliases | {t: src for t, (src, _) in shifted.items()}
    shifts = {t: s for t, (_, s) in shifted.items()}
    return MemoryPlan(allocations, arena, sum(sizes.values()), all_aliases, strategy, shifts)
