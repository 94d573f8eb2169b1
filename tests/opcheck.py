"""The one helper that checks every op the same way: numpy int8 reference vs generated C.

Build a one-op float graph, quantize it on random calibration data, generate its C,
compile it with the host compiler (strict flags) and compare the bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgeq.api import BuiltModel
from edgeq.boards import load_board
from edgeq.codegen.emitter import generate
from edgeq.frontends.load import LoadedModel
from edgeq.interpreter import run_float, run_int8
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops.base import Op
from edgeq.pipeline import BuildOptions, write_build
from edgeq.quant.quantize import quantize_graph
from edgeq.toolchain.host import SharedModel, compile_shared


def one_op_graph(op: Op, input_shapes: list[tuple[int, ...]], constants: list[np.ndarray] = ()) -> Graph:
    g = Graph("opcheck")
    names = []
    for i, shape in enumerate(input_shapes):
        g.add_tensor(Tensor(f"in{i}", shape))
        names.append(f"in{i}")
    consts = [g.add_constant(f"c{i}", c) for i, c in enumerate(constants)]
    if len(names) > 1:
        # The generated C takes one input: split one graph input into the op's operands.
        raise NotImplementedError
    out_shape = op.infer_shapes([*input_shapes, *[c.shape for c in constants]])[0]
    g.add_tensor(Tensor("out", out_shape))
    g.add_node(Node("op", op, [*names, *consts], ["out"], source="op under test"))
    g.inputs, g.outputs = names, ["out"]
    verify(g)
    return g


def check_generated_c(graph: Graph, calib: np.ndarray, samples: np.ndarray, workdir: Path | None = None) -> Graph:
    """Quantize `graph` on `calib`, run `samples` through numpy and C, assert equal bytes."""
    q = quantize_graph(graph, [calib])
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    expected = run_int8(q, [xq])[0]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src = generate(q, Path(tmp) / "src")
        lib = compile_shared(Path(tmp) / "src", Path(tmp) / "model.so")
        model = SharedModel(lib, src.c_name, q.tensors[q.inputs[0]].size, q.tensors[q.outputs[0]].size)
        got = model.run(xq)
    np.testing.assert_array_equal(got, expected.reshape(len(samples), -1))
    return q


def check_on_board(graph: Graph, q: Graph, xq: np.ndarray, board_id: str, out: Path, name: str) -> Path:
    """Build the quantized `q` (of float `graph`) for `board_id` into `out` under the C name
    `name`, run the int8 samples `xq` on it (native process or emulator) and assert its outputs
    equal the numpy int8 reference byte for byte. Returns the build directory."""
    expected = run_int8(q, [xq])[0]
    board = load_board(board_id)
    loaded = LoadedModel(graph, "edgeq", "0" * 64, name)
    bd = write_build(loaded, None, q, board, BuildOptions(board.id, out, force=True), 0)
    got = BuiltModel(bd).run(xq, raw=True)
    np.testing.assert_array_equal(got.reshape(len(xq), -1), expected.reshape(len(xq), -1))
    return bd.path


def float_close_enough(graph: Graph, q: Graph, samples: np.ndarray, min_corr: float = 0.98) -> None:
    """Sanity of the quantization itself: int8 output correlates with the float output."""
    ref = run_float(graph, [samples])[0].ravel()
    xq = q.tensors[q.inputs[0]].quant.quantize(samples)
    deq = q.tensors[q.outputs[0]].quant.dequantize(run_int8(q, [xq])[0]).ravel()
    if np.std(ref) > 0 and np.std(deq) > 0:
        assert np.corrcoef(ref, deq)[0, 1] > min_corr
