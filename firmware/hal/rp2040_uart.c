/* RP2040 UART (Arm PL011), polled. Switches clk_ref and clk_sys to the 12 MHz crystal,
 * feeds clk_peri from clk_sys, releases the UART and GPIO blocks from reset and muxes the
 * board's TX/RX pins to the UART (function 2). */
#include "../hal.h"
#include "cortexm.h"

#define EDGEQ_RESETS_BASE 0x4000C000u
#define EDGEQ_RESETS_RESET (EDGEQ_RESETS_BASE + 0x0u)
#define EDGEQ_RESETS_DONE (EDGEQ_RESETS_BASE + 0x8u)
#define EDGEQ_RESET_IO_BANK0 (1u << 5)
#define EDGEQ_RESET_PADS_BANK0 (1u << 8)
#define EDGEQ_RESET_UART0 (1u << 22)
#define EDGEQ_RESET_UART1 (1u << 23)
#define EDGEQ_XOSC_BASE 0x40024000u
#define EDGEQ_CLOCKS_BASE 0x40008000u
#define EDGEQ_CLK_REF_CTRL (EDGEQ_CLOCKS_BASE + 0x30u)
#define EDGEQ_CLK_REF_SELECTED (EDGEQ_CLOCKS_BASE + 0x38u)
#define EDGEQ_CLK_SYS_CTRL (EDGEQ_CLOCKS_BASE + 0x3Cu)
#define EDGEQ_CLK_SYS_SELECTED (EDGEQ_CLOCKS_BASE + 0x44u)
#define EDGEQ_CLK_PERI_CTRL (EDGEQ_CLOCKS_BASE + 0x48u)
#define EDGEQ_IO_BANK0_BASE 0x40014000u

#define EDGEQ_UART_DR (EDGEQ_UART_BASE + 0x00u)
#define EDGEQ_UART_FR (EDGEQ_UART_BASE + 0x18u)
#define EDGEQ_UART_IBRD (EDGEQ_UART_BASE + 0x24u)
#define EDGEQ_UART_FBRD (EDGEQ_UART_BASE + 0x28u)
#define EDGEQ_UART_LCR_H (EDGEQ_UART_BASE + 0x2Cu)
#define EDGEQ_UART_CR (EDGEQ_UART_BASE + 0x30u)
#define EDGEQ_FR_RXFE (1u << 4)
#define EDGEQ_FR_TXFF (1u << 5)

void edgeq_hal_init(void)
{
    /* crystal oscillator: 1-15 MHz range, startup delay ~1 ms, enable, wait until stable */
    EDGEQ_REG(EDGEQ_XOSC_BASE + 0x00u) = 0xAA0u;
    EDGEQ_REG(EDGEQ_XOSC_BASE + 0x0Cu) = 47u;
    EDGEQ_REG(EDGEQ_XOSC_BASE + 0x00u) = (0xFABu << 12) | 0xAA0u;
    while ((EDGEQ_REG(EDGEQ_XOSC_BASE + 0x04u) & (1u << 31)) == 0u) {
    }
    EDGEQ_REG(EDGEQ_CLK_REF_CTRL) = 2u; /* clk_ref <- xosc */
    while ((EDGEQ_REG(EDGEQ_CLK_REF_SELECTED) & (1u << 2)) == 0u) {
    }
    EDGEQ_REG(EDGEQ_CLK_SYS_CTRL) = 0u; /* clk_sys <- clk_ref */
    while ((EDGEQ_REG(EDGEQ_CLK_SYS_SELECTED) & 1u) == 0u) {
    }
    EDGEQ_REG(EDGEQ_CLK_PERI_CTRL) = 1u << 11; /* enable, source clk_sys */

    uint32_t uart_reset = EDGEQ_UART_BASE == 0x40034000u ? EDGEQ_RESET_UART0 : EDGEQ_RESET_UART1;
    uint32_t blocks = EDGEQ_RESET_IO_BANK0 | EDGEQ_RESET_PADS_BANK0 | uart_reset;
    EDGEQ_REG(EDGEQ_RESETS_RESET) &= ~blocks;
    while ((EDGEQ_REG(EDGEQ_RESETS_DONE) & blocks) != blocks) {
    }
    EDGEQ_REG(EDGEQ_IO_BANK0_BASE + 4u + 8u * EDGEQ_UART_TX_PIN) = 2u; /* FUNCSEL UART */
    EDGEQ_REG(EDGEQ_IO_BANK0_BASE + 4u + 8u * EDGEQ_UART_RX_PIN) = 2u;

    uint32_t div = (8u * EDGEQ_UART_CLOCK_HZ / EDGEQ_UART_BAUD + 1u) / 2u; /* 1/64ths */
    EDGEQ_REG(EDGEQ_UART_IBRD) = div >> 6;
    EDGEQ_REG(EDGEQ_UART_FBRD) = div & 63u;
    EDGEQ_REG(EDGEQ_UART_LCR_H) = (3u << 5) | (1u << 4); /* 8 bits, FIFOs on */
    EDGEQ_REG(EDGEQ_UART_CR) = (1u << 9) | (1u << 8) | 1u; /* RXE, TXE, UARTEN */
    edgeq_cortexm_init();
}

int32_t edgeq_hal_getc(uint32_t timeout_us)
{
    uint64_t deadline = timeout_us == EDGEQ_HAL_FOREVER ? 0u : edgeq_hal_micros() + timeout_us;
    while ((EDGEQ_REG(EDGEQ_UART_FR) & EDGEQ_FR_RXFE) != 0u) {
        if (timeout_us != EDGEQ_HAL_FOREVER && edgeq_cortexm_expired(deadline)) {
            return -1;
        }
    }
    return (int32_t)(EDGEQ_REG(EDGEQ_UART_DR) & 0xFFu);
}

void edgeq_hal_putc(uint8_t c)
{
    while ((EDGEQ_REG(EDGEQ_UART_FR) & EDGEQ_FR_TXFF) != 0u) {
    }
    EDGEQ_REG(EDGEQ_UART_DR) = c;
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
