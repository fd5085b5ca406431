/* Minimal output helpers; see tinykws_io.h for why there is no printf. */
#include "tinykws_io.h"

#include "tinykws_port.h"

void io_puts(const char *s)
{
    while (*s) {
        port_putc(*s++);
    }
}

void io_newline(void)
{
    port_putc('\r');
    port_putc('\n');
}

void io_putline(const char *s)
{
    io_puts(s);
    io_newline();
}

void io_put_u64(uint64_t v)
{
    char buf[21];
    int i = 20;
    buf[i] = '\0';
    do {
        /* Split into 32-bit halves so that the common case avoids 64-bit division. */
        uint32_t digit;
        if (v <= 0xFFFFFFFFu) {
            uint32_t w = (uint32_t)v;
            digit = w % 10u;
            v = w / 10u;
        } else {
            digit = (uint32_t)(v % 10u);
            v /= 10u;
        }
        buf[--i] = (char)('0' + digit);
    } while (v != 0u);
    io_puts(&buf[i]);
}

void io_put_i32(int32_t v)
{
    if (v < 0) {
        port_putc('-');
        io_put_u64((uint64_t)(-(int64_t)v));
    } else {
        io_put_u64((uint64_t)v);
    }
}

void io_put_milli(int32_t milli)
{
    uint32_t a;
    if (milli < 0) {
        port_putc('-');
        a = (uint32_t)(-(int64_t)milli);
    } else {
        a = (uint32_t)milli;
    }
    io_put_u64(a / 1000u);
    port_putc('.');
    a %= 1000u;
    port_putc((char)('0' + a / 100u));
    port_putc((char)('0' + (a / 10u) % 10u));
    port_putc((char)('0' + a % 10u));
}
