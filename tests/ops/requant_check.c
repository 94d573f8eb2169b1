/* edgeq_mbqm_fast (the kernels' requantization) against edgeq_mbqm on random and edge values. */
#include <stdio.h>
#include <stdlib.h>
#include "edgeq_kernels.h"
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
int main(void) {
    long bad = 0;
    int32_t edge[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30), 12345, -12345};
    for (long i = 0; i < 2000000; ++i) {
        int32_t x = (i % 7 == 0) ? edge[rnd() % 12] : (i % 3 ? (int32_t)rnd() : (int32_t)(rnd() % 200000) - 100000);
        int32_t m = (i % 11 == 0) ? 0 : (int32_t)((1u << 30) | (rnd() & 0x3FFFFFFFu));
        if (i % 13 == 0) m = INT32_MAX;
        int32_t sh = (int32_t)(rnd() % 62) - 31;
        if (i % 2) sh = -(int32_t)(rnd() % 20);
        if (edgeq_mbqm_fast(x, m, sh) != edgeq_mbqm(x, m, sh)) { if (bad++ < 5) printf("x=%d m=%d s=%d %d %d\n", x, m, sh, edgeq_mbqm_fast(x, m, sh), edgeq_mbqm(x, m, sh)); }
    }
    /* edgeq_requant_small (|acc| < 2^30, right shift 1..23) against the reference requantization */
    for (long i = 0; i < 2000000; ++i) {
        int32_t x = (int32_t)(rnd() & 0x7FFFFFFFu) - (1 << 30);
        if (i % 3 == 0) x = (int32_t)(rnd() % 2000001u) - 1000000;
        if (i % 97 == 0) x = (i % 2) ? (1 << 30) - 1 : -(1 << 30) + 1;
        int32_t m = (i % 13 == 0) ? INT32_MAX : (int32_t)((1u << 30) | (rnd() & 0x3FFFFFFFu));
        int32_t right = 1 + (int32_t)(rnd() % 23);
        int32_t off = (int32_t)(rnd() % 256) - 128;
        int32_t lo = (i % 5 == 0) ? off : -128, hi = (i % 7 == 0) ? 100 : 127;
        if (lo > hi) lo = -128;
        int32_t want = edgeq_clamp(edgeq_mbqm(x, m, -right) + off, lo, hi);
        int32_t got = edgeq_requant_small(x, m, right, off, lo, hi);
        int32_t k = (int32_t)(1u << (right - 1)) + (int32_t)((uint32_t)off << right);
        if (edgeq_requant_k(x, m, right, k, lo, hi) != want) {
            if (bad++ < 10) printf("k x=%d m=%d r=%d off=%d\n", x, m, right, off);
        }
        if (got != want) { if (bad++ < 10) printf("small x=%d m=%d r=%d off=%d %d %d\n", x, m, right, off, got, want); }
    }
    printf("bad %ld\n", bad);
    return bad != 0;
}
