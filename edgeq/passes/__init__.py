"""Graph -> Graph passes on the float graph, run in the order of PIPELINE."""

from __future__ import annotations

import copy
from collections.abc import Callable

from edgeq.ir.graph import Graph
from edgeq.ir.verify import verify
from edgeq.passes.fold_batchnorm import fold_batchnorm
from edgeq.passes.fold_transpose import fold_transpose_into_fully_connected
from edgeq.passes.fuse_activation import fuse_activations
from edgeq.passes.remove_identity import remove_identity

Pass = Callable[[Graph], Graph]

PIPELINE: list[Pass] = [
    remove_identity,
    fold_batchnorm,
    fuse_activations,
    fold_transpose_into_fully_connected,
]


def run_passes(graph: Graph, passes: list[Pass] | None = None) -> Graph:
    """Apply the passes to a copy of `graph`, verifying after each."""
    g = copy.deepcopy(graph)
    for p in PIPELINE if passes is None else passes:
        g = p(g)
        verify(g)
    return g
