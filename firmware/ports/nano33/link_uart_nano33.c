/*
 * Host link over UART0 (the nRF52's legacy UART at 0x40002000, RX interrupt into a ring
 * buffer) on the board's D1/TX (P1.03) and D0/RX (P1.10) pins, 115200 baud (9600 in an
 * energy-mode image), for a 3.3 V USB-serial adapter. Compiled only with
 * -DTINYKWS_NANO33_UART (add it to the profile's [build] defines); the default link is USB
 * CDC-ACM (link_usb_nano33.c).
 */
#if defined(TINYKWS_NANO33_UART)
#include <stdint.h>

#include "nano33.h"
#include "tinykws_build_info.h"
#include "tinykws_port.h"

#define UART_BASE 0x40002000u
#define UART_TASKS_STARTRX REG(UART_BASE + 0x000u)
#define UART_TASKS_STARTTX REG(UART_BASE + 0x008u)
#define UART_EVENTS_RXDRDY REG(UART_BASE + 0x108u)
#define UART_EVENTS_TXDRDY REG(UART_BASE + 0x11Cu)
#define UART_INTENSET REG(UART_BASE + 0x304u)
#define UART_ENABLE REG(UART_BASE + 0x500u)
#define UART_PSEL_TXD REG(UART_BASE + 0x50Cu)
#define UART_PSEL_RXD REG(UART_BASE + 0x514u)
#define UART_RXD REG(UART_BASE + 0x518u)
#define UART_TXD REG(UART_BASE + 0x51Cu)
#define UART_BAUDRATE REG(UART_BASE + 0x524u)
#define UART_CONFIG REG(UART_BASE + 0x56Cu)
#define UART_ENABLE_UART 4u
#define UART_INT_RXDRDY (1u << 2)
#define BAUD_115200 0x01D7E000u
#define BAUD_9600 0x00275000u
#define UART_IRQ 2u

#define P1_BASE 0x50000300u
#define GPIO_OUTSET(p) REG((p) + 0x508u)
#define GPIO_DIRSET(p) REG((p) + 0x518u)
#define PIN(port, n) ((uint32_t)(n) | ((uint32_t)(port) << 5))
#define PIN_TX PIN(1, 3)
#define PIN_RX PIN(1, 10)

#define RX_RING 512u
static volatile uint8_t g_rx[RX_RING];
static volatile uint32_t g_rx_head, g_rx_tail;

void port_uart_isr(void)
{
    while (UART_EVENTS_RXDRDY) {
        uint32_t next = (g_rx_head + 1u) % RX_RING;
        UART_EVENTS_RXDRDY = 0u;
        if (next != g_rx_tail) { /* a full ring drops the byte (the host waits for m-ready) */
            g_rx[g_rx_head] = (uint8_t)UART_RXD;
            g_rx_head = next;
        } else {
            (void)UART_RXD;
        }
    }
}

void nano33_link_init(void)
{
    GPIO_OUTSET(P1_BASE) = 1u << 3; /* TX idles high */
    GPIO_DIRSET(P1_BASE) = 1u << 3;
    UART_PSEL_TXD = PIN_TX;
    UART_PSEL_RXD = PIN_RX;
    UART_CONFIG = 0u; /* 8N1, no flow control */
    UART_BAUDRATE = TINYKWS_ENERGY_MODE ? BAUD_9600 : BAUD_115200;
    UART_ENABLE = UART_ENABLE_UART;
    UART_EVENTS_RXDRDY = 0u;
    UART_EVENTS_TXDRDY = 0u;
    UART_INTENSET = UART_INT_RXDRDY;
    UART_TASKS_STARTRX = 1u;
    UART_TASKS_STARTTX = 1u;
    NVIC_ISER0 = 1u << UART_IRQ;
}

int port_getc(void)
{
    for (;;) {
        irq_off();
        if (g_rx_tail != g_rx_head) {
            uint8_t c = g_rx[g_rx_tail];
            g_rx_tail = (g_rx_tail + 1u) % RX_RING;
            irq_on();
            return c;
        }
        cpu_wfi(); /* woken by the RX interrupt, taken at irq_on */
        irq_on();
    }
}

int port_poll_getc(void)
{
    int c = -1;
    irq_off();
    if (g_rx_tail != g_rx_head) {
        c = g_rx[g_rx_tail];
        g_rx_tail = (g_rx_tail + 1u) % RX_RING;
    }
    irq_on();
    return c;
}

void port_putc(char c)
{
    UART_EVENTS_TXDRDY = 0u;
    UART_TXD = (uint8_t)c;
    while (UART_EVENTS_TXDRDY == 0u) {
    }
}
#else
typedef int link_uart_nano33_unused; /* ISO C forbids an empty translation unit */
#endif
