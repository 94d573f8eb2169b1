/* edgeq_div_u64_small (firmware/hal/div64.h) against the compiler's 64-bit division: edge values
 * and a million pseudo-random dividends for divisors 1..65535 (a sample); prints the number of
 * mismatches. */
#include <stdint.h>
#include <stdio.h>

#include "div64.h"

int main(void)
{
    static const uint32_t divisors[] = {1u, 2u, 3u, 7u, 10u, 1000u, 4096u, 65521u, 65535u};
    static const uint64_t edges[] = {0u, 1u, 999u, 1000u, 1001u, 0xFFFFu, 0x10000u, 0xFFFFFFFFu, 0x100000000u,
                                     0xFFFFFFFFFFFFFFFFu, 0x8000000000000000u, 0xFFFF0000FFFF0000u};
    uint64_t x = 0x9E3779B97F4A7C15u;
    long bad = 0;
    for (size_t i = 0; i < sizeof(divisors) / sizeof(divisors[0]); ++i) {
        const uint32_t d = divisors[i];
        for (size_t j = 0; j < sizeof(edges) / sizeof(edges[0]); ++j) {
            bad += edgeq_div_u64_small(edges[j], d) != edges[j] / d;
        }
        for (int k = 0; k < 100000; ++k) {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            const uint64_t n = x >> (k % 64); /* dividends of every size */
            bad += edgeq_div_u64_small(n, d) != n / d;
        }
    }
    printf("%ld\n", bad);
    return bad != 0;
}
