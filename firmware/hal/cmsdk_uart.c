/* Arm CMSDK APB UART (the MPS2/MPS3 FPGA images, as emulated by QEMU). Polled. */
#include "../hal.h"
#include "cortexm.h"

#define EDGEQ_UART_DATA (EDGEQ_UART_BASE + 0x00u)
#define EDGEQ_UART_STATE (EDGEQ_UART_BASE + 0x04u)
#define EDGEQ_UART_CTRL (EDGEQ_UART_BASE + 0x08u)
#define EDGEQ_UART_BAUDDIV (EDGEQ_UART_BASE + 0x10u)
#define EDGEQ_STATE_TX_FULL 1u
#define EDGEQ_STATE_RX_FULL 2u

void edgeq_hal_init(void)
{
    edgeq_cortexm_init();
    uint32_t div = EDGEQ_UART_CLOCK_HZ / EDGEQ_UART_BAUD;
    EDGEQ_REG(EDGEQ_UART_BAUDDIV) = div < 16u ? 16u : div;
    EDGEQ_REG(EDGEQ_UART_CTRL) = 3u; /* TX and RX enable */
}

int32_t edgeq_hal_getc(uint32_t timeout_us)
{
    uint64_t deadline = timeout_us == EDGEQ_HAL_FOREVER ? 0u : edgeq_hal_micros() + timeout_us;
    while ((EDGEQ_REG(EDGEQ_UART_STATE) & EDGEQ_STATE_RX_FULL) == 0u) {
        if (timeout_us != EDGEQ_HAL_FOREVER && edgeq_cortexm_expired(deadline)) {
            return -1;
        }
    }
    return (int32_t)(EDGEQ_REG(EDGEQ_UART_DATA) & 0xFFu);
}

void edgeq_hal_putc(uint8_t c)
{
    while ((EDGEQ_REG(EDGEQ_UART_STATE) & EDGEQ_STATE_TX_FULL) != 0u) {
    }
    EDGEQ_REG(EDGEQ_UART_DATA) = c;
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
