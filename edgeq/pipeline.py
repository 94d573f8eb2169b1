"""The main job: model -> float graph -> passes -> int8 graph -> C -> firmware -> report."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import __version__
from edgeq.boards import Board, load_board
from edgeq.builddir import BUILD_JSON, BuildDir, save_graphs, staged_output, write_json_atomic
from edgeq.codegen.emitter import generate
from edgeq.data import Dataset, as_array, batches, check_samples, flatten_batches, to_graph_layout, user_shape
from edgeq.errors import EdgeqError
from edgeq.frontends.load import LoadedModel, load_model
from edgeq.ir.dump import dump
from edgeq.ir.graph import Graph
from edgeq.passes import run_passes
from edgeq.passes.fuse_conv_add import fuse_conv_add
from edgeq.quant.quantize import compute_kernels, quantize_graph
from edgeq.report.build_report import build_report

Progress = Callable[[str, int | None], Callable[[int], None]]

def _no_progress(label: str, total: int | None) -> Callable[[int], None]:
    return lambda n: None

@dataclass
class BuildOptions:
    board: str
    out: Path
    observer: str = "minmax"
    force: bool = False
    opt: str | None = None

def calibration_batches(graph: Graph, calib: Dataset) -> tuple[np.ndarray, int]:
    """Check the calibration samples against the model's input and move them to NHWC."""
    name = graph.inputs[0]
    shape = user_shape(graph.tensors[name].shape, graph.input_layout)
    x = flatten_batches(np.asarray(calib.x), shape)
    x = check_samples(x, shape, f"calibration data {calib.source}").astype(np.float32)
    return to_graph_layout(x, graph.input_layout), len(x)

def _io_meta(graph: Graph, tensor: str, layout: str) -> dict[str, Any]:
    t = graph.tensors[tensor]
    assert t.quant is not None
    return {"graph_shape": list(t.shape), "user_shape": list(user_shape(t.shape, layout)), "layout": layout,
            "size": t.size, "scale": t.quant.s, "zero_point": t.quant.zp}

def check_single_io(graph: Graph) -> None:
    if len(graph.inputs) != 1:
        raise EdgeqError(f"model {graph.name} has {len(graph.inputs)} inputs; edgeq builds models with one input")
    if len(graph.outputs) != 1:
        raise EdgeqError(f"model {graph.name} has {len(graph.outputs)} outputs; edgeq builds models with one output")

def build(model: Any, calib: np.ndarray | Iterable[np.ndarray] | str | Path | None, options: BuildOptions,
          example_input: Any = None, name: str | None = None, progress: Progress = _no_progress) -> BuildDir:
    board = load_board(options.board)  # unknown board: fail before any work
    loaded: LoadedModel = load_model(model, example_input, name)
    check_single_io(loaded.graph)
    if is_prequantized(loaded.graph):
        # An imported int8 model (.tflite, QDQ ONNX, ...): keep its parameters as stored.
        quantized = copy.deepcopy(loaded.graph)
        compute_kernels(quantized)
        return write_build(loaded, None, quantized, board, options, 0)
    float_graph = run_passes(loaded.graph)
    if calib is None:
        raise EdgeqError("calibration data is required to quantize a float model (--calib FILE.npy|.npz)")
    x, n = calibration_batches(float_graph, as_array(calib, "calibration data"))
    tick = progress("calibrating", n)
    try:
        quantized = quantize_graph(float_graph, batches(x), options.observer, progress=tick)
    except FloatingPointError as e:
        raise EdgeqError(f"calibration: {e}") from None
    return write_build(loaded, float_graph, quantized, board, options, n)

def is_prequantized(graph: Graph) -> bool:
    """Every activation already has int8 parameters: the model was quantized before edgeq."""
    return all(t.quant is not None for t in graph.activations())


def write_build(loaded: LoadedModel, float_graph: Graph | None, quantized: Graph, board: Board, options: BuildOptions,
                calibration_samples: int) -> BuildDir:
    from edgeq.toolchain.firmware import build_firmware

    quantized = fuse_conv_add(quantized)  # residual ADDs into their convs: the same bytes, less RAM
    with staged_output(options.out, options.force) as stage:
        src = generate(quantized, stage / "src", model_sha256=loaded.sha256, target_features=board.features)
        artifact = build_firmware(stage / "src", board, stage / "bin", opt=options.opt)
        (stage / "graph.txt").write_text(dump(quantized) + "\n")
        save_graphs(stage, float_graph, quantized)
        meta = {
            "edgeq_version": __version__,
            "board": board.id,
            "model": {"name": loaded.name, "sha256": loaded.sha256, "format": loaded.format},
            "c_name": src.c_name,
            "input": _io_meta(quantized, quantized.inputs[0], quantized.input_layout),
            "output": _io_meta(quantized, quantized.outputs[0], quantized.output_layout),
            "firmware": {key: str(path.relative_to(stage)) for key, path in
                         [("executable", artifact.executable), ("elf", artifact.elf), ("bin", artifact.bin),
                          ("hex", artifact.hex)] if path is not None},
        }
        write_json_atomic(stage / BUILD_JSON, meta)
        size = artifact.size.as_dict()
        size["arena_bytes"] = src.plan.arena_bytes
        size["stack_bytes"] = artifact.size.stack_bytes
        report = build_report(
            board=board.id, model=meta["model"], graph=quantized, plan=src.plan, size=size,
            firmware=artifact.size, float_graph=float_graph,
            quantization={"observer": options.observer, "calibration_samples": calibration_samples,
                          "input": {"scale": meta["input"]["scale"], "zero_point": meta["input"]["zero_point"]},
                          "output": {"scale": meta["output"]["scale"], "zero_point": meta["output"]["zero_point"]}})
        write_json_atomic(stage / "report.json", report)
    return BuildDir.open(options.out)

__all__ = ["BuildOptions", "build"]
