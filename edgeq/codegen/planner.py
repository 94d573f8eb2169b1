"""The memory planner: activation tensors' lifetimes to offsets in one static arena.

Greedy by size (largest first), each tensor at the lowest aligned offset that does not
overlap a tensor whose lifetime intersects its own. The graph's input and output tensors
live in the caller's buffers, not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def live_at_peak(self) -> list[Allocation]:
        """The allocations live at the step where live bytes are highest."""
        if not self.allocations:
            return []
        steps = range(max(a.last for a in self.allocations.values()) + 1)
        best = max(steps, key=lambda s: sum(a.size for a in self.allocations.values() if a.first <= s <= a.last))
        return [a for a in self.allocations.values() if a.first <= best <= a.last]


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


def plan_memory(graph: Graph, alignment: int = 16) -> MemoryPlan:
    spans = lifetimes(graph)
    sizes = {t: _align(graph.tensors[t].nbytes, alignment) for t in spans}
    placed: list[Allocation] = []
    order = sorted(spans, key=lambda t: (-sizes[t], spans[t][0], t))
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
    arena = max((a.offset + a.size for a in placed), default=0)
    return MemoryPlan({a.tensor: a for a in placed}, arena, sum(sizes.values()))
