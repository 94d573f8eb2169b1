"""The memory planner: activation tensors' lifetimes to offsets in one static arena.

In-place execution first: a reshape whose input dies there is an alias of its input (no
copy), and an elementwise add writes into an input of its shape that dies there. Aliased
tensors form one buffer whose lifetime is the union of theirs. Buffers are then placed by
several greedy strategies (largest first, earliest first, longest-lived first, ...), each
at the lowest aligned offset that does not overlap a buffer whose lifetime intersects its
own; the smallest arena wins. The graph's input and output tensors live in the caller's
buffers, not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeq.ir.graph import Graph


@dataclass(frozen=True)
class Allocation:
    tensor: str
    offset: int
    size: int
    first: int  # index of the producing node
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

    def root(self, tensor: str) -> str:
        while tensor in self.aliases:
            tensor = self.aliases[tensor]
        return tensor

    def live_at_peak(self) -> list[Allocation]:
        """The buffers live at the step where live bytes are highest (an in-place chain counts
        once, under the tensor live at that step that was produced last)."""
        if not self.allocations:
            return []
        steps = range(max(a.last for a in self.allocations.values()) + 1)

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


def lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """[first, last] node indices for every arena tensor (not graph inputs/outputs)."""
    external = set(graph.inputs) | set(graph.outputs)
    spans: dict[str, tuple[int, int]] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.outputs:
            if t not in external:
                spans[t] = (i, i)
        for t in node.inputs:
            if t in spans:
                spans[t] = (spans[t][0], i)
    return spans


INPLACE_ELEMENTWISE = ("add",)


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


def _place(order: list[str], sizes: dict[str, int], spans: dict[str, tuple[int, int]]) -> dict[str, int]:
    placed: list[Allocation] = []
    for t in order:
        first, last = spans[t]
        candidate = Allocation(t, 0, sizes[t], first, last)
        conflicts = sorted((a for a in placed if a.overlaps_in_time(candidate)), key=lambda a: a.offset)
        offset = 0
        for a in conflicts:
            if offset + sizes[t] <= a.offset:
                break
            offset = max(offset, a.offset + a.size)
        placed.append(Allocation(t, offset, sizes[t], first, last))
    return {a.tensor: a.offset for a in placed}


def plan_memory(graph: Graph, alignment: int = 16, in_place: bool = True) -> MemoryPlan:
    spans = lifetimes(graph)
    sizes = {t: _align(graph.tensors[t].nbytes, alignment) for t in spans}
    aliases = in_place_aliases(graph, spans) if in_place else {}

    def root(t: str) -> str:
        while t in aliases:
            t = aliases[t]
        return t

    buffers: dict[str, tuple[int, int]] = {}
    for t, (first, last) in spans.items():
        r = root(t)
        f0, l0 = buffers.get(r, (first, last))
        buffers[r] = (min(f0, first), max(l0, last))
    bsizes = {r: sizes[r] for r in buffers}
    best: tuple[int, str, dict[str, int]] | None = None
    for name, key in STRATEGIES.items():
        offsets = _place(sorted(buffers, key=lambda r: (*key(bsizes[r], buffers[r]), r)), bsizes, buffers)
        arena = max((offsets[r] + bsizes[r] for r in buffers), default=0)
        if best is None or arena < best[0]:
            best = (arena, name, offsets)
    assert best is not None
    arena, strategy, offsets = best
    allocations = {t: Allocation(t, offsets[root(t)], sizes[t], *spans[t]) for t in spans}
    return MemoryPlan(allocations, arena, sum(sizes.values()), aliases, strategy)
