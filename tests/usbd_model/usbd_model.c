/*
 * A host model of the nRF52840 USBD / POWER registers, and a scripted USB host, to exercise the
 * nano33 USB glue (firmware/ports/nano33/link_usb_nano33.c) together with the portable layer
 * (firmware/usb) on the build machine: tests/test_nano33_usbd_model.py compiles this file with
 * a copy of the glue and runs it.
 *
 * What this is and is not: the model implements the USBD behaviour the glue was written
 * against (our reading of the nRF52840 Product Specification: tasks start EasyDMA transfers
 * that end with ENDEPIN/ENDEPOUT, EP0DATADONE after each acknowledged EP0 data packet,
 * EP0STATUS/EP0STALL/EP0RCVOUT, EPDATA + EPDATASTATUS for the data endpoints, SET_ADDRESS
 * answered by the hardware). It checks the glue's logic (sequencing, chunking, zero-length
 * packets, flow control, power sequence, the touch reset), not the silicon: where our reading
 * of the datasheet is wrong, the model is wrong the same way. Nothing here ran on a board.
 *
 * Output: one line per check ("ok NAME" or "FAIL NAME"), exit status = number of failures.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinykws_build_info.h"
#include "tinykws_port.h"
#include "tk_usb.h"

void port_usbd_isr(void);
void port_power_isr(void);
void nano33_link_init(void);

/* ---- register files ---- */
static uint32_t r_usbd[1024], r_power[1024], r_errata[2048], r_scs[1024], r_dwt[4], r_ficr[64];
static uint32_t g_cyc;

#define U(off) r_usbd[(off) / 4u]
#define P(off) r_power[(off) / 4u]
#define SCS(off) r_scs[(off) / 4u]
#define ERR(addr) r_errata[((addr)-0x4006E000u) / 4u]

/* ---- model state ---- */
static int m_enabled, m_stepping;
static uint32_t m_errata187_at_enable, m_errata171_at_enable;
static int m_status, m_stall, m_rcvout, m_violations, m_dma_count;
static uint8_t m_ep0_in[64], m_ep0_out[64], m_bulk_in[64], m_bulk_out[64];
static uint32_t m_ep0_in_len, m_ep0_out_len, m_bulk_in_len, m_bulk_out_len;
static int m_ep0_in_ready, m_bulk_in_full, m_bulk_out_full;
static jmp_buf m_reset_jmp;
static uint32_t m_reset_gpregret, m_reset_pullup, m_reset_cyc;

static void violation(const char *what)
{
    m_violations++;
    printf("violation %s\n", what);
}

static void model_dma_in(uint32_t n)
{
    uint8_t *p = (uint8_t *)(uintptr_t)U(0x600u + 0x14u * n);
    uint32_t cnt = U(0x604u + 0x14u * n);
    m_dma_count++;
    if (U(0xC1Cu) != 0x82u) {
        violation("errata-199 register not set during an IN DMA");
    }
    if (cnt > 64u || (cnt > 0u && p == NULL)) {
        violation("IN DMA size/pointer");
        return;
    }
    if (n != 0u && !(U(0x510u) & (1u << n))) {
        violation("IN DMA on a disabled endpoint");
    }
    if (n == 0u) {
        memcpy(m_ep0_in, p, cnt);
        m_ep0_in_len = cnt;
        m_ep0_in_ready = 1;
    } else if (n == TKUSB_EP_DATA) {
        if (m_bulk_in_full) {
            violation("IN DMA over a packet the host has not taken");
        }
        memcpy(m_bulk_in, p, cnt);
        m_bulk_in_len = cnt;
        m_bulk_in_full = 1;
    } else {
        violation("IN DMA on an unexpected endpoint");
    }
    U(0x608u + 0x14u * n) = cnt;  /* AMOUNT */
    U(0x108u + 4u * n) = 1u;      /* ENDEPIN[n] */
}

static void model_dma_out(uint32_t n)
{
    uint8_t *p = (uint8_t *)(uintptr_t)U(0x700u + 0x14u * n);
    uint32_t max = U(0x704u + 0x14u * n), cnt;
    m_dma_count++;
    if (U(0xC1Cu) != 0x82u) {
        violation("errata-199 register not set during an OUT DMA");
    }
    if (n == 0u) {
        cnt = m_ep0_out_len < max ? m_ep0_out_len : max;
        memcpy(p, m_ep0_out, cnt);
        m_ep0_out_len = 0;
    } else if (n == TKUSB_EP_DATA) {
        if (!m_bulk_out_full) {
            violation("OUT DMA with no packet in the USBD");
        }
        cnt = m_bulk_out_len < max ? m_bulk_out_len : max;
        if (cnt < m_bulk_out_len) {
            violation("OUT DMA shorter than the packet");
        }
        memcpy(p, m_bulk_out, cnt);
        m_bulk_out_full = 0; /* the endpoint's buffer is free: the next packet is ACKed */
    } else {
        violation("OUT DMA on an unexpected endpoint");
        return;
    }
    U(0x708u + 0x14u * n) = cnt; /* AMOUNT */
    U(0x130u + 4u * n) = 1u;     /* ENDEPOUT[n] */
}

/* The hardware acting on what software wrote since the last register access. */
void sim_step(void)
{
    uint32_t n;
    if (m_stepping) {
        return;
    }
    m_stepping = 1;
    if (U(0x500u) == 1u && !m_enabled) {
        m_enabled = 1;
        m_errata187_at_enable = ERR(0x4006ED14u);
        m_errata171_at_enable = ERR(0x4006EC14u);
        U(0x400u) |= 1u << 11; /* EVENTCAUSE.READY */
    } else if (U(0x500u) == 0u) {
        m_enabled = 0;
    }
    for (n = 0; n < 8u; n++) {
        if (U(0x004u + 4u * n)) {
            U(0x004u + 4u * n) = 0u;
            model_dma_in(n);
        }
        if (U(0x028u + 4u * n)) {
            U(0x028u + 4u * n) = 0u;
            model_dma_out(n);
        }
    }
    if (U(0x04Cu)) {
        U(0x04Cu) = 0u;
        m_rcvout++;
    }
    if (U(0x050u)) {
        U(0x050u) = 0u;
        m_status++;
    }
    if (U(0x054u)) {
        U(0x054u) = 0u;
        m_stall++;
    }
    if ((SCS(0xD0Cu) & 0xFFFF0004u) == 0x05FA0004u) { /* AIRCR.SYSRESETREQ with its key */
        m_reset_gpregret = P(0x51Cu);
        m_reset_pullup = U(0x504u);
        m_reset_cyc = g_cyc;
        SCS(0xD0Cu) = 0u;
        m_stepping = 0;
        longjmp(m_reset_jmp, 1);
    }
    m_stepping = 0;
}

volatile uint32_t *sim_reg(uint32_t a)
{
    sim_step();
    if (a >= 0x40027000u && a < 0x40028000u) {
        return &r_usbd[(a - 0x40027000u) / 4u];
    }
    if (a >= 0x40000000u && a < 0x40001000u) {
        return &r_power[(a - 0x40000000u) / 4u];
    }
    if (a >= 0x4006E000u && a < 0x40070000u) {
        return &r_errata[(a - 0x4006E000u) / 4u];
    }
    if (a >= 0xE000E000u && a < 0xE000F000u) {
        return &r_scs[(a - 0xE000E000u) / 4u];
    }
    if (a == 0xE0001004u) { /* DWT_CYCCNT: time passes with every look at the clock */
        g_cyc += 64u;
        r_dwt[1] = g_cyc;
        return &r_dwt[1];
    }
    if (a >= 0xE0001000u && a < 0xE0001010u) {
        return &r_dwt[(a - 0xE0001000u) / 4u];
    }
    if (a >= 0x10000000u && a < 0x10000100u) {
        return &r_ficr[(a - 0x10000000u) / 4u];
    }
    printf("violation unmapped register 0x%08x\n", (unsigned)a);
    exit(99);
}

/* ---- the host side ---- */

static void take_pending_irq(void)
{
    while ((SCS(0x204u) & (1u << 7)) && (SCS(0x104u) & (1u << 7))) { /* USBD pending and enabled */
        SCS(0x204u) &= ~(1u << 7);
        port_usbd_isr();
    }
}

static int g_last_packets;

/* A control transfer. Returns the IN byte count (0 for no data stage), -1 for a stall, -2 when
 * the device did not do what the transfer needs next, -3 when it acted on SET_ADDRESS. */
static int host_control(uint8_t bm, uint8_t req, uint16_t val, uint16_t idx, uint16_t len, const uint8_t *out,
                        uint8_t *in)
{
    int st0 = m_status, sl0 = m_stall, rc0 = m_rcvout, got = 0;
    uint32_t setup[8] = {bm, req, val & 0xFFu, val >> 8, idx & 0xFFu, idx >> 8, len & 0xFFu, len >> 8};
    uint32_t i;
    g_last_packets = 0;
    for (i = 0; i < 8u; i++) {
        U(0x480u + 4u * i) = setup[i];
    }
    U(0x15Cu) = 1u; /* EP0SETUP */
    port_usbd_isr();
    sim_step();
    if (bm == 0x00u && req == 5u) { /* SET_ADDRESS: the USBD answers it; software must stay out */
        return (m_status == st0 && m_stall == sl0) ? 0 : -3;
    }
    if (m_stall != sl0) {
        return -1;
    }
    if (bm & 0x80u) {
        for (;;) {
            int short_pkt;
            if (m_status != st0) {
                return -2; /* status stage allowed before the data stage ended */
            }
            if (!m_ep0_in_ready) {
                return -2;
            }
            memcpy(in + got, m_ep0_in, m_ep0_in_len);
            got += (int)m_ep0_in_len;
            short_pkt = m_ep0_in_len < 64u;
            m_ep0_in_ready = 0;
            g_last_packets++;
            U(0x128u) = 1u; /* EP0DATADONE */
            port_usbd_isr();
            sim_step();
            if (m_stall != sl0) {
                return -1;
            }
            if (m_status != st0) {
                return (short_pkt || got == len) && !m_ep0_in_ready ? got : -2;
            }
            if (short_pkt || got >= len) {
                return -2; /* the data stage is over but the device did not allow the status stage */
            }
        }
    }
    if (len > 0u) {
        uint16_t sent = 0;
        while (sent < len) {
            uint16_t n = (uint16_t)((uint32_t)(len - sent) > 64u ? 64u : (uint32_t)(len - sent));
            if (m_rcvout == rc0) {
                return -2; /* the device did not allow the OUT data stage */
            }
            rc0 = m_rcvout;
            memcpy(m_ep0_out, out + sent, n);
            m_ep0_out_len = n;
            U(0x4A0u) = n; /* SIZE.EPOUT[0] */
            U(0x128u) = 1u;
            port_usbd_isr();
            sim_step();
            sent = (uint16_t)(sent + n);
            g_last_packets++;
        }
        if (m_stall != sl0) {
            return -1;
        }
        return m_status != st0 ? 0 : -2;
    }
    return m_status != st0 ? 0 : -2;
}

static int host_bulk_in(uint8_t *buf) /* the packet's length, or -1 for a NAK */
{
    int n;
    take_pending_irq();
    if (!m_bulk_in_full) {
        return -1;
    }
    memcpy(buf, m_bulk_in, m_bulk_in_len);
    n = (int)m_bulk_in_len;
    m_bulk_in_full = 0;
    U(0x46Cu) |= 1u << TKUSB_EP_DATA;
    U(0x160u) = 1u; /* EPDATA */
    port_usbd_isr();
    U(0x46Cu) = 0u;
    take_pending_irq();
    return n;
}

static int host_bulk_out(const uint8_t *p, uint32_t n) /* 1: ACK, 0: NAK */
{
    take_pending_irq();
    if (m_bulk_out_full || !(U(0x514u) & (1u << TKUSB_EP_DATA))) {
        return 0;
    }
    memcpy(m_bulk_out, p, n);
    m_bulk_out_len = n;
    m_bulk_out_full = 1;
    U(0x4A0u + 4u * TKUSB_EP_DATA) = n; /* SIZE.EPOUT[2] */
    U(0x46Cu) |= 1u << (16u + TKUSB_EP_DATA);
    U(0x160u) = 1u;
    port_usbd_isr();
    U(0x46Cu) = 0u;
    take_pending_irq();
    return 1;
}

/* ---- checks ---- */
static int g_fail;
#define CHECK(cond, name)                                                                              \
    do {                                                                                               \
        if (cond) {                                                                                    \
            printf("ok %s\n", name);                                                                   \
        } else {                                                                                       \
            printf("FAIL %s (line %d)\n", name, __LINE__);                                            \
            g_fail++;                                                                                  \
        }                                                                                              \
    } while (0)

static void enumerate(void)
{
    uint8_t buf[512];
    U(0x100u) = 1u; /* USBRESET */
    port_usbd_isr();
    CHECK(host_control(0x80, 6, 0x0100, 0, 64, NULL, buf) == 18 && memcmp(buf, tkusb_device_desc, 18) == 0 &&
              g_last_packets == 1,
          "device descriptor through EP0 (one short packet, then status)");
    CHECK(host_control(0x00, 5, 9, 0, 0, NULL, NULL) == 0, "SET_ADDRESS left to the hardware");
    CHECK(host_control(0x80, 6, 0x0200, 0, 9, NULL, buf) == 9 && memcmp(buf, tkusb_config_desc, 9) == 0,
          "configuration header (wLength 9)");
    CHECK(host_control(0x80, 6, 0x0200, 0, 255, NULL, buf) == 75 &&
              memcmp(buf, tkusb_config_desc, 75) == 0 && g_last_packets == 2,
          "configuration descriptor in two EP0 packets (64 + 11)");
    CHECK(host_control(0x00, 9, 1, 0, 0, NULL, NULL) == 0, "SET_CONFIGURATION 1");
    CHECK(U(0x510u) == 0x7u && U(0x514u) == 0x5u, "EP0, 0x81, 0x82 IN and EP0, 0x02 OUT enabled");
}

int main(void)
{
    uint8_t buf[512], pkt[64], msg[200], big[3000], got[3000];
    uint32_t i, n_got, sent, naks;
    int n, packets[8], np;

    if ((uintptr_t)&r_usbd > 0xFFFFFFFFu) {
        printf("SKIP static data above 4 GB: EasyDMA pointers are 32-bit (build with -no-pie)\n");
        return 0;
    }
    r_ficr[0x60 / 4] = 0x89ABCDEFu; /* FICR.DEVICEID[0] */
    r_ficr[0x64 / 4] = 0x01234567u; /* FICR.DEVICEID[1] */

    /* power-up with VBUS present and the USB regulator ready (a board plugged into USB) */
    P(0x438u) = 3u;
    nano33_link_init();
    CHECK(U(0x500u) == 1u && U(0x504u) == 1u, "USBD enabled and D+ pull-up on");
    CHECK(m_errata187_at_enable == 3u && m_errata171_at_enable == 0xC0u,
          "errata 187 and 171 registers set while ENABLE is written");
    CHECK(ERR(0x4006ED14u) == 0u && ERR(0x4006EC14u) == 0u, "errata registers restored after READY");
    CHECK(U(0x304u) == ((1u << 0) | (1u << 10) | (1u << 22) | (1u << 23) | (1u << 24)),
          "USBD interrupts: USBRESET, EP0DATADONE, USBEVENT, EP0SETUP, EPDATA");
    CHECK((SCS(0x104u) & (1u << 7)) && (SCS(0x100u) & 1u), "USBD (39) and POWER_CLOCK (0) IRQs enabled");
    CHECK(P(0x304u) == ((1u << 7) | (1u << 8) | (1u << 9)), "POWER USBDETECTED/USBREMOVED/USBPWRRDY interrupts");

    enumerate();
    n = host_control(0x80, 6, 0x0303, 0x0409, 255, NULL, buf);
    CHECK(n == 34 && buf[2] == '0' && buf[4] == '1' && buf[32] == 'F', "serial number string from FICR");
    CHECK(host_control(0x80, 6, 0x0600, 0, 10, NULL, buf) == -1, "DEVICE_QUALIFIER stalled");
    CHECK(host_control(0x40, 1, 0, 0, 0, NULL, NULL) == -1, "vendor request stalled");

    /* the line coding goes through the OUT data stage (EP0RCVOUT, DMA, status) */
    {
        const uint8_t lc[7] = {0x00, 0xE1, 0x00, 0x00, 2, 2, 7}; /* 57600, 2 stop, even, 7 bits */
        CHECK(host_control(0x21, 0x20, 0, 0, 7, lc, NULL) == 0, "SET_LINE_CODING data stage");
        CHECK(host_control(0xA1, 0x21, 0, 0, 7, NULL, buf) == 7 && memcmp(buf, lc, 7) == 0,
              "GET_LINE_CODING returns it");
    }
    CHECK(host_control(0x21, 0x22, 3, 0, 0, NULL, NULL) == 0, "SET_CONTROL_LINE_STATE DTR|RTS");

    /* device -> host: bytes come out in order; a full last packet is followed by a ZLP */
    for (i = 0; i < sizeof msg; i++) {
        msg[i] = (uint8_t)(i * 13u + 1u);
        port_putc((char)msg[i]);
        take_pending_irq();
    }
    n_got = 0;
    while ((n = host_bulk_in(pkt)) >= 0) {
        memcpy(got + n_got, pkt, (size_t)n);
        n_got += (uint32_t)n;
    }
    CHECK(n_got == sizeof msg && memcmp(got, msg, sizeof msg) == 0, "200 bytes out of bulk IN in order");
    port_putc('A');
    take_pending_irq(); /* the first byte leaves at once (1-byte packet) */
    for (i = 0; i < 64u; i++) {
        port_putc((char)('a' + i % 26u));
    }
    np = 0;
    while (np < 8 && (n = host_bulk_in(pkt)) >= 0) {
        packets[np++] = n;
    }
    CHECK(np == 3 && packets[0] == 1 && packets[1] == 64 && packets[2] == 0,
          "packets 1, 64, then a zero-length packet");

    /* host -> device: 3000 bytes, NAKed while the RX ring is full, all arrive in order */
    for (i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 7u + i / 256u);
    }
    sent = 0;
    naks = 0;
    n_got = 0;
    while (sent < sizeof big) {
        uint32_t chunk = sizeof big - sent > 64u ? 64u : sizeof big - sent;
        if (host_bulk_out(big + sent, chunk)) {
            sent += chunk;
        } else {
            naks++;
            for (i = 0; i < 100u && (n = port_poll_getc()) >= 0; i++) {
                got[n_got++] = (uint8_t)n;
                take_pending_irq();
            }
        }
    }
    while ((n = port_poll_getc()) >= 0) {
        got[n_got++] = (uint8_t)n;
        take_pending_irq();
    }
    CHECK(naks > 0, "bulk OUT NAKed while the RX ring is full (flow control)");
    CHECK(n_got == sizeof big && memcmp(got, big, sizeof big) == 0, "3000 bytes from bulk OUT, in order");

    /* endpoint halt */
    CHECK(host_control(0x02, 3, 0, 0x82, 0, NULL, NULL) == 0 && U(0x518u) == (2u | 0x80u | 0x100u),
          "SET_FEATURE(ENDPOINT_HALT) stalls 0x82 in EPSTALL");
    CHECK(host_control(0x02, 1, 0, 0x82, 0, NULL, NULL) == 0 && U(0x518u) == (2u | 0x80u) &&
              U(0x50Cu) == (2u | 0x80u | 0x100u),
          "CLEAR_FEATURE un-stalls 0x82 and resets its toggle to DATA0");

    /* an ordinary close at 115200: no reset */
    {
        const uint8_t lc[7] = {0x00, 0xC2, 0x01, 0x00, 0, 0, 8};
        int ok;
        if (setjmp(m_reset_jmp) == 0) {
            ok = host_control(0x21, 0x20, 0, 0, 7, lc, NULL) == 0 && host_control(0x21, 0x22, 0, 0, 0, NULL, NULL) == 0;
        } else {
            ok = 0;
        }
        CHECK(ok, "115200 baud then DTR low: no reset");
    }

    /* unplug: everything torn down; plug in again: enabled, pull-up only once the regulator is ready */
    P(0x438u) = 0u;
    P(0x120u) = 1u; /* USBREMOVED */
    port_power_isr();
    CHECK(U(0x500u) == 0u && U(0x504u) == 0u && tkusb_configuration() == 0u, "VBUS removed: USBD off");
    P(0x438u) = 1u; /* VBUSDETECT only */
    P(0x11Cu) = 1u;
    port_power_isr();
    CHECK(U(0x500u) == 1u && U(0x504u) == 0u, "VBUS back: USBD enabled, no pull-up yet");
    P(0x438u) = 3u;
    P(0x124u) = 1u; /* USBPWRRDY */
    port_power_isr();
    CHECK(U(0x504u) == 1u, "USB regulator ready: pull-up on");
    enumerate();

    /* the 1200-baud touch: status stage, 50 ms, GPREGRET = 0xB0, pull-up off, system reset */
    {
        const uint8_t lc[7] = {0xB0, 0x04, 0x00, 0x00, 0, 0, 8}; /* 1200 */
        volatile int st0 = 0;
        volatile uint32_t cyc0 = 0;
        CHECK(host_control(0x21, 0x22, 3, 0, 0, NULL, NULL) == 0, "DTR up");
        CHECK(host_control(0x21, 0x20, 0, 0, 7, lc, NULL) == 0, "1200 baud");
        if (setjmp(m_reset_jmp) == 0) {
            st0 = m_status;
            cyc0 = g_cyc;
            (void)host_control(0x21, 0x22, 0, 0, 0, NULL, NULL);
            CHECK(0, "DTR low at 1200 baud resets");
        } else {
            CHECK(m_status == st0 + 1, "status stage of SET_CONTROL_LINE_STATE allowed before the reset");
            CHECK(m_reset_gpregret == 0xB0u && m_reset_pullup == 0u, "GPREGRET 0xB0, pull-up off, then reset");
            CHECK(m_reset_cyc - cyc0 >= TINYKWS_CLOCK_HZ / 20u, "the reset waits 50 ms");
        }
    }

    CHECK(m_violations == 0 && U(0xC1Cu) == 0u, "no model violations; errata-199 register cleared after DMA");
    printf("dma transfers %d\n", m_dma_count);
    return g_fail;
}
