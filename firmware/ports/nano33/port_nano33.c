/*
 * Port for the Arduino Nano 33 BLE / BLE Sense (nRF52840, Cortex-M4F at 64 MHz).
 *
 * - Host link: UART0 (the nRF52's legacy UART at 0x40002000, RX interrupt into a ring buffer)
 *   on the board's D1/TX (P1.03) and D0/RX (P1.10) pins, 115200 baud (9600 in an energy-mode
 *   image). NOT the USB port: the nRF52840's USB device (USBD) needs a full USB CDC stack,
 *   which this small port does not have; a 3.3 V USB-serial adapter on D0/D1 is the link.
 * - Counter: the DWT cycle counter (64 MHz CPU cycles), extended to 64 bits in software
 *   (it wraps every 67 s; port_counter must be read at least that often, which the core does).
 * - Timestamp: GPIO D2 (P1.11), high when idle, pulled low for 20 us per timestamp so that a
 *   PPK2 sampling at 100 kHz sees it as well as an LPM01A trigger input.
 * - LED: the built-in LED on P0.13 (active high).
 * - Microphone (BLE Sense): MP34DT05 PDM, CLK P0.26, DIN P0.25, powered from P0.17; PDM clock
 *   1.280 MHz with ratio 80 gives 16 kHz; EasyDMA double buffer, copied into a ring by the ISR.
 * Pin and register assignments follow the nRF52840 Product Specification and the Arduino
 * variant's pin map; this port is compiled here but has not been run on hardware.
 */
#include <stdint.h>

#include "tinykws_build_info.h"
#include "tinykws_port.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CLOCK */
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)

/* UART0 (legacy, non-EasyDMA) */
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

/* GPIO */
#define P0_BASE 0x50000000u
#define P1_BASE 0x50000300u
#define GPIO_OUTSET(p) REG((p) + 0x508u)
#define GPIO_OUTCLR(p) REG((p) + 0x50Cu)
#define GPIO_DIRSET(p) REG((p) + 0x518u)
#define PIN(port, n) ((uint32_t)(n) | ((uint32_t)(port) << 5))
#define PIN_TX PIN(1, 3)
#define PIN_RX PIN(1, 10)
#define PIN_TS_PORT P1_BASE
#define PIN_TS 11u /* D2 */
#define PIN_LED 13u /* P0.13 */
#define PIN_MIC_PWR 17u /* P0.17 */
#define PIN_PDM_CLK PIN(0, 26)
#define PIN_PDM_DIN PIN(0, 25)

/* DWT / CoreDebug */
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

/* PDM */
#define PDM_BASE 0x4001D000u
#define PDM_TASKS_START REG(PDM_BASE + 0x000u)
#define PDM_TASKS_STOP REG(PDM_BASE + 0x004u)
#define PDM_EVENTS_STARTED REG(PDM_BASE + 0x100u)
#define PDM_EVENTS_STOPPED REG(PDM_BASE + 0x104u)
#define PDM_EVENTS_END REG(PDM_BASE + 0x108u)
#define PDM_INTENSET REG(PDM_BASE + 0x304u)
#define PDM_INTENCLR REG(PDM_BASE + 0x308u)
#define PDM_ENABLE REG(PDM_BASE + 0x500u)
#define PDM_PDMCLKCTRL REG(PDM_BASE + 0x504u)
#define PDM_MODE REG(PDM_BASE + 0x508u)
#define PDM_GAINL REG(PDM_BASE + 0x518u)
#define PDM_GAINR REG(PDM_BASE + 0x51Cu)
#define PDM_RATIO REG(PDM_BASE + 0x520u)
#define PDM_PSEL_CLK REG(PDM_BASE + 0x540u)
#define PDM_PSEL_DIN REG(PDM_BASE + 0x544u)
#define PDM_SAMPLE_PTR REG(PDM_BASE + 0x560u)
#define PDM_SAMPLE_MAXCNT REG(PDM_BASE + 0x564u)
#define PDM_CLK_1280K 0x0A000000u
#define PDM_RATIO_80 1u
#define PDM_MODE_MONO_LEFTFALLING 1u
#define PDM_GAIN_DEFAULT 0x28u /* 0 dB */
#define PDM_IRQ 29u

#define NVIC_ISER REG(0xE000E100u)
#define NVIC_ICER REG(0xE000E180u)

static inline void irq_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_on(void) { __asm volatile("cpsie i" ::: "memory"); }

/* ---- UART ---- */
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

/* ---- counter ---- */
static uint32_t g_cyc_last, g_cyc_high;

void port_init(void)
{
    CLOCK_EVENTS_HFCLKSTARTED = 0u;
    CLOCK_TASKS_HFCLKSTART = 1u; /* the crystal: accurate baud rate and cycle timing */
    while (CLOCK_EVENTS_HFCLKSTARTED == 0u) {
    }
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u; /* CYCCNTENA */

    GPIO_OUTSET(PIN_TS_PORT) = 1u << PIN_TS; /* timestamp idles high */
    GPIO_DIRSET(PIN_TS_PORT) = 1u << PIN_TS;
    GPIO_OUTCLR(P0_BASE) = 1u << PIN_LED;
    GPIO_DIRSET(P0_BASE) = 1u << PIN_LED;

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
    NVIC_ISER = 1u << UART_IRQ;
    irq_on();
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
        __asm volatile("wfi" ::: "memory"); /* woken by the RX interrupt, taken at irq_on */
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

uint64_t port_counter(void)
{
    uint32_t now, high;
    irq_off();
    now = DWT_CYCCNT;
    if (now < g_cyc_last) {
        g_cyc_high++;
    }
    g_cyc_last = now;
    high = g_cyc_high;
    irq_on();
    return ((uint64_t)high << 32) | now;
}

void port_counter_sync(void) {}
uint32_t port_counter_num(void) { return 1u; }
uint32_t port_counter_den(void) { return 1u; }
uint32_t port_counter_hz(void) { return TINYKWS_CLOCK_HZ; }
enum tinykws_counter_kind port_counter_kind(void) { return TINYKWS_COUNTER_CYCLES; }

void port_timestamp_pulse(void)
{
    uint32_t t0 = DWT_CYCCNT;
    GPIO_OUTCLR(PIN_TS_PORT) = 1u << PIN_TS;
    while (DWT_CYCCNT - t0 < TINYKWS_CLOCK_HZ / 50000u) { /* 20 us */
    }
    GPIO_OUTSET(PIN_TS_PORT) = 1u << PIN_TS;
}

void port_led(int on)
{
    if (on) {
        GPIO_OUTSET(P0_BASE) = 1u << PIN_LED;
    } else {
        GPIO_OUTCLR(P0_BASE) = 1u << PIN_LED;
    }
}

/* ---- PDM microphone ---- */
#define PDM_BLOCK 256u
#define MIC_RING 4096u
static int16_t g_pdm_buf[2][PDM_BLOCK];
static volatile int16_t g_mic[MIC_RING];
static volatile uint32_t g_mic_head, g_mic_tail;
static volatile uint32_t g_pdm_next, g_pdm_blocks;

void port_pdm_isr(void)
{
    if (PDM_EVENTS_STARTED) {
        /* The DMA has latched the pointer of the block now filling: queue the other one.
         * The block that filled before this one is complete: copy it into the ring. */
        uint32_t i, done = g_pdm_next ^ 1u;
        PDM_EVENTS_STARTED = 0u;
        PDM_SAMPLE_PTR = (uint32_t)(uintptr_t)g_pdm_buf[g_pdm_next];
        if (g_pdm_blocks++ > 0u) {
            for (i = 0; i < PDM_BLOCK; i++) {
                uint32_t next = (g_mic_head + 1u) % MIC_RING;
                if (next == g_mic_tail) { /* overrun: drop the oldest sample */
                    g_mic_tail = (g_mic_tail + 1u) % MIC_RING;
                }
                g_mic[g_mic_head] = g_pdm_buf[g_pdm_next][i];
                g_mic_head = next;
            }
        }
        g_pdm_next = done;
    }
    if (PDM_EVENTS_STOPPED) {
        PDM_EVENTS_STOPPED = 0u;
    }
    if (PDM_EVENTS_END) {
        PDM_EVENTS_END = 0u;
    }
}

int port_mic_start(void)
{
#if defined(TINYKWS_NO_MIC)
    return -1; /* Nano 33 BLE without "Sense": no microphone */
#else
    GPIO_OUTSET(P0_BASE) = 1u << PIN_MIC_PWR;
    GPIO_DIRSET(P0_BASE) = 1u << PIN_MIC_PWR;
    g_mic_head = g_mic_tail = 0u;
    g_pdm_blocks = 0u;
    PDM_PDMCLKCTRL = PDM_CLK_1280K;
    PDM_RATIO = PDM_RATIO_80; /* 1.280 MHz / 80 = 16 kHz */
    PDM_MODE = PDM_MODE_MONO_LEFTFALLING;
    PDM_GAINL = PDM_GAIN_DEFAULT;
    PDM_GAINR = PDM_GAIN_DEFAULT;
    PDM_PSEL_CLK = PIN_PDM_CLK;
    PDM_PSEL_DIN = PIN_PDM_DIN;
    PDM_SAMPLE_PTR = (uint32_t)(uintptr_t)g_pdm_buf[0];
    PDM_SAMPLE_MAXCNT = PDM_BLOCK;
    g_pdm_next = 1u;
    PDM_EVENTS_STARTED = 0u;
    PDM_INTENSET = 1u; /* STARTED */
    PDM_ENABLE = 1u;
    NVIC_ISER = 1u << PDM_IRQ;
    PDM_TASKS_START = 1u;
    return 0;
#endif
}

int port_mic_read(int16_t *dst, int max)
{
    int n = 0;
    while (n < max) {
        irq_off();
        if (g_mic_tail == g_mic_head) {
            irq_on();
            break;
        }
        dst[n++] = g_mic[g_mic_tail];
        g_mic_tail = (g_mic_tail + 1u) % MIC_RING;
        irq_on();
    }
    return n;
}

void port_mic_stop(void)
{
    PDM_INTENCLR = 1u;
    NVIC_ICER = 1u << PDM_IRQ;
    PDM_TASKS_STOP = 1u;
    PDM_ENABLE = 0u;
    GPIO_OUTCLR(P0_BASE) = 1u << PIN_MIC_PWR;
}

const char *port_board_name(void) { return TINYKWS_BOARD_NAME; }
uint32_t port_clock_hz(void) { return TINYKWS_CLOCK_HZ; }
