/* Test harness: edgeq_add_rows (templates/runtime/edgeq_kernels.h) on every pair of int8 operands.
 * Arguments: which operand (0 or 1) is the "big" one, then the 11 fields of edgeq_add_t; prints
 * the 65536 results (operand 1 major) as raw bytes. The output is written over operand 1. */
#include <stdio.h>
#include <stdlib.h>
#include "edgeq_kernels.h"

int main(int argc, char **argv)
{
    static int8_t x1[256 * 256], x2[256 * 256];
    int32_t f[11];
    if (argc != 13) {
        return 2;
    }
    const int big = atoi(argv[1]);
    for (int i = 0; i < 11; ++i) {
        f[i] = (int32_t)strtol(argv[i + 2], NULL, 10);
    }
    const edgeq_add_t p = { f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10] };
    for (int32_t a = 0; a < 256; ++a) {
        for (int32_t b = 0; b < 256; ++b) {
            x1[a * 256 + b] = (int8_t)(a - 128);
            x2[a * 256 + b] = (int8_t)(b - 128);
        }
    }
    edgeq_add_rows(x1, big ? x2 : x1, big ? x1 : x2, 256 * 256, &p);
    return fwrite(x1, 1, sizeof x1, stdout) == sizeof x1 ? 0 : 1;
}
