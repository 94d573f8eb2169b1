"""Quantizer comparison: edgeq's post-training quantization vs the TFLite converter's full-integer
quantization of the Keras digits model, on the same calibration samples and held-out data."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")

from edgeq.compare import compare_quantizers, format_table, main


def test_edgeq_no_worse_than_tflite() -> None:
    result = compare_quantizers(epochs=20, calib_samples=200)
    print("\n" + format_table(result))
    acc = result["accuracy"]
    assert acc["float"] > 0.9
    assert acc["edgeq_int8"] >= acc["tflite_int8"] - 0.005, acc


def test_compare_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--epochs", "0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgeq: error: ") and "\n" not in err
