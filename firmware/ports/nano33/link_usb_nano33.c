/*
 * Host link over the nRF52840's USB device controller (USBD) as a CDC-ACM serial port: the
 * register-level glue under the portable USB layer (firmware/usb). The default link of the
 * nano33 port; -DTINYKWS_NANO33_UART selects UART0 on D0/D1 instead (link_uart_nano33.c).
 *
 * COMPILED HERE, NOT RUN ON HARDWARE: no board is attached to the machines tinykws is tested
 * on. The portable layer is tested on the host (tests/test_usb_cdc.py); this file is built for
 * the board and, on the host, run only against a model of the USBD registers written from the
 * same reading of the datasheet (tests/test_nano33_usbd_model.py: its logic, not the silicon).
 * docs/nano33.md lists what to check first on a real board.
 *
 * Register map and behaviour: nRF52840 Product Specification, USBD and POWER chapters
 * (USBD at 0x40027000, IRQ 39; POWER at 0x40000000, IRQ 0 shared with CLOCK). The essentials:
 *  - USB power: POWER.USBREGSTATUS (0x438) VBUSDETECT / OUTPUTRDY and the USBDETECTED,
 *    USBREMOVED, USBPWRRDY events. The USBD is enabled when VBUS is seen and the D+ pull-up is
 *    connected only once the USB regulator's output is ready. The HFXO (started by port_init)
 *    must run for the USBD.
 *  - Enabling the USBD follows the nRF52840 errata: 187 ("USBD cannot be enabled") and 171
 *    ("USBD might not reach its active state") write undocumented registers at 0x4006EC00 /
 *    0x4006EC14 / 0x4006ED14 around ENABLE, waiting for EVENTCAUSE.READY between; 199 ("USBD
 *    cannot receive tasks during DMA") writes 0x82 to 0x40027C1C for the duration of each
 *    EasyDMA transfer. These are applied unconditionally (Nordic's nrfx gates them on the chip
 *    revision in FICR); not applied: 166 (isochronous only), 211 (suspend: this port never
 *    enters low-power suspend), 223.
 *  - EasyDMA reads and writes RAM only (descriptors in flash are copied to a RAM buffer first)
 *    and only one USBD EasyDMA transfer may run at a time. Here every transfer is started and
 *    waited for (a few microseconds for 64 bytes, with a time-out) inside the one USBD
 *    interrupt handler, so transfers never overlap; thread code only sets the interrupt
 *    pending (NVIC ISPR) to ask the handler for work.
 *  - EP0: EP0SETUP gives the 8 SETUP bytes in BMREQUESTTYPE..WLENGTHH. SET_ADDRESS is answered
 *    by the USBD itself (address and status stage): software does nothing. IN data stage:
 *    EPIN[0] DMA of up to 64 bytes, EP0DATADONE when the host took it, next chunk or a ZLP,
 *    then the EP0STATUS task. OUT data stage: the EP0RCVOUT task, EP0DATADONE when a packet
 *    arrived, EPOUT[0] DMA of SIZE.EPOUT[0] bytes, then EP0STATUS (or EP0STALL).
 *  - Bulk/interrupt endpoints: enabled in EPINEN/EPOUTEN on SET_CONFIGURATION, data toggles
 *    reset through DTOGGLE. EPDATA + EPDATASTATUS report an IN packet taken by the host (the
 *    next may be sent) or an OUT packet waiting in the USBD (it is copied out with EPOUT[n] DMA
 *    only when the RX ring has room for a whole packet; until then the USBD NAKs the host,
 *    which is the flow control). Writing SIZE.EPOUT[n] lets the endpoint accept its first
 *    packet after configuration.
 *  - The Arduino 1200-baud touch reboots into the Arduino bootloader the way the Arduino mbed
 *    core does it for this board: POWER.GPREGRET = 0xB0 (DFU_MAGIC_SERIAL_ONLY_RESET), then a
 *    system reset (arduino/ArduinoCore-mbed, variants/ARDUINO_NANO33BLE/pins_arduino.h,
 *    _ontouch1200bps_; RIOT's boards/arduino-nano-33-ble/reset.c writes the same 0xB0, an
 *    older version of it 0x4E). The reset waits 50 ms first so that the host sees the status
 *    stage of the SET_CONTROL_LINE_STATE request that asked for it.
 */
#if !defined(TINYKWS_NANO33_UART)
#include <stdint.h>

#include "nano33.h"
#include "tinykws_build_info.h"
#include "tinykws_port.h"
#include "tk_usb.h"

/* ---- POWER ---- */
#define POWER_EVENTS_USBDETECTED REG(0x4000011Cu)
#define POWER_EVENTS_USBREMOVED REG(0x40000120u)
#define POWER_EVENTS_USBPWRRDY REG(0x40000124u)
#define POWER_INTENSET REG(0x40000304u)
#define POWER_USBREGSTATUS REG(0x40000438u)
#define POWER_GPREGRET REG(0x4000051Cu)
#define POWER_INT_USB ((1u << 7) | (1u << 8) | (1u << 9)) /* USBDETECTED, USBREMOVED, USBPWRRDY */
#define USBREG_VBUSDETECT (1u << 0)
#define USBREG_OUTPUTRDY (1u << 1)
#define POWER_CLOCK_IRQ 0u

/* ---- USBD ---- */
#define USBD_BASE 0x40027000u
#define USBD_TASKS_STARTEPIN(n) REG(USBD_BASE + 0x004u + 4u * (n))
#define USBD_TASKS_STARTEPOUT(n) REG(USBD_BASE + 0x028u + 4u * (n))
#define USBD_TASKS_EP0RCVOUT REG(USBD_BASE + 0x04Cu)
#define USBD_TASKS_EP0STATUS REG(USBD_BASE + 0x050u)
#define USBD_TASKS_EP0STALL REG(USBD_BASE + 0x054u)
#define USBD_EVENTS_USBRESET REG(USBD_BASE + 0x100u)
#define USBD_EVENTS_ENDEPIN(n) REG(USBD_BASE + 0x108u + 4u * (n))
#define USBD_EVENTS_EP0DATADONE REG(USBD_BASE + 0x128u)
#define USBD_EVENTS_ENDEPOUT(n) REG(USBD_BASE + 0x130u + 4u * (n))
#define USBD_EVENTS_USBEVENT REG(USBD_BASE + 0x158u)
#define USBD_EVENTS_EP0SETUP REG(USBD_BASE + 0x15Cu)
#define USBD_EVENTS_EPDATA REG(USBD_BASE + 0x160u)
#define USBD_INTENSET REG(USBD_BASE + 0x304u)
#define USBD_INTENCLR REG(USBD_BASE + 0x308u)
#define USBD_EVENTCAUSE REG(USBD_BASE + 0x400u)
#define USBD_EPDATASTATUS REG(USBD_BASE + 0x46Cu)
#define USBD_SETUP_BYTE(i) REG(USBD_BASE + 0x480u + 4u * (i)) /* BMREQUESTTYPE .. WLENGTHH */
#define USBD_SIZE_EPOUT(n) REG(USBD_BASE + 0x4A0u + 4u * (n))
#define USBD_ENABLE REG(USBD_BASE + 0x500u)
#define USBD_USBPULLUP REG(USBD_BASE + 0x504u)
#define USBD_DTOGGLE REG(USBD_BASE + 0x50Cu)
#define USBD_EPINEN REG(USBD_BASE + 0x510u)
#define USBD_EPOUTEN REG(USBD_BASE + 0x514u)
#define USBD_EPSTALL REG(USBD_BASE + 0x518u)
#define USBD_EPIN_PTR(n) REG(USBD_BASE + 0x600u + 0x14u * (n))
#define USBD_EPIN_MAXCNT(n) REG(USBD_BASE + 0x604u + 0x14u * (n))
#define USBD_EPOUT_PTR(n) REG(USBD_BASE + 0x700u + 0x14u * (n))
#define USBD_EPOUT_MAXCNT(n) REG(USBD_BASE + 0x704u + 0x14u * (n))
#define USBD_EPOUT_AMOUNT(n) REG(USBD_BASE + 0x708u + 0x14u * (n))
#define USBD_IRQ 39u

#define INT_USBRESET (1u << 0)
#define INT_EP0DATADONE (1u << 10)
#define INT_USBEVENT (1u << 22)
#define INT_EP0SETUP (1u << 23)
#define INT_EPDATA (1u << 24)
#define EVENTCAUSE_READY (1u << 11)
#define DTOGGLE_IO_IN (1u << 7)
#define DTOGGLE_DATA0 (1u << 8)
#define EPSTALL_IO_IN (1u << 7)
#define EPSTALL_STALL (1u << 8)
#define EPDATA_IN(n) (1u << (n))
#define EPDATA_OUT(n) (1u << (16u + (n)))

/* ---- errata registers (nRF52840 errata sheet; undocumented otherwise) ---- */
#define ERRATA_UNLOCK REG(0x4006EC00u)
#define ERRATA_171_REG REG(0x4006EC14u)
#define ERRATA_187_REG REG(0x4006ED14u)
#define ERRATA_199_REG REG(0x40027C1Cu)
#define ERRATA_KEY 0x9375u

/* ---- reset into the Arduino bootloader ---- */
#define DFU_MAGIC_SERIAL_ONLY_RESET 0xB0u
#define SCB_AIRCR REG(0xE000ED0Cu)
#define AIRCR_VECTKEY_SYSRESETREQ 0x05FA0004u
#define AIRCR_PRIGROUP 0x00000700u

/* ---- FICR: the chip's 64-bit unique id, the USB serial number ---- */
#define FICR_DEVICEID0 REG(0x10000060u)
#define FICR_DEVICEID1 REG(0x10000064u)

#define US(n) ((uint32_t)(n) * (TINYKWS_CLOCK_HZ / 1000000u))

enum ep0_state { EP0_IDLE, EP0_IN, EP0_OUT };

static uint8_t g_ep0_buf[TKUSB_EP0_SIZE] __attribute__((aligned(4)));
static uint8_t g_in_buf[TKUSB_DATA_SIZE] __attribute__((aligned(4)));
static uint8_t g_out_buf[TKUSB_DATA_SIZE] __attribute__((aligned(4)));
static uint8_t g_ctrl_out[TKUSB_CTRL_OUT_MAX];
static const uint8_t *g_ep0_src;
static uint16_t g_ep0_left, g_ctrl_out_len, g_ctrl_out_want;
static uint8_t g_ep0_zlp, g_ep0_state;
static uint8_t g_enabled, g_pullup;
static volatile uint8_t g_in_busy;   /* an IN packet is in the USBD, not yet taken by the host */
static volatile uint8_t g_out_ready; /* an OUT packet waits in the USBD for the RX ring */
static volatile uint8_t g_reboot;

/* Busy-wait for an event register with a time-out; clears it. 0 when it came. */
static int wait_event(volatile uint32_t *ev, uint32_t cycles)
{
    uint32_t t0 = DWT_CYCCNT;
    while (*ev == 0u) {
        if (DWT_CYCCNT - t0 > cycles) {
            return -1;
        }
    }
    *ev = 0u;
    return 0;
}

static void delay_cycles(uint32_t cycles)
{
    uint32_t t0 = DWT_CYCCNT;
    while (DWT_CYCCNT - t0 < cycles) {
    }
}

/* One EasyDMA transfer RAM -> endpoint n IN buffer, waited for (errata 199 around it). */
static int dma_in(uint32_t ep, const uint8_t *buf, uint32_t n)
{
    int r;
    USBD_EPIN_PTR(ep) = (uint32_t)(uintptr_t)buf;
    USBD_EPIN_MAXCNT(ep) = n;
    USBD_EVENTS_ENDEPIN(ep) = 0u;
    ERRATA_199_REG = 0x82u;
    USBD_TASKS_STARTEPIN(ep) = 1u;
    r = wait_event(&USBD_EVENTS_ENDEPIN(ep), US(1000));
    ERRATA_199_REG = 0u;
    return r;
}

/* One EasyDMA transfer endpoint n OUT buffer -> RAM of the SIZE.EPOUT[n] bytes the USBD holds
 * (at most max); returns the byte count or -1. */
static int dma_out(uint32_t ep, uint8_t *buf, uint32_t max)
{
    int r;
    uint32_t size = USBD_SIZE_EPOUT(ep);
    USBD_EPOUT_PTR(ep) = (uint32_t)(uintptr_t)buf;
    USBD_EPOUT_MAXCNT(ep) = size < max ? size : max;
    USBD_EVENTS_ENDEPOUT(ep) = 0u;
    ERRATA_199_REG = 0x82u;
    USBD_TASKS_STARTEPOUT(ep) = 1u;
    r = wait_event(&USBD_EVENTS_ENDEPOUT(ep), US(1000));
    ERRATA_199_REG = 0u;
    return r == 0 ? (int)USBD_EPOUT_AMOUNT(ep) : -1;
}

/* ---- hooks of the portable layer ---- */

static uint32_t ep_select(uint8_t ep_addr) { return (ep_addr & 7u) | ((ep_addr & 0x80u) ? DTOGGLE_IO_IN : 0u); }

static void toggle_data0(uint8_t ep_addr)
{
    USBD_DTOGGLE = ep_select(ep_addr); /* select the endpoint (value: no operation) */
    USBD_DTOGGLE = ep_select(ep_addr) | DTOGGLE_DATA0;
}

static void port_configured(uint8_t config)
{
    g_in_busy = 0;
    g_out_ready = 0;
    if (config != 0u) {
        USBD_EPINEN = 1u | (1u << TKUSB_EP_NOTIF) | (1u << TKUSB_EP_DATA);
        USBD_EPOUTEN = 1u | (1u << TKUSB_EP_DATA);
        toggle_data0(TKUSB_EP_NOTIF_IN);
        toggle_data0(TKUSB_EP_DATA_IN);
        toggle_data0(TKUSB_EP_DATA_OUT);
        USBD_SIZE_EPOUT(TKUSB_EP_DATA) = 0u; /* accept the first OUT packet */
    } else {
        USBD_EPINEN = 1u;
        USBD_EPOUTEN = 1u;
    }
}

static void port_stall(uint8_t ep_addr, int stall)
{
    USBD_EPSTALL = (ep_addr & 7u) | ((ep_addr & 0x80u) ? EPSTALL_IO_IN : 0u) | (stall ? EPSTALL_STALL : 0u);
    if (!stall) {
        toggle_data0(ep_addr); /* ClearFeature(ENDPOINT_HALT) resets the toggle (USB 2.0 9.4.5) */
    }
}

static void port_touch1200(void) { g_reboot = 1u; }

/* The glue the USB layer calls (its interface, tk_usb.h), constant in flash. */
static const struct tkusb_port k_port = {port_configured, port_stall, port_touch1200};

static void reboot_to_bootloader(void)
{
    delay_cycles(TINYKWS_CLOCK_HZ / 20u); /* 50 ms: the USBD finishes the status stage */
    irq_off();
    USBD_USBPULLUP = 0u; /* detach: the bootloader enumerates afresh */
    POWER_GPREGRET = DFU_MAGIC_SERIAL_ONLY_RESET;
    cpu_dsb();
    SCB_AIRCR = AIRCR_VECTKEY_SYSRESETREQ | (SCB_AIRCR & AIRCR_PRIGROUP);
    cpu_dsb();
    for (;;) {
    }
}

/* ---- EP0 ---- */

static void ep0_in_next(void)
{
    uint16_t n = g_ep0_left > TKUSB_EP0_SIZE ? (uint16_t)TKUSB_EP0_SIZE : g_ep0_left, i;
    if (n == 0u && !g_ep0_zlp) { /* data stage done: allow the status stage */
        g_ep0_state = EP0_IDLE;
        USBD_TASKS_EP0STATUS = 1u;
        return;
    }
    if (n == 0u) {
        g_ep0_zlp = 0; /* this is the terminating zero-length packet */
    }
    for (i = 0; i < n; i++) {
        g_ep0_buf[i] = g_ep0_src[i]; /* EasyDMA cannot read the descriptors in flash */
    }
    g_ep0_src += n;
    g_ep0_left = (uint16_t)(g_ep0_left - n);
    if (dma_in(0u, g_ep0_buf, n) != 0) {
        g_ep0_state = EP0_IDLE;
        USBD_TASKS_EP0STALL = 1u;
    }
}

static void on_setup(void)
{
    uint8_t raw[8];
    struct tkusb_setup s;
    struct tkusb_reply r;
    uint32_t i;
    for (i = 0; i < 8u; i++) {
        raw[i] = (uint8_t)USBD_SETUP_BYTE(i);
    }
    tkusb_setup_parse(raw, &s);
    g_ep0_state = EP0_IDLE;
    switch (tkusb_setup(&s, &r)) {
    case TKUSB_CTRL_IN:
        g_ep0_src = r.data;
        g_ep0_left = r.len;
        g_ep0_zlp = r.zlp;
        g_ep0_state = EP0_IN;
        ep0_in_next();
        break;
    case TKUSB_CTRL_OUT:
        g_ctrl_out_len = 0;
        g_ctrl_out_want = s.wLength;
        g_ep0_state = EP0_OUT;
        USBD_TASKS_EP0RCVOUT = 1u;
        break;
    case TKUSB_CTRL_STATUS:
        USBD_TASKS_EP0STATUS = 1u;
        break;
    case TKUSB_CTRL_ADDRESS:
        break; /* the USBD answers SET_ADDRESS by itself */
    default:
        USBD_TASKS_EP0STALL = 1u;
        break;
    }
}

static void on_ep0_datadone(void)
{
    if (g_ep0_state == EP0_IN) {
        ep0_in_next();
    } else if (g_ep0_state == EP0_OUT) {
        uint32_t room = sizeof g_ctrl_out - g_ctrl_out_len;
        int n = dma_out(0u, g_ep0_buf, TKUSB_EP0_SIZE);
        uint32_t i;
        if (n < 0 || (uint32_t)n > room) {
            g_ep0_state = EP0_IDLE;
            USBD_TASKS_EP0STALL = 1u;
            return;
        }
        for (i = 0; i < (uint32_t)n; i++) {
            g_ctrl_out[g_ctrl_out_len + i] = g_ep0_buf[i];
        }
        g_ctrl_out_len = (uint16_t)(g_ctrl_out_len + n);
        if (g_ctrl_out_len >= g_ctrl_out_want || (uint32_t)n < TKUSB_EP0_SIZE) {
            g_ep0_state = EP0_IDLE;
            if (tkusb_ctrl_out(g_ctrl_out, g_ctrl_out_len) == TKUSB_CTRL_STATUS) {
                USBD_TASKS_EP0STATUS = 1u;
            } else {
                USBD_TASKS_EP0STALL = 1u;
            }
        } else {
            USBD_TASKS_EP0RCVOUT = 1u; /* the next packet of the data stage */
        }
    }
}

/* ---- data endpoints ---- */

static void service_data(void)
{
    int n;
    if (tkusb_configuration() == 0u) {
        return;
    }
    if (g_out_ready && tkusb_cdc_rx_free() >= TKUSB_DATA_SIZE) {
        g_out_ready = 0;
        n = dma_out(TKUSB_EP_DATA, g_out_buf, TKUSB_DATA_SIZE);
        if (n > 0) {
            tkusb_cdc_rx_push(g_out_buf, (uint32_t)n);
        }
    }
    if (!g_in_busy) {
        n = tkusb_cdc_tx_next(g_in_buf);
        if (n >= 0 && dma_in(TKUSB_EP_DATA, g_in_buf, (uint32_t)n) == 0) {
            g_in_busy = 1u;
        }
    }
}

void port_usbd_isr(void)
{
    if (USBD_EVENTS_USBRESET) {
        USBD_EVENTS_USBRESET = 0u;
        g_ep0_state = EP0_IDLE;
        tkusb_bus_reset();
        port_configured(0); /* EP0 only, whatever the state was */
    }
    if (USBD_EVENTS_USBEVENT) {
        USBD_EVENTS_USBEVENT = 0u;
        USBD_EVENTCAUSE = USBD_EVENTCAUSE; /* suspend / resume: nothing to do (bus powered, no sleep) */
    }
    if (USBD_EVENTS_EP0DATADONE) {
        USBD_EVENTS_EP0DATADONE = 0u;
        on_ep0_datadone();
    }
    if (USBD_EVENTS_EP0SETUP) {
        USBD_EVENTS_EP0SETUP = 0u;
        on_setup();
    }
    if (USBD_EVENTS_EPDATA) {
        uint32_t st;
        USBD_EVENTS_EPDATA = 0u;
        st = USBD_EPDATASTATUS;
        USBD_EPDATASTATUS = st; /* write 1 to clear */
        if (st & EPDATA_IN(TKUSB_EP_DATA)) {
            g_in_busy = 0u;
        }
        if (st & EPDATA_OUT(TKUSB_EP_DATA)) {
            g_out_ready = 1u;
        }
    }
    service_data();
    if (g_reboot) {
        reboot_to_bootloader();
    }
}

/* ---- power: enable the USBD when VBUS comes, pull-up once the regulator is ready ---- */

static void errata_write(volatile uint32_t *reg, uint32_t value)
{
    if (ERRATA_UNLOCK == 0u) {
        ERRATA_UNLOCK = ERRATA_KEY;
        *reg = value;
        ERRATA_UNLOCK = ERRATA_KEY;
    } else {
        *reg = value;
    }
}

static void usbd_enable(void)
{
    errata_write(&ERRATA_187_REG, 3u);
    errata_write(&ERRATA_171_REG, 0xC0u);
    USBD_ENABLE = 1u;
    {
        uint32_t t0 = DWT_CYCCNT;
        while ((USBD_EVENTCAUSE & EVENTCAUSE_READY) == 0u && DWT_CYCCNT - t0 < US(10000)) {
        }
    }
    USBD_EVENTCAUSE = EVENTCAUSE_READY;
    errata_write(&ERRATA_171_REG, 0u);
    errata_write(&ERRATA_187_REG, 0u);
    USBD_EVENTS_USBEVENT = 0u;
    USBD_EPINEN = 1u;
    USBD_EPOUTEN = 1u;
    USBD_INTENSET = INT_USBRESET | INT_EP0DATADONE | INT_USBEVENT | INT_EP0SETUP | INT_EPDATA;
    NVIC_ISER1 = 1u << (USBD_IRQ - 32u);
    g_enabled = 1u;
}

static void usbd_disable(void)
{
    NVIC_ICER1 = 1u << (USBD_IRQ - 32u);
    USBD_INTENCLR = 0xFFFFFFFFu;
    USBD_USBPULLUP = 0u;
    USBD_ENABLE = 0u;
    g_enabled = 0u;
    g_pullup = 0u;
    g_ep0_state = EP0_IDLE;
    tkusb_bus_reset();
    g_in_busy = 0u;
    g_out_ready = 0u;
}

static void usb_power_update(void)
{
    uint32_t st = POWER_USBREGSTATUS;
    if ((st & USBREG_VBUSDETECT) && !g_enabled) {
        usbd_enable();
    }
    if ((st & USBREG_OUTPUTRDY) && g_enabled && !g_pullup) {
        USBD_USBPULLUP = 1u; /* the host sees the device now */
        g_pullup = 1u;
    }
    if (!(st & USBREG_VBUSDETECT) && g_enabled) {
        usbd_disable();
    }
}

void port_power_isr(void)
{
    POWER_EVENTS_USBDETECTED = 0u;
    POWER_EVENTS_USBREMOVED = 0u;
    POWER_EVENTS_USBPWRRDY = 0u;
    usb_power_update();
}

void nano33_link_init(void)
{
    uint32_t id0 = FICR_DEVICEID0, id1 = FICR_DEVICEID1;
    const uint8_t serial[8] = {
        (uint8_t)(id1 >> 24), (uint8_t)(id1 >> 16), (uint8_t)(id1 >> 8), (uint8_t)id1,
        (uint8_t)(id0 >> 24), (uint8_t)(id0 >> 16), (uint8_t)(id0 >> 8), (uint8_t)id0,
    };
    tkusb_init(serial, &k_port);
    /* The bootloader may have left the USBD attached: detach, disable, and give the host time
     * to notice before enumerating as the application. */
    if (USBD_ENABLE != 0u) {
        USBD_INTENCLR = 0xFFFFFFFFu;
        USBD_USBPULLUP = 0u;
        USBD_ENABLE = 0u;
        delay_cycles(US(20000));
    }
    POWER_EVENTS_USBDETECTED = 0u;
    POWER_EVENTS_USBREMOVED = 0u;
    POWER_EVENTS_USBPWRRDY = 0u;
    POWER_INTENSET = POWER_INT_USB;
    NVIC_ISER0 = 1u << POWER_CLOCK_IRQ;
    usb_power_update(); /* VBUS is usually there already: the board is powered by USB */
}

/* ---- the port interface's host link ---- */

static void kick(void) { NVIC_ISPR1 = 1u << (USBD_IRQ - 32u); } /* run the USBD handler */

int port_getc(void)
{
    for (;;) {
        int c;
        irq_off();
        c = tkusb_cdc_getc();
        if (c >= 0) {
            irq_on();
            if (g_out_ready) {
                kick(); /* a packet waited for room in the RX ring */
            }
            return c;
        }
        cpu_wfi(); /* woken by the USBD interrupt, taken at irq_on */
        irq_on();
    }
}

int port_poll_getc(void)
{
    int c = tkusb_cdc_getc();
    if (c >= 0 && g_out_ready) {
        kick();
    }
    return c;
}

void port_putc(char c)
{
    for (;;) {
        int r = tkusb_cdc_putc((uint8_t)c);
        if (r == 0) {
            if (!g_in_busy) {
                kick();
            }
            return;
        }
        if (r == -1) {
            return; /* no terminal has the port open (DTR low) or not configured: dropped */
        }
        if (!g_in_busy) {
            kick(); /* ring full: let the handler send (else the host's next IN does) */
        }
    }
}
#else
typedef int link_usb_nano33_unused; /* ISO C forbids an empty translation unit */
#endif
