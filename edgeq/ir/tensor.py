"""Tensor types of the IR."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class DType(StrEnum):
    FLOAT32 = "float32"
    INT8 = "int8"
    INT32 = "int32"

    @property
    def itemsize(self) -> int:
        return {"float32": 4, "int8": 1, "int32": 4}[self.value]

    @property
    def c_type(self) -> str:
        return {"float32": "float", "int8": "int8_t", "int32": "int32_t"}[self.value]


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel.

    `scale` and `zero_point` are 1-D arrays; with `axis=None` they have one element.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self) -> None:
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float64))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int) -> QuantParams:
        return cls(np.array([scale]), np.array([zero_point]), None)

    @property
    def is_per_tensor(self) -> bool:
        return self.axis is None

    def same_as(self, other: QuantParams | None) -> bool:
        return (
            other is not None
            and self.axis == other.axis
            and self.scale.shape == other.scale.shape
            and bool(np.all(self.scale == other.scale))
            and bool(np.all(self.zero_point == other.zero_point))
        )

    @property
    def s(self) -> float:
        """The per-tensor scale."""
        assert self.axis is None
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        """The per-tensor zero point."""
        assert self.axis is None
        return int(self.zero_point[0])

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float to int8 as TFLite does it: round half away from zero, then saturate."""
        q = _round_half_away(np.asarray(x, dtype=np.float64) / self.s) + self.zp
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((q.astype(np.float64) - self.zp) * self.s).astype(np.float32)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


@dataclass
class Tensor:
    """A tensor of the graph. Activations have `data=None`; constants carry their data.

    Rank-4 activations are NHWC. Constant layouts are fixed per op (see edgeq/ops).
    """

    name: str
    shape: tuple[int, ...]
    dtype: DType = DType.FLOAT32
    data: np.ndarray | None = None
    quant: QuantParams | None = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize
