/*
 * Private helpers of the nano33 port (not part of the port interface): register access,
 * interrupt masking, the NVIC and DWT registers, and the host link chosen at compile time.
 *
 * With -DTINYKWS_USBD_MODEL (tests/test_nano33_usbd_model.py only) the same code is built for
 * the host: every register access goes through sim_reg() into the USBD model of
 * tests/usbd_model/usbd_model.c, interrupt masking is a no-op (the model calls the handlers
 * itself) and WFI / DSB give the model a chance to act. The addresses stay the ones below.
 */
#ifndef NANO33_H
#define NANO33_H

#include <stdint.h>

#ifdef TINYKWS_USBD_MODEL
volatile uint32_t *sim_reg(uint32_t addr);
void sim_step(void);
#define REG(addr) (*sim_reg((uint32_t)(addr)))
#else
#define REG(addr) (*(volatile uint32_t *)(addr))
#endif

/* NVIC: set-enable, clear-enable and set-pending, words 0 (IRQ 0-31) and 1 (IRQ 32-63) */
#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICER1 REG(0xE000E184u)
#define NVIC_ISPR1 REG(0xE000E204u)

/* DWT cycle counter (enabled by port_init before the host link starts) */
#define DWT_CYCCNT REG(0xE0001004u)

#ifdef TINYKWS_USBD_MODEL
static inline void irq_off(void) {}
static inline void irq_on(void) {}
static inline void cpu_wfi(void) { sim_step(); }
static inline void cpu_dsb(void) { sim_step(); }
#else
static inline void irq_off(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_on(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void cpu_wfi(void) { __asm volatile("wfi" ::: "memory"); }
static inline void cpu_dsb(void) { __asm volatile("dsb" ::: "memory"); }
#endif

/* The host link: USB CDC-ACM (link_usb_nano33.c, the default) or UART0 on D0/D1
 * (link_uart_nano33.c, with -DTINYKWS_NANO33_UART). Each file compiles to nothing unless it
 * is the selected one; both provide port_getc / port_putc / port_poll_getc. */
void nano33_link_init(void);

#endif /* NANO33_H */
