"""The Python twin of templates/runtime/edgeq_fixedpoint.h.

Integer helpers with TFLite Micro's default rounding (gemmlowp's saturating rounding
doubling high multiply, then rounding divide by a power of two, ties away from zero).
Every function works elementwise on numpy integer arrays and returns int64 arrays holding
int32 values, so the C header and this module agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _i64(x: np.ndarray | int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: np.ndarray | int) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (what C does on uint32 arithmetic)."""
    return _i64(x).astype(np.int32).astype(np.int64)


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    a, b = np.broadcast_arrays(_i64(a), _i64(b))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C's int64 division truncates toward zero.
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    x, exponent = np.broadcast_arrays(_i64(x), _i64(exponent))
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite Micro's MultiplyByQuantizedMultiplier (double rounding)."""
    x, multiplier, shift = np.broadcast_arrays(_i64(x), _i64(multiplier), _i64(shift))
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    shifted = wrap_int32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: np.ndarray | int, multiplier: np.ndarray | int, left_shift: np.ndarray | int
) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp (used by ADD)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -_i64(left_shift))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A positive real multiplier as (int32 q31 multiplier, shift), as TFLite computes it.

    real == multiplier * 2**(shift - 31).
    """
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"multiplier must be finite and non-negative, got {real}")
    q, shift = math.frexp(real)
    q_fixed = round_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier must be in (0, 1), got {real}")
    q, shift = quantize_multiplier(real)
    return q, shift


def round_away(x: float) -> int:
    """std::round: halves away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def saturate_int8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -128, 127).astype(np.int8)
