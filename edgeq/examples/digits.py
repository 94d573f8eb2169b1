"""A small CNN trained on scikit-learn's bundled 8x8 digits (PyTorch or Keras).

`edgeq example digits -o DIR` writes DIR/digits.pt2 (or .keras), DIR/calib.npy (200
training images) and DIR/test.npz (held-out images x and labels y), all in the
framework's own layout: NCHW [N, 1, 8, 8] for PyTorch, NHWC [N, 8, 8, 1] for Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError


@dataclass
class DigitsData:
    x_train: np.ndarray  # NHWC float32 in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_nhwc(seed: int = 0) -> DigitsData:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise EdgeqError("the digits example needs scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return DigitsData(x[:split], y[:split], x[split:], y[split:])


def train_torch(data: DigitsData, epochs: int = 20, seed: int = 0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6(),
        nn.Conv2d(16, 32, 1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding="same"), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.1), nn.Linear(32 * 4 * 4, 10),
    )
    x = torch.from_numpy(data.x_train.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    torch.set_num_threads(threads)
    return model.eval()


def train_keras(data: DigitsData, epochs: int = 20, seed: int = 0) -> Any:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.SeparableConv2D(32, 3, padding="same", activation="relu")(h)
    shortcut = keras.layers.Conv2D(32, 1)(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(shortcut)
    h = keras.layers.Add()([h, shortcut])
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.1)(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs, name="digits_keras")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=128, verbose=0)
    return model


def write_example(out: Path, framework: str = "pytorch", epochs: int = 20) -> dict[str, Path]:
    """Train and save the model, calibration set and test set; returns their paths."""
    data = load_digits_nhwc()
    out.mkdir(parents=True, exist_ok=True)
    nchw = framework == "pytorch"
    layout = (lambda a: a.transpose(0, 3, 1, 2).copy()) if nchw else (lambda a: a)
    if framework == "pytorch":
        import torch

        model = train_torch(data, epochs)
        example = torch.from_numpy(layout(data.x_train[:1]))
        model_path = out / "digits.pt2"
        torch.export.save(torch.export.export(model, (example,)), str(model_path))
    elif framework == "keras":
        model = train_keras(data, epochs)
        model_path = out / "digits.keras"
        model.save(model_path)
    else:
        raise EdgeqError(f"unknown framework {framework!r}; choose pytorch or keras")
    calib_path, test_path = out / "calib.npy", out / "test.npz"
    np.save(calib_path, layout(data.x_train[:200]))
    np.savez(test_path, x=layout(data.x_test), y=data.y_test)
    return {"model": model_path, "calib": calib_path, "test": test_path}
