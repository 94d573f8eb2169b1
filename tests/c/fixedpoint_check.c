/* Reads lines "a b c" (int32) from stdin and prints srdhm(a,b), rdbpot(a, c & 31),
 * mbqm(a, b, c) and mbqm_lt1(a, b, -(c & 31)) so tests can compare with the Python twin. */
#include <inttypes.h>
#include <stdio.h>

#include "edgeq_fixedpoint.h"

int main(void)
{
    long long a, b, c;
    while (scanf("%lld %lld %lld", &a, &b, &c) == 3) {
        const int32_t x = (int32_t)a, m = (int32_t)b, s = (int32_t)c;
        printf("%" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 "\n", edgeq_srdhm(x, m), edgeq_rdbpot(x, s & 31),
               edgeq_mbqm(x, m, s), edgeq_mbqm_lt1(x, m, -(s & 31)));
    }
    return 0;
}
