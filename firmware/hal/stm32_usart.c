/* STM32 USART / LPUART, polled. Two register layouts:
 *   EDGEQ_UART_VARIANT_F4: SR/DR/BRR/CR1 (STM32F1/F2/F4);
 *   otherwise (V2, LPUART): CR1/BRR/ISR/ICR/RDR/TDR (STM32F7/H7/L4/G4...).
 * Clock gates and pin muxing come from the board file (console.setup), applied first.
 * The firmware stays on the reset clock; EDGEQ_UART_CLOCK_HZ is the UART's clock then. */
#include "../hal.h"
#include "cortexm.h"

#define EDGEQ_RXNE (1u << 5)
#define EDGEQ_TXE (1u << 7)
#define EDGEQ_ORE (1u << 3)

#if defined(EDGEQ_UART_VARIANT_F4)
#define EDGEQ_USART_SR (EDGEQ_UART_BASE + 0x00u)
#define EDGEQ_USART_DR (EDGEQ_UART_BASE + 0x04u)
#define EDGEQ_USART_BRR (EDGEQ_UART_BASE + 0x08u)
#define EDGEQ_USART_CR1 (EDGEQ_UART_BASE + 0x0Cu)
#define EDGEQ_CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#define EDGEQ_USART_ISR EDGEQ_USART_SR
#define EDGEQ_USART_RDR EDGEQ_USART_DR
#define EDGEQ_USART_TDR EDGEQ_USART_DR
#else
#define EDGEQ_USART_CR1 (EDGEQ_UART_BASE + 0x00u)
#define EDGEQ_USART_BRR (EDGEQ_UART_BASE + 0x0Cu)
#define EDGEQ_USART_ISR (EDGEQ_UART_BASE + 0x1Cu)
#define EDGEQ_USART_ICR (EDGEQ_UART_BASE + 0x20u)
#define EDGEQ_USART_RDR (EDGEQ_UART_BASE + 0x24u)
#define EDGEQ_USART_TDR (EDGEQ_UART_BASE + 0x28u)
#define EDGEQ_CR1_ENABLE ((1u << 0) | (1u << 3) | (1u << 2)) /* UE, TE, RE */
#endif

void edgeq_hal_init(void)
{
    edgeq_cortexm_init();
#if defined(EDGEQ_UART_VARIANT_LPUART)
    EDGEQ_REG(EDGEQ_USART_BRR) = (uint32_t)(((uint64_t)EDGEQ_UART_CLOCK_HZ * 256u + EDGEQ_UART_BAUD / 2u) / EDGEQ_UART_BAUD);
#else
    EDGEQ_REG(EDGEQ_USART_BRR) = (EDGEQ_UART_CLOCK_HZ + EDGEQ_UART_BAUD / 2u) / EDGEQ_UART_BAUD;
#endif
    EDGEQ_REG(EDGEQ_USART_CR1) = EDGEQ_CR1_ENABLE;
}

int32_t edgeq_hal_getc(uint32_t timeout_us)
{
    uint64_t deadline = timeout_us == EDGEQ_HAL_FOREVER ? 0u : edgeq_hal_micros() + timeout_us;
    for (;;) {
        uint32_t isr = EDGEQ_REG(EDGEQ_USART_ISR);
        if ((isr & EDGEQ_RXNE) != 0u) {
            return (int32_t)(EDGEQ_REG(EDGEQ_USART_RDR) & 0xFFu);
        }
        if ((isr & EDGEQ_ORE) != 0u) {
#if defined(EDGEQ_UART_VARIANT_F4)
            (void)EDGEQ_REG(EDGEQ_USART_DR); /* SR then DR read clears the overrun */
#else
            EDGEQ_REG(EDGEQ_USART_ICR) = EDGEQ_ORE;
#endif
        }
        if (timeout_us != EDGEQ_HAL_FOREVER && edgeq_cortexm_expired(deadline)) {
            return -1;
        }
    }
}

void edgeq_hal_putc(uint8_t c)
{
    while ((EDGEQ_REG(EDGEQ_USART_ISR) & EDGEQ_TXE) == 0u) {
    }
    EDGEQ_REG(EDGEQ_USART_TDR) = c;
}

void edgeq_hal_write(const uint8_t *buf, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        edgeq_hal_putc(buf[i]);
    }
}

void edgeq_hal_flush(void)
{
}
