/*
 * Descriptors of the tinykws CDC-ACM device (constant, in flash), and its string descriptors
 * (built on request from constant ASCII strings; the serial number from the chip's id).
 *
 * Layouts: USB 2.0 specification chapter 9.6 (device 9.6.1, configuration 9.6.3, interface
 * 9.6.5, endpoint 9.6.6, string 9.6.7); Interface Association Descriptor: USB 2.0 Engineering
 * Change Notice "Interface Association Descriptors" (type 0x0B, and the device class triple
 * 0xEF/0x02/0x01 "Multi-interface Function" that tells the host to look for it); CDC 1.2
 * section 5.2.3 (functional descriptors: Header 0x00, Union 0x06, type CS_INTERFACE 0x24) and
 * PSTN 1.2 sections 5.3.1-5.3.2 (Call Management 0x01, Abstract Control Management 0x02).
 * Written from those documents; the tests check every length and cross-reference.
 */
#include "tk_usb.h"

#define LO(x) ((uint8_t)((x) & 0xFFu))
#define HI(x) ((uint8_t)(((x) >> 8) & 0xFFu))

const uint8_t tkusb_device_desc[18] = {
    18,                     /* bLength */
    0x01,                   /* bDescriptorType: DEVICE */
    0x00, 0x02,             /* bcdUSB 2.00 */
    0xEF, 0x02, 0x01,       /* class / subclass / protocol: Multi-interface Function (IAD) */
    TKUSB_EP0_SIZE,         /* bMaxPacketSize0 */
    LO(TKUSB_VID), HI(TKUSB_VID),
    LO(TKUSB_PID), HI(TKUSB_PID),
    LO(TKUSB_BCD_DEVICE), HI(TKUSB_BCD_DEVICE),
    1, 2, 3,                /* iManufacturer, iProduct, iSerialNumber */
    1,                      /* bNumConfigurations */
};

const uint8_t tkusb_config_desc[75] = {
    /* configuration (9.6.3) */
    9, 0x02, LO(sizeof tkusb_config_desc), HI(sizeof tkusb_config_desc),
    TKUSB_INTERFACES,   /* bNumInterfaces */
    TKUSB_CONFIG_VALUE, /* bConfigurationValue */
    0,                  /* iConfiguration */
    0x80,               /* bmAttributes: bus powered (bit 7 must be one), no remote wakeup */
    50,                 /* bMaxPower: 100 mA (2 mA units) */

    /* interface association (IAD ECN): interfaces 0-1 are one CDC ACM function */
    8, 0x0B, 0, 2, 0x02, 0x02, 0x00, 0,

    /* interface 0: communication class (0x02), Abstract Control Model (0x02), protocol 0x00
     * (no class-specific protocol: the device does not speak AT commands, so hosts' modem
     * managers have nothing to probe) */
    9, 0x04, 0, 0, 1, 0x02, 0x02, 0x00, 0,
    /* Header functional descriptor: bcdCDC 1.20 */
    5, 0x24, 0x00, 0x20, 0x01,
    /* Call Management: no call management (bmCapabilities 0), data interface 1 */
    5, 0x24, 0x01, 0x00, 1,
    /* Abstract Control Management: bmCapabilities D1 = Set_Line_Coding, Set_Control_Line_State,
     * Get_Line_Coding and the Serial_State notification */
    4, 0x24, 0x02, 0x02,
    /* Union: control interface 0, subordinate interface 1 */
    5, 0x24, 0x06, 0, 1,
    /* endpoint 0x81: interrupt IN, notifications, polled every 16 ms */
    7, 0x05, TKUSB_EP_NOTIF_IN, 0x03, LO(TKUSB_NOTIF_SIZE), HI(TKUSB_NOTIF_SIZE), 16,

    /* interface 1: data class (0x0A) */
    9, 0x04, 1, 0, 2, 0x0A, 0x00, 0x00, 0,
    /* endpoint 0x02: bulk OUT */
    7, 0x05, TKUSB_EP_DATA_OUT, 0x02, LO(TKUSB_DATA_SIZE), HI(TKUSB_DATA_SIZE), 0,
    /* endpoint 0x82: bulk IN */
    7, 0x05, TKUSB_EP_DATA_IN, 0x02, LO(TKUSB_DATA_SIZE), HI(TKUSB_DATA_SIZE), 0,
};

static const char k_manufacturer[] = "tinykws";
static const char k_product[] = "tinykws Nano 33 BLE (CDC-ACM)";
static char g_serial[17] = "0000000000000000";

void tkusb_desc_set_serial(const uint8_t serial[8])
{
    static const char hex[] = "0123456789ABCDEF";
    int i;
    for (i = 0; i < 8; i++) {
        g_serial[2 * i] = hex[serial[i] >> 4];
        g_serial[2 * i + 1] = hex[serial[i] & 0xFu];
    }
    g_serial[16] = '\0';
}

/* A string descriptor (9.6.7): bLength, type 0x03, UTF-16LE code units. ASCII only here. */
static uint16_t ascii_desc(const char *s, uint8_t *buf)
{
    uint16_t n = 2;
    while (*s != '\0' && n + 2u <= TKUSB_CTRL_OUT_MAX) {
        buf[n++] = (uint8_t)*s++;
        buf[n++] = 0;
    }
    buf[0] = (uint8_t)n;
    buf[1] = 0x03;
    return n;
}

uint16_t tkusb_string_desc(uint8_t index, uint8_t *buf)
{
    switch (index) {
    case 0: /* the supported languages: 0x0409, English (United States) */
        buf[0] = 4;
        buf[1] = 0x03;
        buf[2] = 0x09;
        buf[3] = 0x04;
        return 4;
    case 1:
        return ascii_desc(k_manufacturer, buf);
    case 2:
        return ascii_desc(k_product, buf);
    case 3:
        return ascii_desc(g_serial, buf);
    default:
        return 0;
    }
}
