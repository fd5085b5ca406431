/*
 * Port for the emulated Cortex-M boards (QEMU mps2-an385/an386/an500/an505, mps3-an547):
 * CMSDK APB UART0 with an RX interrupt and ring buffer (the CPU sleeps in WFI while waiting
 * for the host, so an idle emulator does not spin), and SysTick as the counter.
 *
 * Counting: QEMU runs with -icount shift=0, so one instruction is 1 ns of virtual time and
 * SysTick on the processor clock (TINYKWS_SYSTICK_HZ) ticks every 1e9/hz instructions. The
 * 24-bit SysTick wraps; the wrap interrupt extends it to 64 bits.
 */
#include <stdint.h>

#include "tinykws_build_info.h"
#include "tinykws_port.h"

#ifndef UART0_BASE
#error "UART0_BASE must be defined by the board profile"
#endif
#ifndef TINYKWS_SYSTICK_HZ
#error "TINYKWS_SYSTICK_HZ must be defined by the board profile"
#endif

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART_DATA REG(UART0_BASE + 0x00u)
#define UART_STATE REG(UART0_BASE + 0x04u)
#define UART_CTRL REG(UART0_BASE + 0x08u)
#define UART_INTCLEAR REG(UART0_BASE + 0x0Cu)
#define UART_BAUDDIV REG(UART0_BASE + 0x10u)
#define STATE_TXFULL 0x1u
#define STATE_RXFULL 0x2u
#define CTRL_TXEN 0x1u
#define CTRL_RXEN 0x2u
#define CTRL_RXINTEN 0x8u
#define INT_RX 0x2u

#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_ICSR REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define NVIC_ISER(n) REG(0xE000E100u + 4u * (n))
#define SYST_RELOAD 0x00FFFFFFu

#define RING_SIZE 256u
static volatile uint8_t g_ring[RING_SIZE];
static volatile uint32_t g_head, g_tail; /* head: written by ISR, tail: by getc */
static volatile uint32_t g_wraps;

static inline void irq_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_on(void) { __asm volatile("cpsie i" ::: "memory"); }

void port_uart_isr(void)
{
    UART_INTCLEAR = INT_RX;
    while (UART_STATE & STATE_RXFULL) {
        uint32_t next = (g_head + 1u) % RING_SIZE;
        if (next == g_tail) {
            /* Ring full: leave the byte in the UART (QEMU then stops reading the socket)
             * and let getc drain it. */
            UART_CTRL &= ~CTRL_RXINTEN;
            return;
        }
        g_ring[g_head] = (uint8_t)UART_DATA;
        g_head = next;
    }
}

void port_systick_isr(void)
{
    g_wraps++;
}

void port_init(void)
{
    UART_BAUDDIV = 16u; /* QEMU needs a valid divider; the socket has no real baud rate */
    UART_CTRL = CTRL_TXEN | CTRL_RXEN | CTRL_RXINTEN;
    NVIC_ISER(UART0_RX_IRQ / 32u) = 1u << (UART0_RX_IRQ % 32u);
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* enable, interrupt on wrap, processor clock */
    irq_on();
}

int port_getc(void)
{
    for (;;) {
        irq_off();
        UART_CTRL |= CTRL_RXINTEN;
        if (g_tail != g_head) {
            uint8_t c = g_ring[g_tail];
            g_tail = (g_tail + 1u) % RING_SIZE;
            irq_on();
            return c;
        }
        if (UART_STATE & STATE_RXFULL) {
            uint8_t c = (uint8_t)UART_DATA;
            irq_on();
            return c;
        }
        /* WFI wakes on a pending interrupt even with PRIMASK set; it is taken at irq_on. */
        __asm volatile("wfi" ::: "memory");
        irq_on();
    }
}

void port_putc(char c)
{
    while (UART_STATE & STATE_TXFULL) {
    }
    UART_DATA = (uint8_t)c;
}

uint64_t port_counter(void)
{
    uint32_t w, v;
    irq_off();
    w = g_wraps;
    v = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) {
        /* wrapped, interrupt not yet taken: count it here and re-read the new period */
        w++;
        v = SYST_CVR;
    }
    irq_on();
    return ((uint64_t)w << 24) + (uint64_t)(SYST_RELOAD - v);
}

void port_counter_sync(void)
{
    uint32_t v = SYST_CVR;
    while (SYST_CVR == v) {
    }
}

/* 1 instruction = 1 ns under -icount shift=0: instructions = ticks * 1e9 / hz. */
uint32_t port_counter_num(void) { return 1000000000u / 1000u; }
uint32_t port_counter_den(void) { return TINYKWS_SYSTICK_HZ / 1000u; }
uint32_t port_counter_hz(void) { return TINYKWS_SYSTICK_HZ; }
enum tinykws_counter_kind port_counter_kind(void) { return TINYKWS_COUNTER_INSTRUCTIONS; }

void port_timestamp_pulse(void)
{
    /* The emulated boards have no timestamp pin that anything could observe. */
}

#ifndef TINYKWS_QEMU_TEST_MIC
/* No microphone on the emulated boards: the host streams audio over the UART (`audio N`). */
int port_mic_start(void) { return -1; }
int port_mic_read(int16_t *dst, int max)
{
    (void)dst;
    (void)max;
    return 0;
}
void port_mic_stop(void) {}
#else
/* TEST ONLY (-DTINYKWS_QEMU_TEST_MIC): a synthetic "microphone" so that the core's live loop
 * (`listen mic`) runs on the emulator: 64 samples per read of a 500 Hz square wave at low
 * level, produced as fast as the core asks (no real-time pacing). Never in a normal image. */
static uint32_t g_mic_n;
int port_mic_start(void)
{
    g_mic_n = 0u;
    return 0;
}
int port_mic_read(int16_t *dst, int max)
{
    int i, n = max < 64 ? max : 64;
    for (i = 0; i < n; i++, g_mic_n++) {
        dst[i] = (int16_t)(((g_mic_n / 16u) & 1u) ? 1000 : -1000);
    }
    return n;
}
void port_mic_stop(void) {}
#endif

int port_poll_getc(void)
{
    int c = -1;
    irq_off();
    if (g_tail != g_head) {
        c = g_ring[g_tail];
        g_tail = (g_tail + 1u) % RING_SIZE;
    } else if (UART_STATE & STATE_RXFULL) {
        c = (int)(uint8_t)UART_DATA;
    }
    UART_CTRL |= CTRL_RXINTEN;
    irq_on();
    return c;
}

void port_led(int on)
{
    (void)on; /* the MPS2 LEDs are not visible to anyone in QEMU */
}

const char *port_board_name(void) { return TINYKWS_BOARD_NAME; }
uint32_t port_clock_hz(void) { return TINYKWS_CLOCK_HZ; }
