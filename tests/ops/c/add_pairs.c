/* Test harness: edgeq_add_q7 (templates/runtime/edgeq_kernels.h) on every pair of int8 operands.
 * Arguments: the 14 fields of edgeq_add_t; prints the 65536 results (x1 major) as raw bytes. */
#include <stdio.h>
#include <stdlib.h>
#include "edgeq_kernels.h"

int main(int argc, char **argv)
{
    int32_t f[14];
    if (argc != 15) {
        return 2;
    }
    for (int i = 0; i < 14; ++i) {
        f[i] = (int32_t)strtol(argv[i + 1], NULL, 10);
    }
    const edgeq_add_t p = { f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13] };
    static int8_t out[256 * 256];
    for (int32_t a = -128; a < 128; ++a) {
        for (int32_t b = -128; b < 128; ++b) {
            out[(a + 128) * 256 + (b + 128)] = edgeq_add_q7(a, b, &p);
        }
    }
    return fwrite(out, 1, sizeof out, stdout) == sizeof out ? 0 : 1;
}
