"""Kernel scratch buffers live in the arena: each conv / depthwise / dense layer that needs one
gets a planned region (live during that layer only) through its parameter struct, and the
shared kernels keep no buffer on the stack."""

from __future__ import annotations

import re
from pathlib import Path

from edgeq.codegen.emitter import generate
from edgeq.codegen.planner import scratch_name
from tests.firmware.conftest import tiny_graph


def test_scratch_regions_are_planned_and_passed(tmp_path: Path) -> None:
    g = tiny_graph()
    for features in ((), ("dsp",)):
        gen = generate(g, tmp_path / "-".join(features or ("portable",)), target_features=features)
        code = (gen.directory / "model.c").read_text()
        conv = next(i for i, n in enumerate(g.nodes) if n.kind == "conv2d")
        region = gen.plan.allocations[scratch_name(conv)]
        assert (region.first, region.last) == (conv, conv) and region.size >= 4 * 28  # 2 pixels x k_pad int16
        assert f"(edgeq_{gen.c_name}_arena + {region.offset})" in code
        assert region.offset + region.size <= gen.plan.arena_bytes
        # no kernel buffer on the stack: the shared kernels take p->scratch
        assert not re.search(r"\b(cols|tmp|xbuf|pad|taps|offsets|accs)\[\d+\]", code)
        assert "p->scratch" in code
