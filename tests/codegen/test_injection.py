"""Names from the user's model (graph, layers, tensors) cannot inject C into the sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from edgeq.codegen.emitter import generate
from edgeq.codegen.naming import c_comment, c_identifier, c_string
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ops import RELU, Conv2D, Reshape
from edgeq.quant.quantize import quantize_graph
from edgeq.toolchain.host import compile_shared

EVIL = 'evil */ int edgeq_injected = 1; /* "\n#error pwned\r\\ \x00 ??= \u00e9'


def test_naming_functions_neutralise_everything() -> None:
    ident = c_identifier(EVIL)
    assert ident.replace("_", "").isalnum() and not ident[0].isdigit()
    assert "*/" not in c_comment(EVIL) and "\n" not in c_comment(EVIL)
    assert '"' not in c_string(EVIL) and "\\" not in c_string(EVIL) and "?" not in c_string(EVIL)
    assert c_identifier("") and c_identifier("123")[0].isalpha() and c_identifier("int") != "int"


def test_evil_names_compile_to_nothing_injected(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = Graph(EVIL)
    g.add_tensor(Tensor(EVIL + "in", (1, 4, 4, 2)))
    w = g.add_constant(EVIL + "w", rng.normal(size=(3, 3, 3, 2)))
    b = g.add_constant(EVIL + "b", rng.normal(size=3))
    g.add_tensor(Tensor(EVIL + "c", (1, 2, 2, 3)))
    g.add_node(Node(EVIL, Conv2D(activation=RELU), [EVIL + "in", w, b], [EVIL + "c"], source=EVIL + " (Conv2D)"))
    g.add_tensor(Tensor(EVIL + "out", (1, 12)))
    g.add_node(Node(EVIL + "2", Reshape(shape=(1, 12)), [EVIL + "c"], [EVIL + "out"], source=EVIL))
    g.inputs, g.outputs = [EVIL + "in"], [EVIL + "out"]
    q = quantize_graph(g, [rng.normal(size=(8, 4, 4, 2)).astype(np.float32)])
    src = generate(q, tmp_path / "src")
    lib = compile_shared(tmp_path / "src", tmp_path / "m.so")  # strict flags: -Werror
    symbols = subprocess.run(["nm", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "edgeq_injected" not in [line.split()[-1] for line in symbols.splitlines() if line.strip()]
    for path in src.files:
        for line in path.read_text().splitlines():
            assert not line.lstrip().startswith("#error")
            if line.startswith("#define EDGEQ_MODEL_NAME_STR"):
                assert line.count('"') == 2  # one literal, nothing after it
