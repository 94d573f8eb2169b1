/* edgeq kernel helpers: unaligned loads, int8 -> int16 expansion and (on cores with the DSP
 * extension) the ACLE dual 16-bit multiply-accumulate intrinsics. Included by the generated
 * conv / depthwise / fully connected kernels; everything here is static inline. */
#ifndef EDGEQ_KERNELS_H
#define EDGEQ_KERNELS_H

#include <stdint.h>
#include <string.h>
#include "edgeq_fixedpoint.h"

/* EDGEQ_USE_DSP: the model was generated for a core with the DSP extension (cpu feature dsp);
 * compiling it for a core without one fails on the undeclared intrinsics. */
#if defined(EDGEQ_USE_DSP) || defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* Inner loops with many live values: GCC's scheduling before register allocation hoists every
 * load of an unrolled body and spills; these functions keep the source order instead. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__arm__)
#define EDGEQ_NO_PRESCHED __attribute__((optimize("no-schedule-insns")))
#else
#define EDGEQ_NO_PRESCHED
#endif

/* An int32 that may alias other types: aligned word reads of the kernels' int16 buffers. */
typedef int32_t edgeq_word_t __attribute__((may_alias, aligned(4)));

static inline uint32_t edgeq_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void edgeq_write32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* edgeq_mbqm for the requantization of kernels (multiplier in [2^30, 2^31) or 0, shift in
 * [-31, 30]), bit for bit, without 64-bit division: srdhm's (ab + nudge) / 2^31 truncated
 * towards zero equals floor((ab + 2^30) / 2^31) for either sign of ab, and rounding half away
 * from zero by 2^right keeps TFLite's remainder/threshold test in 32 bits. */
static inline int32_t edgeq_mbqm_fast(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * (int64_t)multiplier;
    const int32_t high = (int32_t)((ab + (INT64_C(1) << 30)) >> 31);
    const int32_t mask = (int32_t)((UINT32_C(1) << right) - UINT32_C(1));
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)high >> 31);
    return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

/* edgeq_mbqm_fast for shift <= 0 (a layer whose multipliers are all below one). */
static inline int32_t edgeq_mbqm_right(int32_t x, int32_t multiplier, int32_t right)
{
    const int64_t ab = (int64_t)x * (int64_t)multiplier;
    const int32_t high = (int32_t)((ab + (INT64_C(1) << 30)) >> 31);
    const int32_t mask = (int32_t)((UINT32_C(1) << right) - UINT32_C(1));
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)high >> 31);
    return (high >> right) + ((high & mask) > threshold ? 1 : 0);
}

/* y clamped to [lo, hi] as int8; one SSAT where the range is the whole int8 range. */
static inline int8_t edgeq_to_int8(int32_t y, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_SAT)
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(y, 8);
    }
#endif
    return (int8_t)edgeq_clamp(y, lo, hi);
}

static inline int8_t edgeq_requant_right(int32_t acc, int32_t multiplier, int32_t right, int32_t offset,
                                         int32_t lo, int32_t hi)
{
    const int32_t y = edgeq_mbqm_right(acc, multiplier, right) + offset;
    return edgeq_to_int8(y, lo, hi);
}

/* edgeq_requant_right for a layer whose accumulators stay within +-2^30 and whose right
 * shifts are in [1, 23] (both checked at generation time), in fewer instructions:
 * - (acc * m + 2^30) >> 31 is SMMULR(2 * acc, m) ((2am + 2^31) >> 32, one instruction);
 * - rounding half away from zero by 2^right is (high - (high < 0) + 2^(right-1)) >> right,
 *   where the addition saturates: it overflows only for a result of at least 2^(31-right)
 *   >= 256, which the int8 clamp maps to the same byte as the exact value. */
static inline int8_t edgeq_requant_small(int32_t acc, int32_t multiplier, int32_t right, int32_t offset,
                                         int32_t lo, int32_t hi)
{
#if defined(EDGEQ_USE_DSP)
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc * 2), "r"(multiplier));
    const int32_t t = __qadd(high + (high >> 31), (int32_t)(UINT32_C(1) << (right - 1)));
#else
    const int32_t high = (int32_t)(((int64_t)acc * (int64_t)multiplier + (INT64_C(1) << 30)) >> 31);
    const int32_t down = high + (high >> 31);
    const int32_t half = (int32_t)(UINT32_C(1) << (right - 1));
    const int32_t t = down > INT32_MAX - half ? INT32_MAX : down + half;
#endif
    const int32_t y = (t >> right) + offset;
    return edgeq_to_int8(y, lo, hi);
}

/* edgeq_requant_small with the rounding half and the output offset folded into one per-channel
 * constant k = 2^(right-1) + (offset << right): y = sat(high - (high < 0) + k) >> right. The sum
 * saturates only where |y| >= 2^(31-right) >= 256, which the clamp maps to the exact byte. */
static inline int8_t edgeq_requant_k(int32_t acc, int32_t multiplier, int32_t right, int32_t k, int32_t lo,
                                     int32_t hi)
{
#if defined(EDGEQ_USE_DSP)
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc * 2), "r"(multiplier));
    int32_t y = __qadd(high + (high >> 31), k) >> right;
#else
    const int32_t high = (int32_t)(((int64_t)acc * (int64_t)multiplier + (INT64_C(1) << 30)) >> 31);
    const int64_t t = (int64_t)(high + (high >> 31)) + k;
    int32_t y = (int32_t)((t > INT32_MAX ? INT32_MAX : t < INT32_MIN ? INT32_MIN : t) >> right);
#endif
    y = y < lo ? lo : y;
    return (int8_t)(y > hi ? hi : y);
}

/* The float-bias requantization (models whose runtime adds a float bias before its single
 * rounding, PyTorch's fbgemm/x86): (acc * m + k) >> 31 with the per-channel k in [0, 2^31]
 * (stored as the bits of an int32) holding 2^30 and the bias's fraction times m; one SMLAL.
 * |acc| < 2^31 - 256 (checked at generation time) keeps the result and the offset in int32. */
static inline int32_t edgeq_requant_b64_high(int32_t acc, int32_t multiplier, int32_t k)
{
    return (int32_t)(((int64_t)acc * (int64_t)multiplier + (int64_t)(uint32_t)k) >> 31);
}

static inline int8_t edgeq_requant_b64(int32_t acc, int32_t multiplier, int32_t k, int32_t offset, int32_t lo,
                                       int32_t hi)
{
    return edgeq_to_int8(edgeq_requant_b64_high(acc, multiplier, k) + offset, lo, hi);
}

/* Requantize an int32 accumulator to the int8 output: edgeq_mbqm, offset, clamp. */
static inline int8_t edgeq_requant(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset,
                                   int32_t lo, int32_t hi)
{
    const int32_t y = edgeq_mbqm_fast(acc, multiplier, shift) + offset;
    return edgeq_to_int8(y, lo, hi);
}

/* A layer's requantization for the shared kernels: per-channel multipliers and shifts
 * (mask 0: one pair for the whole tensor), output offset and clamp, and which exact variant the
 * layer's numbers allow (checked at generation time); for EDGEQ_RQ_SMALL `k` holds the folded
 * rounding and offset of edgeq_requant_k, for EDGEQ_RQ_BIAS64 the constants of edgeq_requant_b64. */
#define EDGEQ_RQ_GENERAL 0
#define EDGEQ_RQ_RIGHT 1
#define EDGEQ_RQ_SMALL 2
#define EDGEQ_RQ_BIAS64 3
#define EDGEQ_RQ_WIDE_M2 4 /* EDGEQ_RQ_RIGHT, m stored as 2m - 2^32, the right shift r as r - 1 and
                            * k = 2 offset + 1 (dsp conv only) */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    const int32_t *k;
    int32_t mask;
    int32_t offset;
    int32_t lo;
    int32_t hi;
} edgeq_rq_t;

/* One output of a shared kernel: `kind` is a constant where the kernel is rendered, so the
 * call folds to one of the four exact requantizations. */
static inline int8_t edgeq_rq(int32_t kind, int32_t acc, int32_t multiplier, int32_t shift, int32_t k,
                              int32_t offset, int32_t lo, int32_t hi)
{
    if (kind == EDGEQ_RQ_BIAS64) {
        return edgeq_requant_b64(acc, multiplier, k, offset, lo, hi);
    }
    if (kind == EDGEQ_RQ_SMALL) {
        return edgeq_requant_k(acc, multiplier, shift, k, lo, hi);
    }
    if (kind == EDGEQ_RQ_RIGHT) {
        return edgeq_requant_right(acc, multiplier, shift, offset, lo, hi);
    }
    return edgeq_requant(acc, multiplier, shift, offset, lo, hi);
}

/* TFLite's int8 ADD (20-bit left shift), bit for bit, for the standalone ADD and the convolutions
 * that end in a residual ADD (one place for both). TFLite scales each operand: x' = (x + offset)
 * << 20, h = SRDHM(x', m) = (x' * m + 2^30) >> 31 (|x + offset| <= 255 keeps x' far from
 * INT32_MIN), then h / 2^right rounded half away from zero; then the sum the same way through the
 * output multiplier. The operand of the larger scale ("big") has m = 2^30 and no shift (its
 * scale over twice itself): its value is exactly (x + offset) << 19. For the other ("small"),
 * t = x << 21 + (offset << 21) gives h = (t * m + 2^31) >> 32 (SMMULR), and with right >= 1 the
 * rounding is (h + half - (h < 0)) >> right, half = 2^(right-1): h + half is one SMMLAR, and h < 0
 * exactly when t < 0 (or h is 0, where both give 0). The output stage takes t = 2 * sum
 * (|t| < 2^30). edgeq/ops/add.py checks every right shift is in [1, 31] and holds a small
 * operand of multiplier 2^30 and no shift (equal scales) as (2^31 - 1, right 1): the same value
 * for |x + offset| <= 255. */
typedef struct {
    int32_t big_offset; /* -zero point << 20 of the operand of the larger scale */
    int32_t small_offset, small_mult, small_half, small_right; /* -zero point << 21, multiplier, rounding */
    int32_t out_mult, out_half, out_right, out_offset, lo, hi;
} edgeq_add_t;

/* c + (a * b + 2^31) >> 32: SMMLAR on cores with the DSP extension. */
static inline int32_t edgeq_mulhr_acc(int32_t a, int32_t b, int32_t c)
{
#if defined(EDGEQ_USE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return c + (int32_t)(((int64_t)a * (int64_t)b + (INT64_C(1) << 31)) >> 32);
#endif
}

/* The ADD's output before the clamp. */
static inline int32_t edgeq_add_raw(int32_t big, int32_t small, const edgeq_add_t *p)
{
    const int32_t ts = (int32_t)((uint32_t)small << 21) + p->small_offset;
    const int32_t fs = (edgeq_mulhr_acc(ts, p->small_mult, p->small_half) + (ts >> 31)) >> p->small_right;
    const int32_t t = (int32_t)((uint32_t)big << 20) + p->big_offset + fs * 2; /* twice the sum */
    return ((edgeq_mulhr_acc(t, p->out_mult, p->out_half) + (t >> 31)) >> p->out_right) + p->out_offset;
}

static inline int8_t edgeq_add_q7(int32_t big, int32_t small, const edgeq_add_t *p)
{
    return (int8_t)edgeq_clamp(edgeq_add_raw(big, small, p), p->lo, p->hi);
}

/* CONV_2D (shared kernel): geometry, the window's interior, weights in the kernel's order and
 * bias + input_offset * sum(weights). */
typedef struct {
    const int8_t *weights;
    const int32_t *bias;
    edgeq_rq_t rq;
    int16_t in_h, in_w, in_c, out_h, out_w, out_c;
    int16_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int16_t oy_lo, oy_hi, ox_lo, ox_hi;
    int16_t depth, k_pad, oc_pad;
    int8_t pad_value;
    void *scratch; /* the layer's scratch region in the arena (planned, live during the layer) */
    int32_t *wide16; /* dsp "wide": where blocks of `wide16_pairs` channel pairs are widened to */
    int16_t wide16_pairs; /* int16 (arena, after the rest of the scratch); 0: none, from flash */
} edgeq_conv_params_t;

/* DEPTHWISE_CONV_2D, depth multiplier 1 (shared kernel). */
typedef struct {
    const int8_t *weights;
    const int32_t *bias;
    edgeq_rq_t rq;
    int16_t in_h, in_w, c, out_h, out_w;
    int16_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int16_t oy_lo, oy_hi, ox_lo, ox_hi;
    int8_t pad_value;
    void *scratch; /* the layer's scratch region in the arena (planned, live during the layer) */
} edgeq_dw_params_t;

/* FULLY_CONNECTED (shared kernel). */
typedef struct {
    const int8_t *weights;
    const int32_t *bias;
    edgeq_rq_t rq;
    int32_t rows, in_features, out_features, k_pad, o_pad;
    void *scratch; /* the layer's scratch region in the arena (NULL: none needed) */
} edgeq_fc_params_t;

#if defined(EDGEQ_USE_DSP)
/* Two consecutive words at *p (4-byte aligned), advancing *p: one LDRD. */
static inline void edgeq_ld2(const int32_t **p, int32_t *a, int32_t *b)
{
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(*a), "=r"(*b), "+r"(*p) : "m"(*(const int32_t(*)[2]) * p));
}

static inline uint32_t edgeq_ror8(uint32_t v)
{
    return (v >> 8) | (v << 24);
}

/* SXTB16 of v rotated by 8 (bytes 1 and 3), one instruction. */
static inline int32_t edgeq_sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* One output of edgeq_rq saturated to int8 (in [-128, 127], no activation clamp): the SSAT
 * replaces the clamp, which edgeq_clamp4 applies to four packed outputs at once. */
static inline int32_t edgeq_rq_sat(int32_t kind, int32_t acc, int32_t multiplier, int32_t shift, int32_t k,
                                   int32_t offset)
{
    if (kind == EDGEQ_RQ_BIAS64) {
        return __ssat(edgeq_requant_b64_high(acc, multiplier, k) + offset, 8);
    }
    if (kind == EDGEQ_RQ_SMALL) {
        int32_t high;
        __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc * 2), "r"(multiplier));
        return __ssat(__qadd(high + (high >> 31), k) >> shift, 8);
    }
    if (kind == EDGEQ_RQ_WIDE_M2) { /* multiplier 2m - 2^32: acc * it + acc * 2^32 = 2 acc m */
        int32_t high, y;              /* shift r - 1, k = 2 offset + 1: round half away by 2^r in two halvings */
        __asm__("smmlar %0, %1, %2, %1" : "=r"(high) : "r"(acc), "r"(multiplier));
        __asm__("ssat %0, #8, %1, asr #1" : "=r"(y) : "r"(((high + (high >> 31)) >> shift) + k));
        (void)offset;
        return y;
    }
    if (kind == EDGEQ_RQ_RIGHT) {
        return __ssat(edgeq_mbqm_right(acc, multiplier, shift) + offset, 8);
    }
    return __ssat(edgeq_mbqm_fast(acc, multiplier, shift) + offset, 8);
}

/* Values in [-128, 127] as the bytes of a word, in order: y0, y1 in the two low bytes
 * (edgeq_pack2), then y2, y3 in the two high bytes (edgeq_pack_hi); one BFI a byte. */
static inline uint32_t edgeq_pack2(int32_t y0, int32_t y1)
{
    uint32_t r = (uint32_t)y0;
    __asm__("bfi %0, %1, #8, #8" : "+r"(r) : "r"(y1));
    return r;
}

static inline uint32_t edgeq_pack_hi(uint32_t r, int32_t y2, int32_t y3)
{
    __asm__("bfi %0, %1, #16, #8\n\tbfi %0, %2, #24, #8" : "+r"(r) : "r"(y2), "r"(y3));
    return r;
}

static inline uint32_t edgeq_pack4(int32_t y0, int32_t y1, int32_t y2, int32_t y3)
{
    return edgeq_pack_hi(edgeq_pack2(y0, y1), y2, y3);
}

/* Each int8 byte of v clamped to [lo, hi], lo4 / hi4 holding lo / hi in every byte: SSUB8
 * sets the GE flag of each byte, SEL picks by it (two per bound). */
static inline uint32_t edgeq_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t r, t;
    __asm__("ssub8 %1, %2, %3\n\tsel %0, %2, %3" : "=r"(r), "=&r"(t) : "r"(v), "r"(lo4) : "cc");
    __asm__("ssub8 %1, %2, %3\n\tsel %0, %3, %2" : "=r"(v), "=&r"(t) : "r"(r), "r"(hi4) : "cc");
    return v;
}

/* A byte replicated in the four bytes of a word. */
static inline uint32_t edgeq_bytes4(int32_t b)
{
    return ((uint32_t)b & 0xFFu) * 0x01010101u;
}

#endif

#if defined(EDGEQ_USE_DSP)
/* edgeq_rq_sat of EDGEQ_RQ_SMALL given 2 * acc (a kernel that accumulates doubled weights and
 * bias; the EDGEQ_RQ_SMALL bound keeps 2 * acc in int32). */
static inline int32_t edgeq_rq_sat_small2(int32_t acc2, int32_t multiplier, int32_t shift, int32_t k)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc2), "r"(multiplier));
    return __ssat(__qadd(high + (high >> 31), k) >> shift, 8);
}

/* Two words to *p (4-byte aligned), advancing *p: one STRD. */
static inline void edgeq_st2(int32_t **p, int32_t a, int32_t b)
{
    __asm__("strd %2, %3, [%0], #8" : "+r"(*p), "=m"(*(int32_t(*)[2]) * p) : "r"(a), "r"(b));
}

/* The low halfwords of a and b: (a.lo, b.lo), PKHBT; the high ones: (a.hi, b.hi), PKHTB. */
static inline uint32_t edgeq_pack_lo16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline uint32_t edgeq_pack_hi16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#endif

/* out[i] = ADD(big[i], small[i]) (edgeq_add_q7) for n elements; out may be big or small itself
 * (element i is read before it is written). Four at a time on cores with the DSP extension: one
 * SSAT each, then the clamp of the four packed bytes. */
static inline void edgeq_add_rows(int8_t *out, const int8_t *big, const int8_t *small, int32_t n,
                                  const edgeq_add_t *p)
{
    int32_t i = 0;
#if defined(EDGEQ_USE_DSP)
    const uint32_t lo4 = edgeq_bytes4(p->lo), hi4 = edgeq_bytes4(p->hi);
    for (; i + 4 <= n; i += 4) {
        const uint32_t b = edgeq_read32(big + i), s = edgeq_read32(small + i);
        const uint32_t v = edgeq_pack4(__ssat(edgeq_add_raw((int8_t)b, (int8_t)s, p), 8),
                                       __ssat(edgeq_add_raw((int8_t)(b >> 8), (int8_t)(s >> 8), p), 8),
                                       __ssat(edgeq_add_raw((int8_t)(b >> 16), (int8_t)(s >> 16), p), 8),
                                       __ssat(edgeq_add_raw((int8_t)(b >> 24), (int8_t)(s >> 24), p), 8));
        edgeq_write32(out + i, edgeq_clamp4(v, lo4, hi4));
    }
#endif
    for (; i < n; ++i) {
        out[i] = edgeq_add_q7(big[i], small[i], p);
    }
}

#if defined(EDGEQ_USE_DSP)
/* One group of 4 inputs of the dsp conv inner loop: 16 multiply-accumulates in 14 instructions.
 * Fixed registers (edgeq_conv_dsp_mac4 pins its operands to them; edgeq_conv_dsp_wide_oc is
 * written around them): accumulators r0 (channel 0, pixel 0), r1 (0, 1), r2 (1, 0), r3 (1, 1);
 * x r4 (the pixels' inputs, [k/4][pixel][4], each 4 as x0 x2 x1 x3), their four words by one LDM
 * into r8-r11; w lr (both channels' weights, [k/4][2][4] in order) by one LDRD into r7 and r12,
 * SXTB16 of each giving w0 w2 (into r6) and, rotated by 8, w1 w3 (in place). */
#define EDGEQ_CONV_DSP_GROUP \
    "ldrd r7, r12, [lr], #8\n\t" \
    "ldmia r4!, {r8, r9, r10, r11}\n\t" \
    "sxtb16 r6, r7\n\t" \
    "smlad r0, r8, r6, r0\n\t" \
    "smlad r1, r10, r6, r1\n\t" \
    "sxtb16 r7, r7, ror #8\n\t" \
    "smlad r0, r9, r7, r0\n\t" \
    "smlad r1, r11, r7, r1\n\t" \
    "sxtb16 r6, r12\n\t" \
    "smlad r2, r8, r6, r2\n\t" \
    "smlad r3, r10, r6, r3\n\t" \
    "sxtb16 r12, r12, ror #8\n\t" \
    "smlad r2, r9, r12, r2\n\t" \
    "smlad r3, r11, r12, r3\n\t"

/* EDGEQ_CONV_DSP_GROUP with the weights already int16, both channels' as (w0, w2), (w1, w3) by
 * one LDM into r5, r6 (channel 0) and r7, r12 (channel 1): 16 multiply-accumulates in 10
 * instructions (r5 is no counter here). */
#define EDGEQ_CONV_DSP_GROUP16 \
    "ldmia r4!, {r8, r9, r10, r11}\n\t" \
    "ldmia lr!, {r5, r6, r7, r12}\n\t" \
    "smlad r0, r8, r5, r0\n\t" \
    "smlad r0, r9, r6, r0\n\t" \
    "smlad r1, r10, r5, r1\n\t" \
    "smlad r1, r11, r6, r1\n\t" \
    "smlad r2, r8, r7, r2\n\t" \
    "smlad r2, r9, r12, r2\n\t" \
    "smlad r3, r10, r7, r3\n\t" \
    "smlad r3, r11, r12, r3\n\t"

/* The dsp conv inner loop: 2 output channels x 2 pixels over `groups` (>= 1) groups of 4 inputs
 * (EDGEQ_CONV_DSP_GROUP). x: the pixels' inputs; *wp: both channels' weights, advanced past the
 * pair's rows. Four groups per step (2 instructions per step for the loop, the counter in r5):
 * `steps` = (groups + 3) / 4 of them, a group count not a multiple of 4 entering the first part
 * way through (TBB on `entry` = groups % 4, in r6). */
static inline void edgeq_conv_dsp_mac4(const int16_t *x, const int8_t **wp, int32_t steps, int32_t entry,
                                       int32_t *a00, int32_t *a01, int32_t *a10, int32_t *a11)
{
    register int32_t r0 __asm__("r0") = *a00, r1 __asm__("r1") = *a01, r2 __asm__("r2") = *a10,
                     r3 __asm__("r3") = *a11;
    register const int16_t *r4 __asm__("r4") = x;
    register int32_t r5 __asm__("r5") = steps, r6 __asm__("r6") = entry;
    register const int8_t *lr __asm__("lr") = *wp;
    register int32_t r7 __asm__("r7"), r8 __asm__("r8"), r9 __asm__("r9"), r10 __asm__("r10"),
                     r11 __asm__("r11"), r12 __asm__("r12");
    __asm__(
        "tbb [pc, r6]\n"
        "0:\n\t"
        ".byte (1f - 0b) / 2, (4f - 0b) / 2, (3f - 0b) / 2, (2f - 0b) / 2\n"
        "1:\n\t" EDGEQ_CONV_DSP_GROUP
        "2:\n\t" EDGEQ_CONV_DSP_GROUP
        "3:\n\t" EDGEQ_CONV_DSP_GROUP
        "4:\n\t" EDGEQ_CONV_DSP_GROUP
        "subs r5, r5, #1\n\t"
        "bne 1b\n"
        : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(lr), "=&r"(r7), "=&r"(r8),
          "=&r"(r9), "=&r"(r10), "=&r"(r11), "=&r"(r12)
        :
        : "cc", "memory");
    *a00 = r0;
    *a01 = r1;
    *a10 = r2;
    *a11 = r3;
    *wp = lr;
}

/* Four int8 (a word, in order x0..x3) as the int16 pairs (x0, x2) and (x1, x3): SXTB16 of the
 * word and of it rotated by 8. */
static inline void edgeq_q7x4_sx(uint32_t v, int32_t *x02, int32_t *x13)
{
    __asm__("sxtb16 %0, %1" : "=r"(*x02) : "r"(v));
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(*x13) : "r"(v));
}

#endif

#endif /* EDGEQ_KERNELS_H */
