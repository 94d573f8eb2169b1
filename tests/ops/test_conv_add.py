"""Conv + residual ADD fused into one layer (edgeq.passes.fuse_conv_add): the generated C of the
fused graph gives the bytes of the UNFUSED numpy int8 reference, natively (portable kernel) and
on emulated cores (dsp on the Cortex-M4, portable on the Cortex-M3, mve on the Cortex-M55)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgeq.boards import load_board
from edgeq.codegen.emitter import generate
from edgeq.frontends.load import LoadedModel
from edgeq.interpreter import run_int8
from edgeq.ir import Graph, Tensor
from edgeq.ir.graph import Node
from edgeq.ir.verify import verify
from edgeq.ops import NO_ACTIVATION, RELU, Activation, Add, Conv2D
from edgeq.passes.fuse_conv_add import fuse_conv_add
from edgeq.pipeline import BuildOptions, write_build
from edgeq.quant.quantize import quantize_graph
from edgeq.toolchain.host import SharedModel, compile_shared
from tests.opcheck import check_on_board


def _conv(g: Graph, rng, name: str, src: str, oc: int, k: int, stride: int = 1, act: Activation = RELU,
          scale: float = 0.5) -> str:
    ic = g.tensors[src].shape[3]
    pad = (k // 2, k // 2, k // 2, k // 2) if stride == 1 else (0, k - 1, 0, k - 1) if k > 1 else (0, 0, 0, 0)
    op = Conv2D(stride=(stride, stride), padding=pad, activation=act)
    w = g.add_constant(f"{name}_w", rng.normal(size=(oc, k, k, ic)) * scale)
    b = g.add_constant(f"{name}_b", rng.normal(size=oc) * 0.1)
    g.add_tensor(Tensor(name, op.infer_shapes([g.tensors[src].shape, g.tensors[w].shape])[0]))
    g.add_node(Node(name, op, [src, w, b], [name], source=f"{name} (Conv2D)"))
    return name


def residual(rng, size: int = 7, c: int = 5, shortcut_conv: bool = False, conv_first: bool = True,
             stride: int = 1, skip_scale: float = 0.5, add_act: Activation = RELU,
             conv_act: Activation = NO_ACTIVATION) -> Graph:
    """stem -> a (3x3) -> b (3x3, `conv_act`) -> ADD(b, skip) (`add_act`) -> tail 1x1. The skip is
    the stem's output, or with `shortcut_conv` a 1x1 (stride `stride`) conv of it, run after b.
    `conv_first`: b is the ADD's first operand. `skip_scale` scales the skip path's weights
    (different skip/conv scales)."""
    g = Graph("resadd")
    g.add_tensor(Tensor("x", (1, size, size, 3)))
    g.inputs = ["x"]
    x = _conv(g, rng, "stem", "x", c, 3, scale=skip_scale)
    oc = c + 2 if shortcut_conv else c  # the shortcut widens the channels
    y = _conv(g, rng, "a", x, oc, 3, stride=stride)
    y = _conv(g, rng, "b", y, oc, 3, act=conv_act)
    skip = _conv(g, rng, "sc", x, oc, 1, stride=stride, act=NO_ACTIVATION, scale=skip_scale) if shortcut_conv else x
    g.add_tensor(Tensor("sum", g.tensors[y].shape))
    g.add_node(Node("add", Add(activation=add_act), [y, skip] if conv_first else [skip, y], ["sum"],
                    source="add (Add)"))
    _conv(g, rng, "tail", "sum", 4, 1)
    g.outputs = ["tail"]
    verify(g)
    return g


def input_skip(rng) -> Graph:
    """conv(x) + x with x the graph input, the sum the graph output (the fused layer writes the
    caller's output buffer; the skip is the input region)."""
    g = Graph("inskip")
    g.add_tensor(Tensor("x", (1, 6, 5, 3)))
    g.inputs = ["x"]
    y = _conv(g, rng, "b", "x", 3, 3, act=NO_ACTIVATION)
    g.add_tensor(Tensor("sum", g.tensors[y].shape))
    g.add_node(Node("add", Add(activation=RELU), ["x", y], ["sum"], source="add (Add)"))
    g.outputs = ["sum"]
    verify(g)
    return g


CASES = {
    "input_skip_output": input_skip,
    "skip_stem": lambda r: residual(r, c=7),  # the skip has the conv's shape: no shortcut conv
    "skip_first_operand": lambda r: residual(r, c=7, conv_first=False),
    "shortcut_1x1_s2": lambda r: residual(r, size=8, c=4, shortcut_conv=True, stride=2),  # fused into the 1x1
    "shortcut_odd": lambda r: residual(r, size=7, c=5, shortcut_conv=True, stride=2, conv_first=False),
    "scales_differ": lambda r: residual(r, c=6, skip_scale=4.0, add_act=NO_ACTIVATION, conv_act=RELU),
    "add_relu6": lambda r: residual(r, c=3, add_act=Activation(0.0, 6.0)),
}


def _quantized(case: str) -> tuple[Graph, Graph, np.ndarray]:
    rng = np.random.default_rng(sorted(CASES).index(case))
    graph = CASES[case](rng)
    shape = graph.tensors["x"].shape
    q = quantize_graph(graph, [rng.normal(size=(16, *shape[1:])).astype(np.float32)])
    assert [n.kind for n in q.nodes].count("add") == 1
    # 4x the calibration range: many conv values and sums saturate
    samples = rng.normal(size=(4, *shape[1:])).astype(np.float32) * 4
    return graph, q, q.tensors["x"].quant.quantize(samples)


def test_pass_folds_every_residual_add() -> None:
    for case in CASES:
        _, q, xq = _quantized(case)
        fused = fuse_conv_add(q)
        kinds = [n.kind for n in fused.nodes]
        assert "add" not in kinds and kinds.count("conv2d_add") == 1, (case, kinds)
        node = next(n for n in fused.nodes if n.kind == "conv2d_add")
        assert " + add (Add)" in node.source
        if case == "input_skip_output":
            assert node.inputs[1] == "x" and node.outputs == q.outputs
        if "shortcut" in case:  # the conv that runs last: the 1x1 shortcut, the 3x3 path is the skip
            assert node.source.startswith("sc ") and node.inputs[1] == "b"
        # the composition is the reference: the same bytes, the conv's tensor gone
        np.testing.assert_array_equal(run_int8(fused, [xq])[0], run_int8(q, [xq])[0])
        assert ("sc" if "shortcut" in case else "b") not in fused.tensors


def test_conv_with_another_reader_is_not_fused() -> None:
    """A conv whose output has another reader is not folded (its tensor must exist)."""
    rng = np.random.default_rng(7)
    g = residual(rng, c=4)
    g.add_tensor(Tensor("sum2", g.tensors["b"].shape))
    g.nodes.insert(len(g.nodes) - 1, Node("add2", Add(), ["sum", "b"], ["sum2"]))
    g.nodes[-1].inputs[0] = "sum2"
    verify(g)
    q = quantize_graph(g, [rng.normal(size=(8, 7, 7, 3)).astype(np.float32)])
    assert [n.kind for n in fuse_conv_add(q).nodes] == [n.kind for n in q.nodes]


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_native_c_equals_unfused_reference(case: str) -> None:
    _, q, xq = _quantized(case)
    expected = run_int8(q, [xq])[0]
    fused = fuse_conv_add(q)
    with tempfile.TemporaryDirectory() as tmp:
        src = generate(fused, Path(tmp) / "src")
        code = (Path(tmp) / "src" / "model.c").read_text()
        assert "_add(&" in code and "edgeq_add_rows(" in code
        lib = compile_shared(Path(tmp) / "src", Path(tmp) / "model.so")
        model = SharedModel(lib, src.c_name, q.tensors["x"].size, q.tensors[q.outputs[0]].size)
        got = model.run(xq)
    np.testing.assert_array_equal(got, expected.reshape(len(xq), -1))


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("board_id", ["qemu-cortex-m4", "qemu-cortex-m3", "qemu-cortex-m55"])  # dsp, portable, mve
@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_on_emulated_core_equals_unfused_reference(case: str, board_id: str, tmp_path: Path) -> None:
    graph, q, xq = _quantized(case)
    build = check_on_board(graph, q, xq, board_id, tmp_path / "build", f"fused_{case}")
    assert "conv2d_add" in (build / "graph.txt").read_text()
    variant = {"qemu-cortex-m4": "dsp", "qemu-cortex-m3": "portable", "qemu-cortex-m55": "mve"}[board_id]
    assert re.search(rf"conv2d_{variant}_\w+_add\(&", (build / "src" / "model.c").read_text())


ADD_SCALES = [  # (scale1, zp1, scale2, zp2, output scale, zp, activation)
    (0.05, 3, 0.05, -7, 0.1, 0, NO_ACTIVATION),  # equal operand scales: both at multiplier 2^30
    (0.02, -128, 0.07, 127, 0.05, -20, RELU),
    (0.3, 10, 0.0007, -3, 0.3, 5, NO_ACTIVATION),  # very different scales
    (0.01, 0, 0.012, 0, 0.002, 0, NO_ACTIVATION),  # output scale far below the inputs': saturates
    (0.01, 5, 0.013, -9, 2.5, -100, NO_ACTIVATION),  # output scale far above: a large right shift
    (0.04, 0, 0.03, 0, 0.06, -128, Activation(0.0, 6.0)),
]


@pytest.mark.parametrize("case", range(len(ADD_SCALES)))
def test_add_arithmetic_every_operand_pair(case: int, tmp_path: Path) -> None:
    """edgeq_add_q7 (the standalone ADD and the conv+add epilogue) against Add.run_int8 on all
    65536 operand pairs, host build."""
    import subprocess

    from edgeq.codegen.env import RUNTIME_DIR
    from edgeq.ir.tensor import DType, QuantParams
    from edgeq.ops.add import add_params_init, big_operand
    from edgeq.toolchain.host import STRICT_FLAGS, host_cc

    s1, z1, s2, z2, so, zo, act = ADD_SCALES[case]
    g = Graph("add")
    for name, s, z in (("a", s1, z1), ("b", s2, z2), ("y", so, zo)):
        g.add_tensor(Tensor(name, (1, 256 * 256), DType.INT8, quant=QuantParams.per_tensor(s, z)))
    op = Add(activation=act)
    node = g.add_node(Node("add", op, ["a", "b"], ["y"]))
    k = op.quantize(node, g)
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    expected = op.run_int8([a.astype(np.int8).reshape(-1), b.astype(np.int8).reshape(-1)], k)
    exe = tmp_path / "add_pairs"
    harness = Path(__file__).parent / "c" / "add_pairs.c"
    subprocess.run([host_cc(), *STRICT_FLAGS, "-O2", f"-I{RUNTIME_DIR}", str(harness), "-o", str(exe)], check=True)
    fields = add_params_init(k).strip("{} ").split(", ")
    run = subprocess.run([str(exe), str(big_operand(k)), *fields], check=True, capture_output=True)
    got = np.frombuffer(run.stdout, np.int8)
    np.testing.assert_array_equal(got, expected)


def test_per_layer_tools_name_the_fused_layer(tmp_path: Path) -> None:
    """validate (per-layer SQNR, per-layer latency, first differing layer) and the report's layer
    table on a build with a conv+add layer: one row for it, named and typed as conv + add, its
    SQNR against the float ADD's output (the conv's own tensor no longer exists)."""
    from edgeq.data import Dataset
    from edgeq.passes import run_passes
    from edgeq.report.metrics import sqnr_db
    from edgeq.validate import validate

    rng = np.random.default_rng(11)
    graph = run_passes(residual(rng, c=4))
    calib = rng.normal(size=(16, 7, 7, 3)).astype(np.float32)
    q = quantize_graph(graph, [calib])
    board = load_board("native")
    loaded = LoadedModel(graph, "edgeq", "0" * 64, "fused_tools")
    bd = write_build(loaded, graph, q, board, BuildOptions(board.id, tmp_path / "build", force=True), len(calib))
    report = validate(bd, Dataset(rng.normal(size=(6, 7, 7, 3)).astype(np.float32), None, "test"))
    assert report["validation"]["bit_exact"]
    layers = report["layers"]
    fused = [i for i, row in enumerate(layers) if row["op"] == "conv2d_add"]
    assert len(fused) == 1 and layers[fused[0]]["name"] == "b (Conv2D) + add (Add)"
    assert "add" not in [row["op"] for row in layers]
    lat = report["latency"]["layers"]
    assert len(lat) == len(layers) and lat[fused[0]]["op"] == "conv2d_add"
    sqnr = {row["index"]: row for row in report["validation"]["layer_sqnr"]}
    assert sqnr[fused[0]]["op"] == "conv2d_add"
    # it is the ADD's output that is compared: recompute it
    from edgeq.interpreter import run_float, run_int8

    _, qgraph = bd.graphs()
    node = qgraph.nodes[fused[0]]
    x = rng.normal(size=(3, 7, 7, 3)).astype(np.float32)
    ft: dict[str, np.ndarray] = {}
    qt: dict[str, np.ndarray] = {}
    run_float(graph, [x], trace=ft)
    run_int8(qgraph, [qgraph.tensors["x"].quant.quantize(x)], trace=qt)
    assert node.outputs == ["sum"] and sqnr_db(ft["sum"], qgraph.tensors["sum"].quant.dequantize(qt["sum"])) > 10


def test_add_constants_out_of_the_kernels_range_stop_codegen_with_one_line(tmp_path: Path) -> None:
    """An output multiplier with no right shift (an output scale below 2^-21 of the inputs') is
    refused with one line naming the layer, nothing written."""
    import dataclasses

    from edgeq.errors import UnsupportedError

    g = Graph("addrange")
    for name in ("a", "y"):
        g.add_tensor(Tensor(name, (1, 8)))
    g.add_node(Node("add", Add(), ["a", "a"], ["y"], source="add (Add)"))
    g.inputs, g.outputs = ["a"], ["y"]
    q = quantize_graph(g, [np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)])
    q.nodes[0].kernel = dataclasses.replace(q.nodes[0].kernel, output_shift=0)
    with pytest.raises(UnsupportedError, match=r"^layer add \(Add\) \(add\): add: multiplier"):
        generate(q, tmp_path / "src")
    assert not (tmp_path / "src").exists()
