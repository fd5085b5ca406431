/*
 * Port for the Arduino Nano 33 BLE / BLE Sense (nRF52840, Cortex-M4F at 64 MHz).
 *
 * - Host link: USB CDC-ACM on the board's USB connector (the nRF52840 USBD; portable USB layer
 *   in firmware/usb, register glue in link_usb_nano33.c): the board appears as /dev/ttyACM0
 *   with USB vendor id 0x2341. With -DTINYKWS_NANO33_UART the link is UART0 on D1/TX (P1.03)
 *   and D0/RX (P1.10) instead (link_uart_nano33.c), for a 3.3 V USB-serial adapter.
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

#include "nano33.h"
#include "tinykws_build_info.h"
#include "tinykws_port.h"

/* CLOCK */
#define CLOCK_TASKS_HFCLKSTART REG(0x40000000u)
#define CLOCK_EVENTS_HFCLKSTARTED REG(0x40000100u)

/* GPIO */
#define P0_BASE 0x50000000u
#define P1_BASE 0x50000300u
#define GPIO_OUTSET(p) REG((p) + 0x508u)
#define GPIO_OUTCLR(p) REG((p) + 0x50Cu)
#define GPIO_DIRSET(p) REG((p) + 0x518u)
#define PIN(port, n) ((uint32_t)(n) | ((uint32_t)(port) << 5))
#define PIN_TS_PORT P1_BASE
#define PIN_TS 11u /* D2 */
#define PIN_LED 13u /* P0.13 */
#define PIN_MIC_PWR 17u /* P0.17 */
#define PIN_PDM_CLK PIN(0, 26)
#define PIN_PDM_DIN PIN(0, 25)

/* DWT / CoreDebug */
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)

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

/* ---- counter ---- */
static struct tinykws_wide_counter g_cycles;

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

    nano33_link_init(); /* USB CDC-ACM, or UART0 with -DTINYKWS_NANO33_UART */
    irq_on();
}

uint64_t port_counter(void)
{
    uint64_t t;
    irq_off();
    t = tinykws_widen(&g_cycles, DWT_CYCCNT);
    irq_on();
    return t;
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
    NVIC_ISER0 = 1u << PDM_IRQ;
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
    NVIC_ICER0 = 1u << PDM_IRQ;
    PDM_TASKS_STOP = 1u;
    PDM_ENABLE = 0u;
    GPIO_OUTCLR(P0_BASE) = 1u << PIN_MIC_PWR;
}

const char *port_board_name(void) { return TINYKWS_BOARD_NAME; }
uint32_t port_clock_hz(void) { return TINYKWS_CLOCK_HZ; }
