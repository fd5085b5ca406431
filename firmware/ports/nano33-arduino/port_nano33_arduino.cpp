/*
 * Port for the Arduino Nano 33 BLE / BLE Sense on the Arduino mbed core ("Arduino Mbed OS Nano
 * Boards", framework-arduino-mbed, built with PlatformIO: `make flash BOARD=nano33
 * CORE=arduino`, docs/nano33.md). The same port interface as the bare-metal port
 * (firmware/ports/nano33), implemented with the core's APIs instead of registers:
 *
 * - Host link: `Serial`, the core's USB CDC-ACM port (VID 0x2341). Serial.begin() also starts
 *   the core's 1200-baud-touch handler (set 1200 baud, drop DTR: the board reboots into its
 *   bootloader), which is what PlatformIO's upload relies on. Bytes to the host are gathered
 *   into 64-byte packets (the core sends one USB transfer per write call) and flushed at each
 *   end of line, when full, and before waiting for input. While no program has the port open
 *   (DTR low) the core drops output, like the bare-metal port.
 * - Counter: the DWT cycle counter (64 MHz CPU cycles), extended to 64 bits in software, as
 *   in the bare-metal port. Mbed OS's own interrupts (its tick, USB) run during measurements
 *   and are counted in them: figures from this image are not interchangeable with the
 *   bare-metal image's.
 * - Timestamp: D2 (P1.11), idle high, low for 20 us (digitalWrite + delayMicroseconds).
 * - LED: LED_BUILTIN (P0.13), lit on a detection.
 * - Microphone (BLE Sense): the core's PDM library, 16 kHz mono, gain 0 dB (register 0x28, as
 *   in the bare-metal port); its receive callback (PDM interrupt) copies each 256-sample block
 *   into a 4096-sample ring that `listen mic` drains; an overrun drops the oldest samples.
 *   The plain Nano 33 BLE has no microphone: -DTINYKWS_NO_MIC.
 * - Entry: the core owns main(); setup() calls the portable core's runner, renamed
 *   tinykws_core_main (core_entry.c), which never returns.
 *
 * No heap in this file; the buffers are static. Not built or run here (no network to fetch the
 * core, no board): see docs/nano33.md for what was checked and what to check first.
 */
#include <Arduino.h>
#include <PDM.h>
#include <mbed.h>

extern "C" {
#include "tinykws_build_info.h"
#include "tinykws_port.h"
int tinykws_core_main(void);
}

#define PIN_TIMESTAMP 2          /* D2 = P1.11 */
#define TX_PACKET 64u            /* CDC bulk packet size */
#define MIC_RING 4096u           /* samples (256 ms at 16 kHz) */
#define PDM_BLOCK_BYTES 512      /* the PDM library's block: 256 samples */
#define PDM_GAIN_0DB 0x28        /* nRF52840 PDM GAINL/GAINR: 0x28 = 0 dB */

/* ---- host link ---- */
static uint8_t g_tx[TX_PACKET];
static uint32_t g_tx_n;

static void tx_flush(void)
{
    if (g_tx_n > 0u) {
        (void)Serial.write(g_tx, (size_t)g_tx_n); /* 0 when the port is closed: dropped */
        g_tx_n = 0u;
    }
}

extern "C" {

void port_init(void)
{
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0u;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;

    pinMode(PIN_TIMESTAMP, OUTPUT);
    digitalWrite(PIN_TIMESTAMP, HIGH); /* timestamp idles high */
    pinMode(LED_BUILTIN, OUTPUT);
    digitalWrite(LED_BUILTIN, LOW);

    Serial.begin(115200); /* USB CDC: the rate is not used, except 1200 (the touch) */
}

int port_getc(void)
{
    tx_flush();
    while (Serial.available() <= 0) {
        rtos::ThisThread::yield(); /* let the core's threads (the touch handler) run */
    }
    return Serial.read();
}

int port_poll_getc(void)
{
    tx_flush();
    return Serial.available() > 0 ? Serial.read() : -1;
}

void port_putc(char c)
{
    g_tx[g_tx_n++] = (uint8_t)c;
    if (g_tx_n == TX_PACKET || c == '\n') {
        tx_flush();
    }
}

/* ---- counter ---- */
static struct tinykws_wide_counter g_cycles;

uint64_t port_counter(void)
{
    uint64_t t;
    core_util_critical_section_enter();
    t = tinykws_widen(&g_cycles, DWT->CYCCNT);
    core_util_critical_section_exit();
    return t;
}

void port_counter_sync(void) {}
uint32_t port_counter_num(void) { return 1u; }
uint32_t port_counter_den(void) { return 1u; }
uint32_t port_counter_hz(void) { return TINYKWS_CLOCK_HZ; }
enum tinykws_counter_kind port_counter_kind(void) { return TINYKWS_COUNTER_CYCLES; }

void port_timestamp_pulse(void)
{
    digitalWrite(PIN_TIMESTAMP, LOW);
    delayMicroseconds(20); /* long enough for a PPK2 sampling at 100 kHz */
    digitalWrite(PIN_TIMESTAMP, HIGH);
}

void port_led(int on) { digitalWrite(LED_BUILTIN, on ? HIGH : LOW); }

} /* extern "C" */

/* ---- PDM microphone ---- */
#if !defined(TINYKWS_NO_MIC)
static int16_t g_pdm_block[PDM_BLOCK_BYTES / 2];
static volatile int16_t g_mic[MIC_RING];
static volatile uint32_t g_mic_head, g_mic_tail;
static bool g_mic_on;

/* The PDM library's receive callback, in its interrupt: take the block now, or the library
 * stops the microphone at the next one (it has no room for a third). */
static void on_pdm_block(void)
{
    int avail = PDM.available();
    int n, i;
    if (avail > (int)sizeof g_pdm_block) {
        avail = (int)sizeof g_pdm_block;
    }
    n = PDM.read(g_pdm_block, (size_t)avail) / (int)sizeof g_pdm_block[0];
    for (i = 0; i < n; i++) {
        uint32_t next = (g_mic_head + 1u) % MIC_RING;
        if (next == g_mic_tail) { /* overrun: drop the oldest sample */
            g_mic_tail = (g_mic_tail + 1u) % MIC_RING;
        }
        g_mic[g_mic_head] = g_pdm_block[i];
        g_mic_head = next;
    }
}
#endif /* !TINYKWS_NO_MIC */

extern "C" {

int port_mic_start(void)
{
#if defined(TINYKWS_NO_MIC)
    return -1; /* Nano 33 BLE without "Sense": no microphone */
#else
    g_mic_head = 0u;
    g_mic_tail = 0u;
    PDM.onReceive(on_pdm_block);
    PDM.setBufferSize(PDM_BLOCK_BYTES);
    PDM.setGain(PDM_GAIN_0DB);
    if (!PDM.begin(1, 16000)) {
        return -1;
    }
    g_mic_on = true;
    return 0;
#endif
}

int port_mic_read(int16_t *dst, int max)
{
#if defined(TINYKWS_NO_MIC)
    (void)dst;
    (void)max;
    return 0;
#else
    int n = 0;
    while (n < max) {
        core_util_critical_section_enter();
        if (g_mic_tail == g_mic_head) {
            core_util_critical_section_exit();
            break;
        }
        dst[n++] = g_mic[g_mic_tail];
        g_mic_tail = (g_mic_tail + 1u) % MIC_RING;
        core_util_critical_section_exit();
    }
    return n;
#endif
}

void port_mic_stop(void)
{
#if !defined(TINYKWS_NO_MIC)
    if (g_mic_on) {
        PDM.end();
        g_mic_on = false;
    }
#endif
}

const char *port_board_name(void) { return TINYKWS_BOARD_NAME; }
uint32_t port_clock_hz(void) { return TINYKWS_CLOCK_HZ; }

} /* extern "C" */

/* ---- Arduino entry points ---- */
void setup()
{
    (void)tinykws_core_main(); /* port_init, then the protocol loop: never returns */
}

void loop() {}
