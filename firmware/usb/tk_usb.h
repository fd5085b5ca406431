/*
 * tinykws USB device + CDC-ACM class layer: portable, no registers, no heap.
 *
 * Why a separate folder: a board with a USB device controller (the Nano 33 BLE's nRF52840
 * USBD) needs a USB stack before one byte of the benchmark protocol reaches the host. The
 * protocol-level part of that stack (descriptors, standard and CDC class control requests,
 * the byte rings, the Arduino "1200-baud touch") is the same on every controller, so it lives
 * here and is compiled and tested on the host (tests/test_usb_cdc.py); a board port adds only
 * the register-level glue (for the nano33: firmware/ports/nano33/link_usb_nano33.c).
 *
 * Files, one per concern:
 *   tk_usb.h        this interface (used by the glue and the host tests)
 *   usb_desc.c      device / configuration / string descriptors (constant, in flash)
 *   usb_ctrl.c      standard control requests (chapter 9 of USB 2.0) and dispatch to CDC
 *   usb_cdc.c       CDC-ACM class requests, RX/TX rings, IN packetizing, 1200-baud touch
 *
 * The function: one CDC-ACM serial port (USB CDC 1.2 + PSTN 1.2 "Abstract Control Model"):
 * interface 0 (communication class, one interrupt IN endpoint for notifications) and interface
 * 1 (data class, one bulk OUT and one bulk IN endpoint), grouped by an Interface Association
 * Descriptor so that composite-aware hosts bind one driver to both. Full speed only.
 *
 * Contexts: the glue calls tkusb_bus_reset / tkusb_setup / tkusb_ctrl_out / tkusb_cdc_rx_push
 * / tkusb_cdc_tx_next from its USB interrupt; the application calls tkusb_cdc_putc /
 * tkusb_cdc_getc from thread context. The rings are single-producer single-consumer, so no
 * lock is needed on a single-core MCU.
 */
#ifndef TK_USB_H
#define TK_USB_H

#include <stdint.h>

/* ---- identity ---- */
/* 0x2341 is Arduino SA's USB vendor id; 0x805A is the product id the Arduino mbed core gives a
 * Nano 33 BLE *application* (arduino/ArduinoCore-mbed, variants/ARDUINO_NANO33BLE/
 * pins_arduino.h: BOARD_VENDORID 0x2341, BOARD_PRODUCTID 0x805a; the bootloader enumerates
 * as 0x005A). Using them makes the Arduino tools and tinykws' port detection (by vendor id,
 * tinykws/device/flasher.py) treat a tinykws image like any Nano 33 BLE sketch. */
#define TKUSB_VID 0x2341u
#define TKUSB_PID 0x805Au
#define TKUSB_BCD_DEVICE 0x0100u

/* ---- endpoints (the glue enables exactly these) ---- */
#define TKUSB_EP0_SIZE 64u
#define TKUSB_EP_NOTIF 1u /* interrupt IN 0x81: CDC notifications (none are sent) */
#define TKUSB_EP_DATA 2u  /* bulk OUT 0x02 and bulk IN 0x82: the serial data */
#define TKUSB_EP_NOTIF_IN (0x80u | TKUSB_EP_NOTIF)
#define TKUSB_EP_DATA_OUT TKUSB_EP_DATA
#define TKUSB_EP_DATA_IN (0x80u | TKUSB_EP_DATA)
#define TKUSB_NOTIF_SIZE 16u
#define TKUSB_DATA_SIZE 64u /* full-speed bulk maximum */
#define TKUSB_INTERFACES 2u
#define TKUSB_CONFIG_VALUE 1u

/* ---- rings ---- */
#define TKUSB_RX_RING 1024u /* power of two */
#define TKUSB_TX_RING 1024u /* power of two */

/* ---- control transfers ---- */
struct tkusb_setup {
    uint8_t bmRequestType;
    uint8_t bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength;
};

/* What the glue does with a SETUP packet. */
enum tkusb_ctrl {
    TKUSB_CTRL_STALL = 0,  /* request error: stall the data / status stage */
    TKUSB_CTRL_IN = 1,     /* send reply.data[0..reply.len) (a ZLP after it when reply.zlp), then status */
    TKUSB_CTRL_OUT = 2,    /* receive wLength bytes, pass them to tkusb_ctrl_out, which says STATUS or STALL */
    TKUSB_CTRL_STATUS = 3, /* no data stage: acknowledge (status stage) */
    TKUSB_CTRL_ADDRESS = 4 /* SET_ADDRESS: status stage, then tkusb_address() takes effect; controllers that
                              handle SET_ADDRESS in hardware (nRF52840 USBD) do nothing at all */
};

struct tkusb_reply {
    const uint8_t *data; /* may point to flash: DMA engines that cannot read flash copy first */
    uint16_t len;        /* already truncated to wLength */
    uint8_t zlp;         /* 1: len < wLength and len is a multiple of the EP0 size: end with a ZLP */
};

/* The largest OUT data stage accepted (SET_LINE_CODING has 7 bytes). */
#define TKUSB_CTRL_OUT_MAX 64u

/* Decode the 8 bytes of a SETUP packet (little-endian fields). */
void tkusb_setup_parse(const uint8_t raw[8], struct tkusb_setup *s);

/* ---- the port interface this layer declares ---- */
/* What the stack asks of the controller glue. The port (or the host test driver) fills one,
 * constant in flash, and hands it to tkusb_init: the stack calls its port only through it, so
 * these objects have no undefined symbols and link to any port.
 * configured: the configuration changed (0: unconfigured): enable or disable the data and
 *   notification endpoints, reset their data toggles to DATA0 (from tkusb_setup / bus reset);
 * stall: SET_FEATURE / CLEAR_FEATURE(ENDPOINT_HALT) on `ep_addr` (0x81, 0x02, 0x82): stall or
 *   un-stall it (un-stalling also resets its data toggle, USB 2.0 9.4.5);
 * touch1200: the Arduino 1200-baud touch (the host set 1200 baud, then dropped DTR): reboot
 *   into the bootloader, letting the current status stage complete first (it is called from
 *   inside tkusb_setup, before the glue acknowledges the request). */
struct tkusb_port {
    void (*configured)(uint8_t config);
    void (*stall)(uint8_t ep_addr, int stall);
    void (*touch1200)(void);
};

/* Once at start-up: `serial` (8 bytes, e.g. the chip's unique id) becomes the 16-hex-digit
 * serial number string, so that two boards get stable, different /dev/serial/by-id names;
 * `port` (not NULL, every member set) is the glue the stack calls. */
void tkusb_init(const uint8_t serial[8], const struct tkusb_port *port);

/* USB bus reset (and VBUS removal): back to the Default state, unconfigured, rings emptied. */
void tkusb_bus_reset(void);

enum tkusb_ctrl tkusb_setup(const struct tkusb_setup *s, struct tkusb_reply *reply);
enum tkusb_ctrl tkusb_ctrl_out(const uint8_t *data, uint16_t len);

uint8_t tkusb_address(void);
uint8_t tkusb_configuration(void); /* 0 (Address state) or TKUSB_CONFIG_VALUE */

/* ---- descriptors (usb_desc.c) ---- */
extern const uint8_t tkusb_device_desc[18];
extern const uint8_t tkusb_config_desc[75];
/* A string descriptor built into buf (>= 64 bytes); returns its length or 0 for no such index. */
uint16_t tkusb_string_desc(uint8_t index, uint8_t *buf);
void tkusb_desc_set_serial(const uint8_t serial[8]);

/* ---- CDC-ACM (usb_cdc.c) ---- */
/* Thread side. putc: 0 queued, -1 dropped (not configured or DTR low: no terminal has the port
 * open, like a UART with nothing attached), -2 ring full (retry once the IN side drained). */
int tkusb_cdc_putc(uint8_t c);
int tkusb_cdc_getc(void); /* the next received byte, or -1 when none */
int tkusb_cdc_connected(void);

/* Interrupt side. rx_free: room in the RX ring (the glue leaves an OUT packet in the controller,
 * NAKing the host, until a whole packet fits: flow control). rx_push stores n bytes. tx_next
 * fills dst (TKUSB_DATA_SIZE bytes) with the next IN packet and returns its length, 0 for a
 * zero-length packet that ends a transfer whose last packet was full, or -1 when nothing is to
 * be sent; call it only when the IN endpoint is free. */
uint32_t tkusb_cdc_rx_free(void);
void tkusb_cdc_rx_push(const uint8_t *p, uint32_t n);
int tkusb_cdc_tx_next(uint8_t *dst);
int tkusb_cdc_tx_pending(void); /* bytes waiting in the TX ring */

/* Class state, for the glue and the tests. */
uint32_t tkusb_cdc_baud(void);
uint16_t tkusb_cdc_line_state(void); /* bit 0 DTR, bit 1 RTS */

/* Called by usb_ctrl.c (not by the glue). */
enum tkusb_ctrl tkusb_cdc_setup(const struct tkusb_setup *s, struct tkusb_reply *reply);
enum tkusb_ctrl tkusb_cdc_ctrl_out(const uint8_t *data, uint16_t len);
void tkusb_cdc_reset(void);

/* The port given to tkusb_init (for usb_cdc.c's touch). */
const struct tkusb_port *tkusb_port(void);

#endif /* TK_USB_H */
