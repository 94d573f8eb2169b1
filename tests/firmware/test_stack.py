"""The stack reserve: each build sets it from the model (EDGEQ_MODEL_STACK_BYTES: the firmware's
measured need plus a margin; kernel scratch lives in the arena), and the firmware's `stack%`
command reports the high-water mark of a painted stack. Running the MLPerf Tiny models on the
emulated cores (binary INFER, INFER_LAYERS and an ASCII db load + infer) shows the reserve is
enough, with the stated margin left."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgeq.boards import load_board
from edgeq.codegen.emitter import FIRMWARE_STACK_BYTES, STACK_MARGIN_BYTES, stack_reserve
from edgeq.runner import protocol as P
from edgeq.toolchain.firmware import model_stack_bytes

from .conftest import needs_qemu

MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"


def _stack(target) -> tuple[int, int]:
    lines = target.ascii("stack%")
    m = next(re.search(r"m-stack-\[(\d+)/(\d+)\]", ln) for ln in lines if "m-stack-" in ln)
    assert m is not None
    return int(m.group(1)), int(m.group(2))


@needs_qemu
@pytest.mark.qemu
@pytest.mark.parametrize("board,model", [
    ("qemu-cortex-m4", "pretrainedResnet_quant.tflite"), ("qemu-cortex-m4", "vww_96_int8.tflite"),
    ("qemu-cortex-m4", "ad01_int8.tflite"), ("qemu-cortex-m55", "vww_96_int8.tflite"),
    ("qemu-cortex-m3", "pretrainedResnet_quant.tflite")])
def test_mlperf_models_fit_their_stack_reserve(board: str, model: str, tmp_path: Path) -> None:
    if not (MLPERF / model).is_file():
        pytest.skip(f"{MLPERF / model} missing")
    from edgeq.api import build
    from edgeq.execute import open_target

    built = build(str(MLPERF / model), board=board, out=tmp_path / "b", force=True)
    src = built.build_dir.path / "src"
    reserve = model_stack_bytes(src, 0)
    assert 0 < reserve < 8192
    _, q = built.build_dir.graphs()
    x = np.random.default_rng(0).integers(-128, 128, size=(1, q.tensors[q.inputs[0]].size)).astype(np.int8)
    with open_target(built.build_dir) as target:
        target.infer(x)
        target.infer_layers(x)  # the layer hook and the frame code run too
        for command in P.db_commands(x.tobytes()):  # the ASCII path: db load, infer
            target.ascii(command.decode())
        assert any(line.startswith("m-results-") for line in target.ascii("infer 1 0%"))
        used, size = _stack(target)
    assert size == reserve >= stack_reserve()
    if "mve" not in load_board(board).features:  # the dsp/portable kernels' scratch is in the arena
        assert reserve == stack_reserve()
        assert 0 < used <= FIRMWARE_STACK_BYTES  # the measured figure still holds
    # (the mve kernels keep their buffers on the stack: the reserve adds their estimate)
    assert reserve - used >= STACK_MARGIN_BYTES


def test_stack_command_on_the_host(tiny_model, tmp_path: Path) -> None:
    """The native build has no reserve of its own: `stack%` answers 0/0."""
    from edgeq.boards import load_board
    from edgeq.runner import open_native
    from edgeq.toolchain.firmware import build_firmware

    artifact = build_firmware(tiny_model.src, load_board("native"), tmp_path)
    with open_native(artifact.executable) as target:
        assert _stack(target) == (0, 0)
