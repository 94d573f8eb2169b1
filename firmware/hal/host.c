/* Host HAL for the native simulator: the link is stdin/stdout (raw bytes, no stdio
 * buffering or translation), the counter is CLOCK_MONOTONIC in nanoseconds. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../hal.h"

static uint8_t edgeq_host_in[4096];
static uint32_t edgeq_host_in_pos, edgeq_host_in_len;
static uint8_t edgeq_host_out[4096];
static uint32_t edgeq_host_out_len;
static uint64_t edgeq_host_t0;

static uint64_t edgeq_host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void edgeq_hal_init(void)
{
    edgeq_host_t0 = edgeq_host_now_ns();
}

void edgeq_hal_flush(void)
{
    uint32_t done = 0;
    while (done < edgeq_host_out_len) {
        ssize_t n = write(STDOUT_FILENO, edgeq_host_out + done, edgeq_host_out_len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            exit(1); /* the host closed the link */
        }
        done += (uint32_t)n;
    }
    edgeq_host_out_len = 0;
}

void edgeq_hal_putc(uint8_t c)
{
    if (edgeq_host_out_len == sizeof(edgeq_host_out)) {
        edgeq_hal_flush();
    }
    edgeq_host_out[edgeq_host_out_len++] = c;
}

void edgeq_hal_write(const uint8_t *buf, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        edgeq_hal_putc(buf[i]);
    }
}

int32_t edgeq_hal_getc(uint32_t timeout_us)
{
    if (edgeq_host_in_pos == edgeq_host_in_len) {
        edgeq_hal_flush(); /* about to wait: the other side must see our replies */
        for (;;) {
            struct pollfd pfd;
            pfd.fd = STDIN_FILENO;
            pfd.events = POLLIN;
            pfd.revents = 0;
            int timeout_ms = timeout_us == EDGEQ_HAL_FOREVER ? -1 : (int)((timeout_us + 999u) / 1000u);
            int r = poll(&pfd, 1, timeout_ms);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r == 0) {
                return -1;
            }
            ssize_t n = read(STDIN_FILENO, edgeq_host_in, sizeof(edgeq_host_in));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                edgeq_hal_flush();
                exit(0); /* end of input: the host is done */
            }
            edgeq_host_in_pos = 0;
            edgeq_host_in_len = (uint32_t)n;
            break;
        }
    }
    return edgeq_host_in[edgeq_host_in_pos++];
}

uint64_t edgeq_hal_count(void)
{
    return edgeq_host_now_ns() - edgeq_host_t0;
}

uint32_t edgeq_hal_count_unit(void)
{
    return EDGEQ_COUNT_NS;
}

uint64_t edgeq_hal_micros(void)
{
    return edgeq_hal_count() / 1000u;
}
