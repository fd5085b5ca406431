/*
 * Private helpers of the nano33 port (not part of the port interface): register access,
 * interrupt masking, the NVIC and DWT registers, and the host link chosen at compile time.
 */
#ifndef NANO33_H
#define NANO33_H

#include <stdint.h>

#define REG(addr) (*(volatile uint32_t *)(addr))

/* NVIC: set-enable, clear-enable and set-pending, words 0 (IRQ 0-31) and 1 (IRQ 32-63) */
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICER1 REG(0xE000E184u)
#define NVIC_ISPR1 REG(0xE000E204u)

/* DWT cycle counter (enabled by port_init before the host link starts) */
#define DWT_CYCCNT REG(0xE0001004u)

static inline void irq_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_on(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void cpu_wfi(void) { __asm volatile("wfi" ::: "memory"); }
static inline void cpu_dsb(void) { __asm volatile("dsb" ::: "memory"); }

/* The host link: USB CDC-ACM (link_usb_nano33.c, the default) or UART0 on D0/D1
 * (link_uart_nano33.c, with -DTINYKWS_NANO33_UART). Each file compiles to nothing unless it
 * is the selected one; both provide port_getc / port_putc / port_poll_getc. */
void nano33_link_init(void);

#endif /* NANO33_H */
