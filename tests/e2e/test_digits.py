"""PyTorch and Keras CNNs trained on scikit-learn's digits: int8 accuracy within 1 point of
float, and the native build bit-exact with the numpy reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeq
from edgeq.examples.digits import DigitsData, load_digits_nhwc, train_keras, train_torch


@pytest.fixture(scope="module")
def digits() -> DigitsData:
    return load_digits_nhwc()


def _check_built(built: edgeq.api.BuiltModel, x_test: np.ndarray, y_test: np.ndarray) -> None:
    validation = built.validate(x_test, y_test)
    assert validation["bit_exact"], validation
    assert validation["samples"] == len(x_test)
    acc = validation["accuracy"]
    assert acc["float"] > 0.9
    assert acc["int8_reference"] >= acc["float"] - 0.01
    assert acc["target"] == acc["int8_reference"]
    report = built.report
    assert report["size"]["arena_bytes"] > 0 and report["memory"]["naive_bytes"] >= report["size"]["arena_bytes"]
    assert {"name", "op", "macs", "weights_bytes", "output_shape"} <= set(report["layers"][0])


@pytest.mark.torch
def test_pytorch_digits_native(digits: DigitsData, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = train_torch(digits)
    nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # noqa: E731
    built = edgeq.build(model, board="native", calib=nchw(digits.x_train[:200]), out=tmp_path / "b",
                        example_input=torch.from_numpy(nchw(digits.x_train[:1])))
    _check_built(built, nchw(digits.x_test), digits.y_test)
    # run() takes NCHW floats and returns dequantized outputs close to the float model's.
    y = built.run(nchw(digits.x_test[:20]))
    with torch.no_grad():
        ref = model(torch.from_numpy(nchw(digits.x_test[:20]))).numpy()
    assert y.shape == ref.shape
    assert np.mean(np.argmax(y, 1) == np.argmax(ref, 1)) >= 0.9


@pytest.mark.keras
def test_keras_digits_native(digits: DigitsData, tmp_path: Path) -> None:
    pytest.importorskip("keras")
    model = train_keras(digits)
    built = edgeq.build(model, board="native", calib=digits.x_train[:200], out=tmp_path / "b")
    _check_built(built, digits.x_test, digits.y_test)
    kinds = {row["op"] for row in built.report["layers"]}
    # the residual ADD is folded into the conv that feeds it (one conv2d_add layer)
    assert {"conv2d", "depthwise_conv2d", "conv2d_add", "softmax"} <= kinds
