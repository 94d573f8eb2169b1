"""Real models on every emulated core: outputs equal the native build and the numpy int8
reference byte for byte (each core takes its own kernel variant: portable on M3, DSP on
M4/M7/M33, the M55's variant)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq.api import build
from edgeq.builddir import BuildDir
from edgeq.execute import reference_outputs

MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
CORES = ["qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55"]
#: model -> (input shape, samples): ResNet-8 (conv, add), MobileNet VWW (depthwise, 1x1 conv).
MODELS = {"pretrainedResnet_quant": ((32, 32, 3), 8), "vww_96_int8": ((96, 96, 3), 2)}

pytestmark = [
    pytest.mark.qemu, pytest.mark.arm, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="qemu-system-arm / arm-none-eabi-gcc not installed"),
]


@pytest.fixture(scope="module", params=list(MODELS))
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, np.ndarray, np.ndarray]:
    """A MLPerf Tiny int8 .tflite, random int8 inputs, and outputs of its native build
    (checked equal to the numpy reference)."""
    name = request.param
    path = MLPERF / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    shape, n = MODELS[name]
    x = np.random.default_rng(0).integers(-128, 128, size=(n, *shape)).astype(np.int8)
    native = build(str(path), board="native", out=tmp_path_factory.mktemp("native") / name)
    y_native = native.run(x, raw=True).reshape(n, -1)
    y_ref = reference_outputs(BuildDir.open(native.path), x.reshape(n, -1))
    np.testing.assert_array_equal(y_native, y_ref)
    return path, x, y_ref


@pytest.mark.parametrize("board", CORES)
def test_real_model_on_every_emulated_core(board: str, reference: tuple[Path, np.ndarray, np.ndarray],
                                           tmp_path: Path) -> None:
    path, x, y_ref = reference
    built = build(str(path), board=board, out=tmp_path / board)
    outcome = built.run_detailed(x, raw=True)
    assert not outcome.failures
    np.testing.assert_array_equal(outcome.outputs.reshape(len(x), -1), y_ref)
    assert outcome.count_unit == "instructions" and np.all(outcome.counts > 0)
