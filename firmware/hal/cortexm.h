/* Pieces shared by the Cortex-M HALs: the counter (DWT CYCCNT or SysTick), the board's
 * register setup list and microsecond deadlines. Board values come from edgeq_board.h,
 * which edgeq renders from the board file. */
#ifndef EDGEQ_CORTEXM_H
#define EDGEQ_CORTEXM_H

#include <stdint.h>

#include "edgeq_board.h"

#define EDGEQ_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Applies the board's console setup writes, then starts the counter. */
void edgeq_cortexm_init(void);

/* 1 when the deadline (a value of edgeq_hal_micros) has passed. */
int edgeq_cortexm_expired(uint64_t deadline_us);

#endif /* EDGEQ_CORTEXM_H */
