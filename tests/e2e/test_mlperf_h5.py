"""The MLPerf Tiny reference Keras models build for native with random calibration data
and run bit-exact against the numpy int8 reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeq

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"

pytestmark = [pytest.mark.keras, pytest.mark.slow]


@pytest.mark.parametrize(("file", "shape"), [
    ("pretrainedResnet.h5", (32, 32, 3)),
    ("ad01.h5", (640,)),
    ("vww_96.h5", (96, 96, 3)),
])
def test_mlperf_model_native_bit_exact(file: str, shape: tuple[int, ...], tmp_path: Path) -> None:
    pytest.importorskip("keras")
    path = MODELS / file
    if not path.is_file():
        pytest.skip(f"{path} not present")
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, size=(8, *shape)).astype(np.float32)
    built = edgeq.build(str(path), board="native", calib=calib, out=tmp_path / "b")
    validation = built.validate(rng.uniform(0, 1, size=(6, *shape)).astype(np.float32))
    assert validation["bit_exact"], validation
    report = built.report
    assert report["macs"] > 0
    assert report["model"]["format"] == "keras"
