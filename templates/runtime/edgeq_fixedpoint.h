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

#endif /* EDGEQ_FIXEDPOINT_H */
