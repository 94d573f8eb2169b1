/* Counter and board setup for every Cortex-M HAL.
 *
 * EDGEQ_COUNTER_DWT: the DWT cycle counter (32 bits, extended in software; reads must come
 * at least once per 2^32 cycles, which every inference and UART wait does).
 * EDGEQ_COUNTER_SYSTICK: SysTick on the processor clock, 24 bits extended by its
 * interrupt. Under QEMU -icount shift=0 one instruction takes 1 ns of virtual time, so
 * ticks * 1e9 / clock_hz (EDGEQ_COUNT_NUM / EDGEQ_COUNT_DEN) counts instructions. */
#include "cortexm.h"
#include "../hal.h"
#include "div64.h"

#define EDGEQ_SYST_CSR 0xE000E010u
#define EDGEQ_SYST_RVR 0xE000E014u
#define EDGEQ_SYST_CVR 0xE000E018u
#define EDGEQ_SCB_ICSR 0xE000ED04u
#define EDGEQ_ICSR_PENDSTSET (1u << 26)
#define EDGEQ_DEMCR 0xE000EDFCu
#define EDGEQ_DWT_CTRL 0xE0001000u
#define EDGEQ_DWT_CYCCNT 0xE0001004u
#define EDGEQ_DWT_LAR 0xE0001FB0u

#ifdef EDGEQ_CONSOLE_SETUP
static const uint32_t edgeq_setup[][3] = {EDGEQ_CONSOLE_SETUP};
#endif

#if defined(EDGEQ_COUNTER_SYSTICK)
static volatile uint32_t edgeq_systick_wraps;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    edgeq_systick_wraps++;
}

static uint64_t edgeq_ticks(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask" : "=r"(primask));
    __asm volatile("cpsid i" ::: "memory");
    uint32_t wraps = edgeq_systick_wraps;
    uint32_t value = EDGEQ_REG(EDGEQ_SYST_CVR);
    if ((EDGEQ_REG(EDGEQ_SCB_ICSR) & EDGEQ_ICSR_PENDSTSET) != 0u) {
        /* wrapped, interrupt not taken yet: take the value after the wrap */
        value = EDGEQ_REG(EDGEQ_SYST_CVR);
        wraps++;
    }
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
    return ((uint64_t)wraps << 24) + (uint64_t)(0xFFFFFFu - value);
}
#elif defined(EDGEQ_COUNTER_DWT)
static uint32_t edgeq_dwt_last, edgeq_dwt_high;

static uint64_t edgeq_ticks(void)
{
    uint32_t now = EDGEQ_REG(EDGEQ_DWT_CYCCNT);
    if (now < edgeq_dwt_last) {
        edgeq_dwt_high++;
    }
    edgeq_dwt_last = now;
    return ((uint64_t)edgeq_dwt_high << 32) | now;
}
#else
#error "edgeq_board.h must define EDGEQ_COUNTER_SYSTICK or EDGEQ_COUNTER_DWT"
#endif

void edgeq_cortexm_init(void)
{
#ifdef EDGEQ_CONSOLE_SETUP
    for (uint32_t i = 0; i < sizeof(edgeq_setup) / sizeof(edgeq_setup[0]); ++i) {
        volatile uint32_t *reg = (volatile uint32_t *)(uintptr_t)edgeq_setup[i][0];
        *reg = (*reg & ~edgeq_setup[i][1]) | edgeq_setup[i][2];
        (void)*reg; /* read back: lets a clock enable take effect before the next write */
    }
#endif
#if defined(EDGEQ_COUNTER_SYSTICK)
    EDGEQ_REG(EDGEQ_SYST_RVR) = 0xFFFFFFu;
    EDGEQ_REG(EDGEQ_SYST_CVR) = 0u;
    EDGEQ_REG(EDGEQ_SYST_CSR) = 7u; /* processor clock, interrupt, enable */
    __asm volatile("cpsie i" ::: "memory");
#else
    EDGEQ_REG(EDGEQ_DEMCR) |= 1u << 24; /* TRCENA */
    EDGEQ_REG(EDGEQ_DWT_LAR) = 0xC5ACCE55u; /* unlock (Cortex-M7) */
    EDGEQ_REG(EDGEQ_DWT_CYCCNT) = 0u;
    EDGEQ_REG(EDGEQ_DWT_CTRL) |= 1u;
#endif
}

uint64_t edgeq_hal_count(void)
{
    return edgeq_ticks() * EDGEQ_COUNT_NUM / EDGEQ_COUNT_DEN;
}

uint32_t edgeq_hal_count_unit(void)
{
    return EDGEQ_COUNT_UNIT;
}

uint64_t edgeq_hal_micros(void)
{
#if EDGEQ_COUNT_UNIT == EDGEQ_COUNT_INSTRUCTIONS
    return edgeq_div_u64_small(edgeq_hal_count(), 1000u); /* -icount shift=0: 1 instruction = 1 ns */
#else
    uint64_t c = edgeq_ticks();
    return (c / EDGEQ_RUN_HZ) * 1000000u + (c % EDGEQ_RUN_HZ) * 1000000u / EDGEQ_RUN_HZ;
#endif
}

int edgeq_cortexm_expired(uint64_t deadline_us)
{
    return edgeq_hal_micros() >= deadline_us;
}
