/*
 * Standard control requests (USB 2.0 chapter 9.4) for the one-configuration CDC-ACM device,
 * and dispatch of class requests to usb_cdc.c. Requests the device does not support, or that
 * are not valid in the current state, are answered with a STALL (a "Request Error", 9.2.7).
 */
#include "tk_usb.h"

/* bmRequestType fields (9.3.1) */
#define RT_DIR_IN 0x80u
#define RT_TYPE(bm) (((bm) >> 5) & 3u)
#define RT_RECIP(bm) ((bm)&0x1Fu)
#define TYPE_STANDARD 0u
#define TYPE_CLASS 1u
#define RECIP_DEVICE 0u
#define RECIP_INTERFACE 1u
#define RECIP_ENDPOINT 2u

/* bRequest codes (table 9-4) */
#define REQ_GET_STATUS 0u
#define REQ_CLEAR_FEATURE 1u
#define REQ_SET_FEATURE 3u
#define REQ_SET_ADDRESS 5u
#define REQ_GET_DESCRIPTOR 6u
#define REQ_GET_CONFIGURATION 8u
#define REQ_SET_CONFIGURATION 9u
#define REQ_GET_INTERFACE 10u
#define REQ_SET_INTERFACE 11u

/* descriptor types (table 9-5) */
#define DESC_DEVICE 1u
#define DESC_CONFIGURATION 2u
#define DESC_STRING 3u

#define FEATURE_ENDPOINT_HALT 0u

static uint8_t g_address, g_config;
static const struct tkusb_port *g_port;
static uint8_t g_halted; /* bit 0: 0x81, bit 1: 0x02, bit 2: 0x82 */
static uint8_t g_buf[TKUSB_CTRL_OUT_MAX];

void tkusb_setup_parse(const uint8_t raw[8], struct tkusb_setup *s)
{
    s->bmRequestType = raw[0];
    s->bRequest = raw[1];
    s->wValue = (uint16_t)(raw[2] | (raw[3] << 8));
    s->wIndex = (uint16_t)(raw[4] | (raw[5] << 8));
    s->wLength = (uint16_t)(raw[6] | (raw[7] << 8));
}

void tkusb_init(const uint8_t serial[8], const struct tkusb_port *port)
{
    g_port = port;
    tkusb_desc_set_serial(serial);
    tkusb_bus_reset();
}

void tkusb_bus_reset(void)
{
    g_address = 0;
    g_halted = 0;
    if (g_config != 0u) {
        g_config = 0;
        g_port->configured(0);
    }
    tkusb_cdc_reset();
}

uint8_t tkusb_address(void) { return g_address; }
const struct tkusb_port *tkusb_port(void) { return g_port; }
uint8_t tkusb_configuration(void) { return g_config; }

/* Reply with `len` bytes of `data`, truncated to what the host asked for (9.3.5: the device
 * returns at most wLength bytes; when it returns less and the last packet is full, the host
 * learns the end from a zero-length packet). */
static enum tkusb_ctrl reply_in(const struct tkusb_setup *s, struct tkusb_reply *r, const uint8_t *data,
                                uint16_t len)
{
    if (len > s->wLength) {
        len = s->wLength;
    }
    r->data = data;
    r->len = len;
    r->zlp = (uint8_t)(len < s->wLength && len % TKUSB_EP0_SIZE == 0u);
    return TKUSB_CTRL_IN;
}

/* Bit in g_halted for a data endpoint address, or -1 when it is not one of ours. */
static int ep_bit(uint16_t ep_addr)
{
    switch (ep_addr) {
    case TKUSB_EP_NOTIF_IN:
        return 0;
    case TKUSB_EP_DATA_OUT:
        return 1;
    case TKUSB_EP_DATA_IN:
        return 2;
    default:
        return -1;
    }
}

static enum tkusb_ctrl get_descriptor(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    uint8_t type = (uint8_t)(s->wValue >> 8), index = (uint8_t)(s->wValue & 0xFFu);
    uint16_t n;
    switch (type) {
    case DESC_DEVICE:
        return index == 0u ? reply_in(s, r, tkusb_device_desc, sizeof tkusb_device_desc) : TKUSB_CTRL_STALL;
    case DESC_CONFIGURATION:
        return index == 0u ? reply_in(s, r, tkusb_config_desc, sizeof tkusb_config_desc) : TKUSB_CTRL_STALL;
    case DESC_STRING:
        n = tkusb_string_desc(index, g_buf);
        return n != 0u ? reply_in(s, r, g_buf, n) : TKUSB_CTRL_STALL;
    default:
        /* DEVICE_QUALIFIER (6) and OTHER_SPEED_CONFIGURATION (7) included: a full-speed-only
         * device answers them with a Request Error (9.6.2). */
        return TKUSB_CTRL_STALL;
    }
}

static enum tkusb_ctrl standard_device(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    switch (s->bRequest) {
    case REQ_GET_STATUS: /* bus powered, remote wakeup disabled (9.4.5) */
        g_buf[0] = 0;
        g_buf[1] = 0;
        return (s->bmRequestType & RT_DIR_IN) ? reply_in(s, r, g_buf, 2) : TKUSB_CTRL_STALL;
    case REQ_SET_ADDRESS:
        if (s->wValue > 127u || s->wIndex != 0u || s->wLength != 0u || g_config != 0u) {
            return TKUSB_CTRL_STALL; /* in the Configured state the behaviour is unspecified: refuse */
        }
        g_address = (uint8_t)s->wValue;
        return TKUSB_CTRL_ADDRESS;
    case REQ_GET_DESCRIPTOR:
        return (s->bmRequestType & RT_DIR_IN) ? get_descriptor(s, r) : TKUSB_CTRL_STALL;
    case REQ_GET_CONFIGURATION:
        g_buf[0] = g_config;
        return (s->bmRequestType & RT_DIR_IN) ? reply_in(s, r, g_buf, 1) : TKUSB_CTRL_STALL;
    case REQ_SET_CONFIGURATION:
        if (s->wValue != 0u && s->wValue != TKUSB_CONFIG_VALUE) {
            return TKUSB_CTRL_STALL;
        }
        /* In the Default state (no address yet) the behaviour is unspecified (9.4.7); it is
         * accepted, because a controller that handles SET_ADDRESS in hardware might not
         * report that request to software. */
        /* (Re)selecting a configuration resets its endpoints: halts cleared, DATA0 toggles. */
        g_config = (uint8_t)s->wValue;
        g_halted = 0;
        tkusb_cdc_reset();
        g_port->configured(g_config);
        return TKUSB_CTRL_STATUS;
    default:
        /* CLEAR/SET_FEATURE(DEVICE_REMOTE_WAKEUP, TEST_MODE): not supported (no remote wakeup
         * in bmAttributes; TEST_MODE is for high-speed devices); SET_DESCRIPTOR: optional. */
        return TKUSB_CTRL_STALL;
    }
}

static enum tkusb_ctrl standard_interface(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    if (g_config == 0u || s->wIndex >= TKUSB_INTERFACES) {
        return TKUSB_CTRL_STALL;
    }
    switch (s->bRequest) {
    case REQ_GET_STATUS:
        g_buf[0] = 0;
        g_buf[1] = 0;
        return reply_in(s, r, g_buf, 2);
    case REQ_GET_INTERFACE: /* both interfaces have only alternate setting 0 */
        g_buf[0] = 0;
        return reply_in(s, r, g_buf, 1);
    case REQ_SET_INTERFACE:
        return s->wValue == 0u ? TKUSB_CTRL_STATUS : TKUSB_CTRL_STALL;
    default:
        return TKUSB_CTRL_STALL;
    }
}

static enum tkusb_ctrl standard_endpoint(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    int bit = ep_bit(s->wIndex);
    int ep0 = (s->wIndex & 0x7Fu) == 0u;
    if (!ep0 && (bit < 0 || g_config == 0u)) {
        return TKUSB_CTRL_STALL; /* not an endpoint of this configuration */
    }
    switch (s->bRequest) {
    case REQ_GET_STATUS: /* bit 0: Halt (9.4.5) */
        g_buf[0] = (uint8_t)(!ep0 && (g_halted >> bit) & 1u);
        g_buf[1] = 0;
        return reply_in(s, r, g_buf, 2);
    case REQ_CLEAR_FEATURE:
    case REQ_SET_FEATURE:
        if (s->wValue != FEATURE_ENDPOINT_HALT) {
            return TKUSB_CTRL_STALL;
        }
        if (ep0) {
            return TKUSB_CTRL_STATUS; /* EP0 halt is cleared by the next SETUP anyway */
        }
        if (s->bRequest == REQ_SET_FEATURE) {
            g_halted = (uint8_t)(g_halted | (1u << bit));
        } else {
            g_halted = (uint8_t)(g_halted & ~(1u << bit));
        }
        g_port->stall((uint8_t)s->wIndex, s->bRequest == REQ_SET_FEATURE);
        return TKUSB_CTRL_STATUS;
    default:
        return TKUSB_CTRL_STALL;
    }
}

enum tkusb_ctrl tkusb_setup(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    uint8_t type = (uint8_t)RT_TYPE(s->bmRequestType), recip = (uint8_t)RT_RECIP(s->bmRequestType);
    r->data = 0;
    r->len = 0;
    r->zlp = 0;
    if (type == TYPE_CLASS) {
        return g_config != 0u ? tkusb_cdc_setup(s, r) : TKUSB_CTRL_STALL;
    }
    if (type != TYPE_STANDARD) {
        return TKUSB_CTRL_STALL; /* vendor requests: none */
    }
    switch (recip) {
    case RECIP_DEVICE:
        return standard_device(s, r);
    case RECIP_INTERFACE:
        return standard_interface(s, r);
    case RECIP_ENDPOINT:
        return standard_endpoint(s, r);
    default:
        return TKUSB_CTRL_STALL;
    }
}

enum tkusb_ctrl tkusb_ctrl_out(const uint8_t *data, uint16_t len)
{
    return tkusb_cdc_ctrl_out(data, len);
}
