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


# --- gemmlowp fixed-point math (softmax, logistic, tanh) -------------------------------
# A value with `integer_bits` integer bits is an int32 raw x meaning x / 2**(31 - integer_bits).
# The C twins in edgeq_fixedpoint.h take the integer bits as a run-time argument.

_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))  # (exponent e, exp(-2**e) in Q0.31)


def add_wrap(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """int32 addition with two's-complement wrap (gemmlowp's plain Add)."""
    return wrap_int32(_i64(a) + _i64(b))


def sub_wrap(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return wrap_int32(_i64(a) - _i64(b))


def saturating_rounding_multiply_by_pot(x: np.ndarray | int, exponent: int) -> np.ndarray:
    """x * 2**exponent: saturating for exponent > 0, rounding (half away) for exponent < 0."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: np.ndarray | int, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp's Rescale<dst>(FixedPoint<src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """(a + b) / 2 rounded half away from zero (C's truncating division of sum +- 1)."""
    s = _i64(a) + _i64(b)
    t = s + np.where(s >= 0, 1, -1)
    return np.where(t >= 0, t // 2, -((-t) // 2))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray | int) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    srdhm = saturating_rounding_doubling_high_mul
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = add_wrap(a, 1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(add_wrap(srdhm(add_wrap(x4_over_4, x3), one_third), x2), 1)
    return add_wrap(constant_term, srdhm(constant_term, add_wrap(x, poly)))


def exp_on_negative_values(a: np.ndarray | int, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 with `integer_bits` integer bits in; Q0.31 out (gemmlowp)."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = sub_wrap(a & (one_quarter - 1), one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = sub_wrap(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0,
                              saturating_rounding_doubling_high_mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_f2(half_denominator: np.ndarray) -> np.ndarray:
    """Three Newton-Raphson steps for 1 / half_denominator (Q0.31 in, Q2.29 out)."""
    srdhm = saturating_rounding_doubling_high_mul
    x = add_wrap(1515870810, srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus = sub_wrap(1 << 29, srdhm(half_denominator, x))
        x = add_wrap(x, rescale(srdhm(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray | int) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (gemmlowp)."""
    x = _newton_reciprocal_f2(rounding_half_sum(a, INT32_MAX))
    return rescale(x, 1, 0)  # ExactMulByPot<-1> makes Q1.30, then Rescale<0>


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray | int) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out (gemmlowp)."""
    x = _newton_reciprocal_f2(rounding_half_sum(a, INT32_MAX))
    return rescale(sub_wrap(x, 1 << 29), 2, 0)


def fixed_logistic(a: np.ndarray | int, integer_bits: int) -> np.ndarray:
    """gemmlowp::logistic: `integer_bits` integer bits in, Q0.31 out."""
    a = _i64(a)
    positive = a > 0
    abs_a = np.where(positive, a, wrap_int32(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_a), integer_bits))
    if_negative = sub_wrap(INT32_MAX, if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def fixed_tanh(a: np.ndarray | int, integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh: `integer_bits` integer bits in, Q0.31 out."""
    a = _i64(a)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    # ExactMulByPot<1>: the same raw value read with one more integer bit is 2n.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def count_leading_zeros32(x: np.ndarray | int) -> np.ndarray:
    """Leading zero bits of x read as uint32 (32 for 0)."""
    u = _i64(x) & 0xFFFFFFFF
    _, exponent = np.frexp(u.astype(np.float64))  # exact: u < 2**53
    return 32 - exponent.astype(np.int64)


def get_reciprocal(x: np.ndarray | int, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal: (1 / x as Q0.31 of x scaled into [1, 2), num_bits_over_unit)."""
    u = _i64(x) & 0xFFFFFFFF
    headroom_plus_one = count_leading_zeros32(u)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_minus_one = wrap_int32(((u << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), num_bits_over_unit


def multiply_by_quantized_multiplier_greater_than_one(
    x: np.ndarray | int, multiplier: int, left_shift: int
) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplierGreaterThanOne (double rounding build)."""
    return saturating_rounding_doubling_high_mul(wrap_int32(_i64(x) << left_shift), multiplier)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest input magnitude that does not saturate."""
    radius = ((1 << input_integer_bits) - 1) * 2.0 ** (total_signed_bits - input_integer_bits)
    return math.floor(radius / 2.0**input_left_shift)


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLite's PreprocessSoftmaxScaling (double rounding build): (multiplier, left shift)."""
    real = min(beta * input_scale * float(1 << (31 - input_integer_bits)), float((1 << 31) - 1))
    if real <= 1.0:
        raise ValueError(f"softmax: beta * input_scale = {beta * input_scale} is too small")
    q, shift = math.frexp(real)
    q_fixed = round_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    return int(q_fixed), int(shift)


def frexp_multiplier(real: float) -> tuple[int, int]:
    """(round(q * 2**31), exponent) with real = q * 2**exponent, q in [0.5, 1): the input
    multiplier of TFLite's int8 LOGISTIC and TANH (no renormalisation of q == 1)."""
    q, shift = math.frexp(real)
    return wrap_int32(round_away(q * (1 << 31))).item(), int(shift)
