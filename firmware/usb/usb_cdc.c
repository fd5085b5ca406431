/*
 * CDC-ACM class part of the tinykws USB layer: the class requests of the Abstract Control
 * Model (PSTN 1.2 section 6.3: SET_LINE_CODING 0x20, GET_LINE_CODING 0x21,
 * SET_CONTROL_LINE_STATE 0x22; the 7-byte line coding of table 17: dwDTERate, bCharFormat,
 * bParityType, bDataBits; control line state bit 0 = DTR, bit 1 = RTS), the RX/TX byte rings,
 * IN packetizing (a zero-length packet after a full packet that ends the data, so that the
 * host's read completes), and the Arduino "1200-baud touch".
 *
 * The baud rate is only recorded (there is no UART behind this port): it is the host's way
 * to ask for the bootloader. The touch is what the Arduino IDE / tinykws flash do before
 * uploading: open the port at 1200 baud, drop DTR, close (tinykws/device/flasher.py). It is
 * detected when SET_CONTROL_LINE_STATE clears DTR while the line coding says 1200 baud, and
 * then calls the port's touch1200.
 */
#include "tk_usb.h"

#define REQ_SET_LINE_CODING 0x20u
#define REQ_GET_LINE_CODING 0x21u
#define REQ_SET_CONTROL_LINE_STATE 0x22u
#define RT_DIR_IN 0x80u
#define RT_RECIP_INTERFACE 0x01u
#define COMM_INTERFACE 0u
#define LINE_DTR 0x01u
#define TOUCH_BAUD 1200u
#define DEFAULT_BAUD 115200u

/* The compiler must not move ring accesses across the index updates (single core: no
 * hardware barrier needed between an interrupt and thread code). */
#define BARRIER() __asm__ volatile("" ::: "memory")

#if (TKUSB_RX_RING & (TKUSB_RX_RING - 1u)) != 0 || (TKUSB_TX_RING & (TKUSB_TX_RING - 1u)) != 0
#error "ring sizes must be powers of two"
#endif

static uint8_t g_line_coding[7];
static uint16_t g_line_state;
static uint8_t g_pending_out; /* the request whose OUT data stage is expected, 0 when none */

static uint8_t g_rx[TKUSB_RX_RING];
static volatile uint32_t g_rx_head, g_rx_tail; /* free-running; head: interrupt, tail: thread */
static uint8_t g_tx[TKUSB_TX_RING];
static volatile uint32_t g_tx_head, g_tx_tail; /* head: thread, tail: interrupt */
static uint8_t g_tx_last_full;                 /* the last IN packet was full: a ZLP may be due */

static void set_baud(uint32_t baud)
{
    g_line_coding[0] = (uint8_t)baud;
    g_line_coding[1] = (uint8_t)(baud >> 8);
    g_line_coding[2] = (uint8_t)(baud >> 16);
    g_line_coding[3] = (uint8_t)(baud >> 24);
}

uint32_t tkusb_cdc_baud(void)
{
    return (uint32_t)g_line_coding[0] | ((uint32_t)g_line_coding[1] << 8) | ((uint32_t)g_line_coding[2] << 16) |
           ((uint32_t)g_line_coding[3] << 24);
}

uint16_t tkusb_cdc_line_state(void) { return g_line_state; }

static void tx_flush(void) /* interrupt side: the consumer drops what is queued */
{
    g_tx_tail = g_tx_head;
    g_tx_last_full = 0;
}

void tkusb_cdc_reset(void)
{
    set_baud(DEFAULT_BAUD);
    g_line_coding[4] = 0; /* 1 stop bit */
    g_line_coding[5] = 0; /* no parity */
    g_line_coding[6] = 8; /* 8 data bits */
    g_line_state = 0;
    g_pending_out = 0;
    g_rx_head = g_rx_tail; /* the producer side empties the RX ring */
    tx_flush();
}

enum tkusb_ctrl tkusb_cdc_setup(const struct tkusb_setup *s, struct tkusb_reply *r)
{
    int in = (s->bmRequestType & RT_DIR_IN) != 0;
    if ((s->bmRequestType & 0x1Fu) != RT_RECIP_INTERFACE || s->wIndex != COMM_INTERFACE) {
        return TKUSB_CTRL_STALL;
    }
    g_pending_out = 0;
    switch (s->bRequest) {
    case REQ_SET_LINE_CODING:
        if (in || s->wLength != sizeof g_line_coding) {
            return TKUSB_CTRL_STALL;
        }
        g_pending_out = REQ_SET_LINE_CODING;
        return TKUSB_CTRL_OUT;
    case REQ_GET_LINE_CODING:
        if (!in) {
            return TKUSB_CTRL_STALL;
        }
        r->data = g_line_coding;
        r->len = s->wLength < sizeof g_line_coding ? s->wLength : (uint16_t)sizeof g_line_coding;
        r->zlp = 0;
        return TKUSB_CTRL_IN;
    case REQ_SET_CONTROL_LINE_STATE:
        if (in || s->wLength != 0u) {
            return TKUSB_CTRL_STALL;
        }
        g_line_state = (uint16_t)(s->wValue & 0x3u);
        if ((g_line_state & LINE_DTR) == 0u) {
            tx_flush(); /* nobody is listening any more */
            if (tkusb_cdc_baud() == TOUCH_BAUD) {
                tkusb_port()->touch1200();
            }
        }
        return TKUSB_CTRL_STATUS;
    default:
        /* SEND_ENCAPSULATED_COMMAND / GET_ENCAPSULATED_RESPONSE (no AT commands: protocol 0),
         * SEND_BREAK and the COMM_FEATURE requests (not in bmCapabilities) */
        return TKUSB_CTRL_STALL;
    }
}

enum tkusb_ctrl tkusb_cdc_ctrl_out(const uint8_t *data, uint16_t len)
{
    uint8_t req = g_pending_out;
    uint16_t i;
    g_pending_out = 0;
    if (req != REQ_SET_LINE_CODING || len != sizeof g_line_coding) {
        return TKUSB_CTRL_STALL;
    }
    for (i = 0; i < len; i++) {
        g_line_coding[i] = data[i];
    }
    return TKUSB_CTRL_STATUS;
}

int tkusb_cdc_connected(void)
{
    return tkusb_configuration() != 0u && (g_line_state & LINE_DTR) != 0u;
}

/* ---- thread side ---- */

int tkusb_cdc_putc(uint8_t c)
{
    uint32_t head = g_tx_head;
    if (!tkusb_cdc_connected()) {
        return -1;
    }
    if (head - g_tx_tail >= TKUSB_TX_RING) {
        return -2;
    }
    g_tx[head & (TKUSB_TX_RING - 1u)] = c;
    BARRIER();
    g_tx_head = head + 1u;
    return 0;
}

int tkusb_cdc_getc(void)
{
    uint32_t tail = g_rx_tail;
    int c;
    if (tail == g_rx_head) {
        return -1;
    }
    BARRIER();
    c = g_rx[tail & (TKUSB_RX_RING - 1u)];
    BARRIER();
    g_rx_tail = tail + 1u;
    return c;
}

/* ---- interrupt side ---- */

uint32_t tkusb_cdc_rx_free(void) { return TKUSB_RX_RING - (g_rx_head - g_rx_tail); }

void tkusb_cdc_rx_push(const uint8_t *p, uint32_t n)
{
    uint32_t head = g_rx_head, i;
    for (i = 0; i < n && head - g_rx_tail < TKUSB_RX_RING; i++) {
        g_rx[head & (TKUSB_RX_RING - 1u)] = p[i];
        head++;
    }
    BARRIER();
    g_rx_head = head;
}

int tkusb_cdc_tx_pending(void) { return (int)(g_tx_head - g_tx_tail); }

int tkusb_cdc_tx_next(uint8_t *dst)
{
    uint32_t tail = g_tx_tail, head = g_tx_head;
    int n = 0;
    BARRIER();
    while (tail != head && n < (int)TKUSB_DATA_SIZE) {
        dst[n++] = g_tx[tail & (TKUSB_TX_RING - 1u)];
        tail++;
    }
    BARRIER();
    g_tx_tail = tail;
    if (n > 0) {
        g_tx_last_full = (uint8_t)(n == (int)TKUSB_DATA_SIZE);
        return n;
    }
    if (g_tx_last_full) {
        g_tx_last_full = 0;
        return 0;
    }
    return -1;
}
