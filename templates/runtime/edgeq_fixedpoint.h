/* edgeq fixed-point arithmetic: TFLite Micro's default rounding, bit for bit.
 * The Python twin is edgeq/quant/fixedpoint.py; tests compare the two exactly.
 * Right shifts of negative values are arithmetic (true of every compiler edgeq supports). */
#ifndef EDGEQ_FIXEDPOINT_H
#define EDGEQ_FIXEDPOINT_H

#include <stdint.h>

/* Saturating rounding doubling high multiply: (a * b * 2 + 2^31) >> 32, rounded half away
 * from zero; the one overflow case (INT32_MIN * INT32_MIN) saturates to INT32_MAX. */
static inline int32_t edgeq_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (INT64_C(1) - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* x / 2^exponent rounded half away from zero. exponent in [0, 31]. */
static inline int32_t edgeq_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((INT64_C(1) << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), as TFLite Micro's MultiplyByQuantizedMultiplier.
 * multiplier in [2^30, 2^31) or 0; shift in [-31, 30]. The left shift wraps like int32. */
static inline int32_t edgeq_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return edgeq_rdbpot(edgeq_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp: shift in [-31, 0]. */
static inline int32_t edgeq_mbqm_lt1(int32_t x, int32_t multiplier, int32_t shift)
{
    return edgeq_rdbpot(edgeq_srdhm(x, multiplier), -shift);
}

static inline int32_t edgeq_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ---- gemmlowp fixed-point math (SOFTMAX, LOGISTIC, TANH) -------------------------------
 * A value with `integer_bits` integer bits is an int32 raw x meaning x / 2^(31 - integer_bits).
 * Additions wrap like two's complement (gemmlowp's plain Add, without signed overflow). */

static inline int32_t edgeq_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t edgeq_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* x * 2^exponent: saturating for exponent in [1, 30], rounding for exponent in [-31, -1]. */
static inline int32_t edgeq_srmbpot(int32_t x, int32_t exponent)
{
    if (exponent == 0) {
        return x;
    }
    if (exponent < 0) {
        return edgeq_rdbpot(x, -exponent);
    }
    const int32_t threshold = (int32_t)((INT32_C(1) << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t edgeq_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8. */
static inline int32_t edgeq_exp_on_interval_neg_quarter_0(int32_t a)
{
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = edgeq_add_wrap(a, INT32_C(1) << 28);
    const int32_t x2 = edgeq_srdhm(x, x);
    const int32_t x3 = edgeq_srdhm(x2, x);
    const int32_t x4 = edgeq_srdhm(x2, x2);
    const int32_t x4_over_4 = edgeq_rdbpot(x4, 2);
    const int32_t poly = edgeq_rdbpot(edgeq_add_wrap(edgeq_srdhm(edgeq_add_wrap(x4_over_4, x3), one_third), x2), 1);
    return edgeq_add_wrap(constant_term, edgeq_srdhm(constant_term, edgeq_add_wrap(x, poly)));
}

/* exp(a) for a <= 0 with integer_bits in [0, 30] integer bits; Q0.31 out. */
static inline int32_t edgeq_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t barrel[7] = { 1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242 };
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = INT32_C(1) << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = edgeq_sub_wrap(a & (one_quarter - 1), one_quarter);
    int32_t result = edgeq_exp_on_interval_neg_quarter_0(edgeq_srmbpot(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = edgeq_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    for (int32_t e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & (INT32_C(1) << (fractional_bits + e))) != 0) {
            result = edgeq_srdhm(result, barrel[e + 2]);
        }
    }
    if (integer_bits > 5 && a < -(INT32_C(1) << (36 - integer_bits))) {
        result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

/* Three Newton-Raphson steps for 1 / half_denominator (Q0.31 in, Q2.29 out). */
static inline int32_t edgeq_newton_reciprocal_f2(int32_t half_denominator)
{
    int32_t x = edgeq_add_wrap(1515870810, edgeq_srdhm(half_denominator, -1010580540));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t one_minus = edgeq_sub_wrap(INT32_C(1) << 29, edgeq_srdhm(half_denominator, x));
        x = edgeq_add_wrap(x, edgeq_srmbpot(edgeq_srdhm(x, one_minus), 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t edgeq_one_over_one_plus_x(int32_t a)
{
    return edgeq_srmbpot(edgeq_newton_reciprocal_f2(edgeq_rounding_half_sum(a, INT32_MAX)), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t edgeq_one_minus_x_over_one_plus_x(int32_t a)
{
    const int32_t x = edgeq_newton_reciprocal_f2(edgeq_rounding_half_sum(a, INT32_MAX));
    return edgeq_srmbpot(edgeq_sub_wrap(x, INT32_C(1) << 29), 2);
}

/* gemmlowp::logistic: integer_bits integer bits in, Q0.31 out. */
static inline int32_t edgeq_fixed_logistic(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return INT32_C(1) << 30;
    }
    const int32_t abs_a = a > 0 ? a : edgeq_sub_wrap(0, a);
    const int32_t if_positive = edgeq_one_over_one_plus_x(edgeq_exp_on_negative_values(edgeq_sub_wrap(0, abs_a), integer_bits));
    return a > 0 ? if_positive : edgeq_sub_wrap(INT32_MAX, if_positive);
}

/* gemmlowp::tanh: integer_bits integer bits in, Q0.31 out. */
static inline int32_t edgeq_fixed_tanh(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return 0;
    }
    const int32_t n = a < 0 ? a : edgeq_sub_wrap(0, a);
    /* The same raw value read with one more integer bit is 2n. */
    const int32_t t = edgeq_one_minus_x_over_one_plus_x(edgeq_exp_on_negative_values(n, integer_bits + 1));
    return a < 0 ? edgeq_sub_wrap(0, t) : t;
}

/* Leading zero bits of x (32 for 0). */
static inline int32_t edgeq_clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* TFLite's GetReciprocal: 1 / x (x > 0 with x_integer_digits integer bits) as a Q0.31
 * reciprocal of x scaled into [1, 2), and the number of bits x has above one. */
static inline int32_t edgeq_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = edgeq_clz32((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    const int32_t shifted_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - UINT32_C(0x80000000));
    return edgeq_one_over_one_plus_x(shifted_minus_one);
}

/* TFLite's MultiplyByQuantizedMultiplierGreaterThanOne: left_shift in [0, 31], wrapping. */
static inline int32_t edgeq_mbqm_gt1(int32_t x, int32_t multiplier, int32_t left_shift)
{
    return edgeq_srdhm((int32_t)((uint32_t)x << left_shift), multiplier);
}

#endif /* EDGEQ_FIXEDPOINT_H */
