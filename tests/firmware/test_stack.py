"""The stack reserve: each build sets it from the model (the firmware's own need plus the
largest kernel scratch buffer, EDGEQ_MODEL_STACK_BYTES), and the firmware's `stack%` command
reports the high-water mark of a painted stack. Running the MLPerf Tiny models on the emulated
Cortex-M4 shows the reserve is enough."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

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
@pytest.mark.parametrize("model", ["pretrainedResnet_quant.tflite", "vww_96_int8.tflite", "ad01_int8.tflite"])
def test_mlperf_models_fit_their_stack_reserve(model: str, tmp_path: Path) -> None:
    if not (MLPERF / model).is_file():
        pytest.skip(f"{MLPERF / model} missing")
    from edgeq.api import build
    from edgeq.execute import open_target

    built = build(str(MLPERF / model), board="qemu-cortex-m4", out=tmp_path / "b", force=True)
    src = built.build_dir.path / "src"
    reserve = model_stack_bytes(src, 0)
    assert 0 < reserve < 8192
    _, q = built.build_dir.graphs()
    x = np.random.default_rng(0).integers(-128, 128, size=(1, q.tensors[q.inputs[0]].size)).astype(np.int8)
    with open_target(built.build_dir) as target:
        target.infer(x)
        target.infer_layers(x)  # the layer hook and the frame code run too
        used, size = _stack(target)
    assert size == reserve
    assert 0 < used <= reserve - 128  # some margin left


def test_stack_command_on_the_host(tiny_model, tmp_path: Path) -> None:
    """The native build has no reserve of its own: `stack%` answers 0/0."""
    from edgeq.boards import load_board
    from edgeq.runner import open_native
    from edgeq.toolchain.firmware import build_firmware

    artifact = build_firmware(tiny_model.src, load_board("native"), tmp_path)
    with open_native(artifact.executable) as target:
        assert _stack(target) == (0, 0)
