/* Generic Cortex-M startup: vector table, reset handler (.data copy, .bss zero, FPU
 * enable where the core has one), then main. The stack top and section bounds come from
 * the linker script rendered from the board's memory regions (linker.ld.j2). */
#include <stdint.h>

#include "edgeq_board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;
extern uint32_t __edgeq_stack_top;

int main(void);
void Reset_Handler(void);
void edgeq_default_handler(void);

void edgeq_default_handler(void)
{
    for (;;) {
    }
}

#define EDGEQ_WEAK_HANDLER(name) void name(void) __attribute__((weak, alias("edgeq_default_handler")))
EDGEQ_WEAK_HANDLER(NMI_Handler);
EDGEQ_WEAK_HANDLER(HardFault_Handler);
EDGEQ_WEAK_HANDLER(MemManage_Handler);
EDGEQ_WEAK_HANDLER(BusFault_Handler);
EDGEQ_WEAK_HANDLER(UsageFault_Handler);
EDGEQ_WEAK_HANDLER(SecureFault_Handler);
EDGEQ_WEAK_HANDLER(SVC_Handler);
EDGEQ_WEAK_HANDLER(DebugMon_Handler);
EDGEQ_WEAK_HANDLER(PendSV_Handler);
EDGEQ_WEAK_HANDLER(SysTick_Handler);

typedef void (*edgeq_vector_t)(void);

/* The 16 system vectors; the firmware polls its peripherals and needs no device IRQs. */
__attribute__((section(".isr_vector"), used)) const edgeq_vector_t edgeq_vectors[16] = {
    (edgeq_vector_t)(uintptr_t)&__edgeq_stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
#if EDGEQ_HAS_FPU
    /* CPACR: full access to CP10 and CP11 (the FPU, and MVE on Armv8.1-M) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    /* VTOR: the table may not be where the boot ROM looked (RP2040 boot2, flash aliases) */
    *(volatile uint32_t *)0xE000ED08u = (uint32_t)(uintptr_t)edgeq_vectors;
    (void)main();
    for (;;) {
    }
}
