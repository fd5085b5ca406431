/*
 * Minimal output helpers over port_putc.
 *
 * Why not printf: newlib's printf (even nano) costs several KB of flash and pulls in
 * malloc; the protocol only needs strings and integers, so the whole runtime stays small.
 */
#ifndef TINYKWS_IO_H
#define TINYKWS_IO_H

#include <stdint.h>

void io_puts(const char *s);        /* no newline added */
void io_putline(const char *s);     /* s + "\r\n" */
void io_put_u64(uint64_t v);
void io_put_i32(int32_t v);
void io_put_milli(int32_t milli);   /* fixed point with three decimals: -1234 -> "-1.234" */
void io_newline(void);

#endif /* TINYKWS_IO_H */
