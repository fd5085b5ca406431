/*
 * The port interface: everything the portable core needs from a board.
 *
 * Why a separate header: the core (protocol, runtime, features) never touches registers, so
 * a new board is one small folder implementing these functions (startup, linker script,
 * host link (a UART, or USB through firmware/usb), counter, GPIO). Emulated boards (QEMU)
 * and real ones implement the same interface.
 */
#ifndef TINYKWS_PORT_H
#define TINYKWS_PORT_H

#include <stdint.h>

/* What the free-running counter counts. */
enum tinykws_counter_kind {
    TINYKWS_COUNTER_INSTRUCTIONS = 0, /* emulated instructions (QEMU -icount shift=0) */
    TINYKWS_COUNTER_CYCLES = 1        /* real CPU cycles (e.g. DWT CYCCNT) */
};

/* Board bring-up: clocks, the host link (UART at the profile's baud rate, or USB), counter,
 * timestamp GPIO. */
void port_init(void);

/* Blocking read of one byte from the host link (may sleep the CPU while waiting). */
int port_getc(void);

/* Write one byte to the host link (blocking until it is accepted). */
void port_putc(char c);

/* Free-running 64-bit counter; wraps of the hardware counter are accounted for. */
uint64_t port_counter(void);

/* A 32-bit up-counter (e.g. DWT CYCCNT) widened to 64 bits by counting its wraps, for ports to
 * share: pass each new reading with interrupts held off, at least once per wrap period. */
struct tinykws_wide_counter {
    uint32_t last;
    uint32_t high;
};

static inline uint64_t tinykws_widen(struct tinykws_wide_counter *c, uint32_t now)
{
    if (now < c->last) {
        c->high++;
    }
    c->last = now;
    return ((uint64_t)c->high << 32) | now;
}

/* Wait for the counter's next edge, so that a measurement starts at the same phase of the
 * counter every time: with a counter coarser than one event (QEMU's SysTick ticks every 40
 * instructions) this makes repeated measurements identical. No-op for cycle counters. */
void port_counter_sync(void);

/* Counter units per counted event: the core converts a counter delta to instructions or
 * cycles with `delta * port_counter_num() / port_counter_den()` (e.g. 40/1 on QEMU at
 * 25 MHz SysTick, 1/1 with a cycle counter). */
uint32_t port_counter_num(void);
uint32_t port_counter_den(void);

/* Counter ticks per second of (virtual, on QEMU) time, for m-lap-us. */
uint32_t port_counter_hz(void);

/* What the counter's converted figure is: instructions (emulated) or cycles. */
enum tinykws_counter_kind port_counter_kind(void);

/* Energy-mode timestamp: drive the timestamp GPIO low for at least 1 us, then high.
 * Boards without the pin make this a no-op. */
void port_timestamp_pulse(void);

/* ---- Live audio and indicators (streaming detection mode, `listen`) ---- */

/* Start the board's microphone at 16 kHz, 16-bit mono. Returns 0 when capturing, -1 when the
 * board has no microphone (emulated boards: audio comes from the host with `audio N`). */
int port_mic_start(void);

/* Copy up to `max` captured samples into dst without blocking; returns how many (0 when none
 * are ready yet). Samples are in capture order; an overrun drops the oldest. */
int port_mic_read(int16_t *dst, int max);

/* Stop the microphone (no-op when it is not running). */
void port_mic_stop(void);

/* Non-blocking read of one byte from the host link: the byte, or -1 when none is waiting
 * (the live loop polls it so that any byte from the host stops listening). */
int port_poll_getc(void);

/* The board's user LED (lit on a detection); boards without one make this a no-op. */
void port_led(int on);

/* Board identity, from the board profile (boards/<name>.toml). */
const char *port_board_name(void);
uint32_t port_clock_hz(void);

#endif /* TINYKWS_PORT_H */
