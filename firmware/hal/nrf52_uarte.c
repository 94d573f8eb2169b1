/* nRF52 UARTE (EasyDMA UART), polled with one-byte DMA transfers. Starts the 64 MHz
 * crystal oscillator first so the baud rate is accurate. Pins from the board file. */
#include "../hal.h"
#include "cortexm.h"

#define EDGEQ_CLOCK_BASE 0x40000000u
#define EDGEQ_HFCLKSTART (EDGEQ_CLOCK_BASE + 0x000u)
#define EDGEQ_HFCLKSTARTED (EDGEQ_CLOCK_BASE + 0x100u)

#define EDGEQ_U(off) (EDGEQ_UART_BASE + (off))
#define EDGEQ_STARTRX EDGEQ_U(0x000u)
#define EDGEQ_STARTTX EDGEQ_U(0x008u)
#define EDGEQ_ENDRX EDGEQ_U(0x110u)
#define EDGEQ_ENDTX EDGEQ_U(0x120u)
#define EDGEQ_ENABLE EDGEQ_U(0x500u)
#define EDGEQ_PSEL_TXD EDGEQ_U(0x50Cu)
#define EDGEQ_PSEL_RXD EDGEQ_U(0x514u)
#define EDGEQ_BAUDRATE EDGEQ_U(0x524u)
#define EDGEQ_RXD_PTR EDGEQ_U(0x534u)
#define EDGEQ_RXD_MAXCNT EDGEQ_U(0x538u)
#define EDGEQ_TXD_PTR EDGEQ_U(0x544u)
#define EDGEQ_TXD_MAXCNT EDGEQ_U(0x548u)
#define EDGEQ_CONFIG EDGEQ_U(0x56Cu)

static volatile uint8_t edgeq_rx_byte, edgeq_tx_byte;

static uint32_t edgeq_baud_register(uint32_t baud)
{
    switch (baud) {
    case 9600u:
        return 0x00275000u;
    case 57600u:
        return 0x00EB0000u;
    case 230400u:
        return 0x03B00000u;
    case 460800u:
        return 0x07400000u;
    case 921600u:
        return 0x0F000000u;
    case 1000000u:
        return 0x10000000u;
    default: /* 115200 */
        return 0x01D60000u;
    }
}

static void edgeq_start_rx(void)
{
    EDGEQ_REG(EDGEQ_RXD_PTR) = (uint32_t)(uintptr_t)&edgeq_rx_byte;
    EDGEQ_REG(EDGEQ_RXD_MAXCNT) = 1u;
    EDGEQ_REG(EDGEQ_ENDRX) = 0u;
    EDGEQ_REG(EDGEQ_STARTRX) = 1u;
}

void edgeq_hal_init(void)
{
    EDGEQ_REG(EDGEQ_HFCLKSTARTED) = 0u;
    EDGEQ_REG(EDGEQ_HFCLKSTART) = 1u;
    while (EDGEQ_REG(EDGEQ_HFCLKSTARTED) == 0u) {
    }
    edgeq_cortexm_init();
    EDGEQ_REG(EDGEQ_PSEL_TXD) = EDGEQ_UART_TX_PIN;
    EDGEQ_REG(EDGEQ_PSEL_RXD) = EDGEQ_UART_RX_PIN;
    EDGEQ_REG(EDGEQ_BAUDRATE) = edgeq_baud_register(EDGEQ_UART_BAUD);
    EDGEQ_REG(EDGEQ_CONFIG) = 0u; /* 8N1, no flow control */
    EDGEQ_REG(EDGEQ_ENABLE) = 8u; /* UARTE */
    edgeq_start_rx();
}

int32_t edgeq_hal_getc(uint32_t timeout_us)
{
    uint64_t deadline = timeout_us == EDGEQ_HAL_FOREVER ? 0u : edgeq_hal_micros() + timeout_us;
    while (EDGEQ_REG(EDGEQ_ENDRX) == 0u) {
        if (timeout_us != EDGEQ_HAL_FOREVER && edgeq_cortexm_expired(deadline)) {
            return -1;
        }
    }
    uint8_t c = edgeq_rx_byte;
    edgeq_start_rx();
    return (int32_t)c;
}

void edgeq_hal_putc(uint8_t c)
{
    edgeq_tx_byte = c;
    EDGEQ_REG(EDGEQ_TXD_PTR) = (uint32_t)(uintptr_t)&edgeq_tx_byte;
    EDGEQ_REG(EDGEQ_TXD_MAXCNT) = 1u;
    EDGEQ_REG(EDGEQ_ENDTX) = 0u;
    EDGEQ_REG(EDGEQ_STARTTX) = 1u;
    while (EDGEQ_REG(EDGEQ_ENDTX) == 0u) {
    }
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
