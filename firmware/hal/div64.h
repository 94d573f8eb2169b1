/* 64-bit by small divisor division without libgcc's 64-bit division routine. */
#ifndef EDGEQ_DIV64_H
#define EDGEQ_DIV64_H

#include <stdint.h>

/* n / d for d in [1, 65535], by 32-bit divisions of n's 16-bit limbs (each remainder below d,
 * so remainder << 16 | limb fits 32 bits): no __aeabi_uldivmod (about 750 bytes) in the
 * firmware. */
static inline uint64_t edgeq_div_u64_small(uint64_t n, uint32_t d)
{
    uint64_t q = 0u;
    uint32_t r = 0u;
    for (int32_t shift = 48; shift >= 0; shift -= 16) {
        const uint32_t cur = (r << 16) | (uint32_t)((n >> shift) & 0xFFFFu);
        q = (q << 16) | (cur / d);
        r = cur % d;
    }
    return q;
}

#endif /* EDGEQ_DIV64_H */
