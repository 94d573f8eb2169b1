"""Loading and checking user data: calibration sets, inputs and labelled validation sets.

Arrays come in the user's layout (NCHW for PyTorch images); `to_graph_layout` turns them
into the graph's NHWC. Every problem is an EdgeqError naming the file and what is wrong.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray | None = None
    source: str = "data"


def load_array_file(path: str | Path, what: str = "data") -> Dataset:
    """A .npy (array of samples) or .npz (key `x`, optional `y`) file."""
    p = Path(path)
    if not p.is_file():
        raise EdgeqError(f"{what} file {p} does not exist")
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z.files:
                    raise EdgeqError(f"{what} file {p} has no array 'x' (it has: {', '.join(z.files) or 'none'})")
                return Dataset(z["x"], z["y"] if "y" in z.files else None, str(p))
        if p.suffix == ".npy":
            return Dataset(np.load(p, allow_pickle=False), None, str(p))
    except EdgeqError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise EdgeqError(f"{what} file {p} is not a readable numpy file: {str(e).splitlines()[0]}") from None
    raise EdgeqError(f"{what} file {p}: unknown type {p.suffix or '(none)'!r}; use .npy or .npz")


def check_samples(x: np.ndarray, sample_shape: tuple[int, ...], source: str, raw: bool = False) -> np.ndarray:
    """Validate an array of samples [N, *sample_shape] (a single sample is accepted too)."""
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise EdgeqError(f"{source}: dtype {x.dtype} is not numeric")
    if raw and x.dtype != np.int8:
        raise EdgeqError(f"{source}: --raw inputs must be int8, got {x.dtype}")
    if tuple(x.shape) == tuple(sample_shape):
        x = x[None]
    if x.ndim != len(sample_shape) + 1:
        raise EdgeqError(f"{source}: expected samples of shape {list(sample_shape)} (array rank "
                         f"{len(sample_shape) + 1} with the sample axis first), got shape {list(x.shape)}")
    if tuple(x.shape[1:]) != tuple(sample_shape):
        raise EdgeqError(f"{source}: samples have shape {list(x.shape[1:])}, the model takes {list(sample_shape)}")
    if x.shape[0] == 0:
        raise EdgeqError(f"{source}: no samples (the array is empty)")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0][0])
        raise EdgeqError(f"{source}: NaN or inf values (first in sample {bad})")
    return x


def to_graph_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Samples [N, ...] from the user's layout to the graph's (NCHW -> NHWC for images)."""
    if layout == "NCHW" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def from_graph_layout(x: np.ndarray, layout: str) -> np.ndarray:
    if layout == "NCHW" and x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def user_shape(graph_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """One sample's shape as the user gives it (no batch axis)."""
    if layout == "NCHW" and len(graph_shape) == 4:
        _, h, w, c = graph_shape
        return (c, h, w)
    return tuple(graph_shape[1:])


def batches(x: np.ndarray, size: int = 32) -> Iterator[np.ndarray]:
    for i in range(0, len(x), size):
        yield x[i : i + size]


def as_array(data: np.ndarray | Iterable[np.ndarray] | str | Path, what: str = "calibration data") -> Dataset:
    """Calibration data from the API: an array, an iterable of samples or batches, or a file."""
    if isinstance(data, str | Path):
        return load_array_file(data, what)
    if isinstance(data, Dataset):
        return data
    if isinstance(data, np.ndarray):
        return Dataset(data, None, what)
    if hasattr(data, "numpy") and not isinstance(data, Iterable):
        return Dataset(np.asarray(data.numpy()), None, what)
    items = [np.asarray(item.numpy() if hasattr(item, "numpy") else item) for item in data]
    if not items:
        raise EdgeqError(f"{what}: no samples (the iterable is empty)")
    if len({i.shape for i in items}) != 1:
        raise EdgeqError(f"{what}: items of the iterable have different shapes")
    stacked = np.stack(items)
    return Dataset(stacked, None, what)


def flatten_batches(x: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """[K, B, *sample] (an iterable of batches) to [K*B, *sample]; anything else unchanged."""
    if x.ndim == len(sample_shape) + 2 and tuple(x.shape[2:]) == tuple(sample_shape):
        return x.reshape(-1, *sample_shape)
    return x
