"""Running a build's target: inputs in the user's layout in, outputs out; validation
against the numpy int8 reference, byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.boards import load_board
from edgeq.builddir import BuildDir
from edgeq.data import check_samples, from_graph_layout, to_graph_layout
from edgeq.errors import EdgeqError
from edgeq.interpreter import run_float, run_int8
from edgeq.ir.tensor import QuantParams

Tick = Callable[[int], None]


def open_target(bd: BuildDir, port: str | None = None) -> Any:
    """The build's target as a runner Target: native process, QEMU, or a board on `port`."""
    from edgeq.runner import open_native, open_qemu, open_serial
    from edgeq.toolchain.firmware import FirmwareArtifact, FirmwareSize, qemu_command

    board = load_board(bd.meta["board"])
    if port is not None:
        return open_serial(port)
    binary = bd.path / bd.meta["firmware"]["executable"]
    if not binary.is_file():
        raise EdgeqError(f"{binary} is missing; rebuild with `edgeq build`")
    if board.is_native:
        return open_native(binary)
    if board.emulator is None:
        raise EdgeqError(f"board {board.id} is a physical board: flash it (`edgeq flash`) and pass --port")
    artifact = FirmwareArtifact(board.id, binary, FirmwareSize(0, 0, 0, 0, 0), elf=binary)
    return open_qemu(qemu_command(artifact, board))


def _qparams(meta: dict[str, Any]) -> QuantParams:
    return QuantParams.per_tensor(meta["scale"], meta["zero_point"])


def prepare_inputs(bd: BuildDir, x: np.ndarray, source: str, raw: bool = False) -> np.ndarray:
    """User-layout samples to int8 rows [N, input_size] in graph layout."""
    meta = bd.meta["input"]
    x = check_samples(x, tuple(meta["user_shape"]), source, raw=raw)
    x = to_graph_layout(x, meta["layout"])
    q = x if raw else _qparams(meta).quantize(x.astype(np.float32))
    return np.ascontiguousarray(q.reshape(len(q), -1))


def outputs_to_user(bd: BuildDir, y: np.ndarray, raw: bool = False) -> np.ndarray:
    meta = bd.meta["output"]
    shaped = y.reshape(len(y), *meta["graph_shape"][1:])
    out = shaped if raw else _qparams(meta).dequantize(shaped)
    return from_graph_layout(out, meta["layout"])


@dataclass
class RunOutcome:
    outputs: np.ndarray  # user layout; float, or int8 with raw
    counts: np.ndarray
    count_unit: str
    failures: dict[int, str]


def run_build(bd: BuildDir, x: np.ndarray, source: str, raw: bool = False, port: str | None = None,
              tick: Tick | None = None) -> RunOutcome:
    rows = prepare_inputs(bd, x, source, raw)
    with open_target(bd, port) as target:
        result = target.infer(rows, progress=tick)
    return RunOutcome(outputs_to_user(bd, result.outputs, raw), result.counts, result.count_unit,
                      dict(result.failures))


def reference_outputs(bd: BuildDir, rows: np.ndarray) -> np.ndarray:
    _, quantized = bd.graphs()
    shape = quantized.tensors[quantized.inputs[0]].shape
    y = run_int8(quantized, [rows.reshape(len(rows), *shape[1:])])[0]
    return y.reshape(len(rows), -1)


def float_outputs(bd: BuildDir, x_user: np.ndarray) -> np.ndarray | None:
    """The float model's outputs, or None for an imported int8 model (no float model)."""
    float_graph, _ = bd.graphs()
    if float_graph is None:
        return None
    x = to_graph_layout(x_user.astype(np.float32), bd.meta["input"]["layout"])
    return run_float(float_graph, [x])[0].reshape(len(x), -1)
