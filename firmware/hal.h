/* edgeq firmware hardware abstraction: one serial link and one counter.
 * Implemented once per UART family (one file in hal/) and for the host (hal/host.c). */
#ifndef EDGEQ_HAL_H
#define EDGEQ_HAL_H

#include <stdint.h>

/* Units of edgeq_hal_count(), as sent in the binary INFO frame. */
#define EDGEQ_COUNT_CYCLES 0u
#define EDGEQ_COUNT_INSTRUCTIONS 1u
#define EDGEQ_COUNT_NS 2u

/* Wait forever in edgeq_hal_getc. */
#define EDGEQ_HAL_FOREVER 0xFFFFFFFFu

/* Clocks, UART, counter. Called once before anything else. */
void edgeq_hal_init(void);

/* Next byte from the link (0..255), or -1 when none arrived within timeout_us
 * microseconds (EDGEQ_HAL_FOREVER: block). The host build exits on end of input. */
int32_t edgeq_hal_getc(uint32_t timeout_us);

void edgeq_hal_putc(uint8_t c);
void edgeq_hal_write(const uint8_t *buf, uint32_t n);
/* Push out anything buffered (host); a no-op on polled UARTs. */
void edgeq_hal_flush(void);

/* A free-running 64-bit counter: cycles, instructions (QEMU -icount) or nanoseconds. */
uint64_t edgeq_hal_count(void);
/* EDGEQ_COUNT_CYCLES, EDGEQ_COUNT_INSTRUCTIONS or EDGEQ_COUNT_NS. */
uint32_t edgeq_hal_count_unit(void);
/* Microseconds since boot, derived from the counter. */
uint64_t edgeq_hal_micros(void);

#endif /* EDGEQ_HAL_H */
