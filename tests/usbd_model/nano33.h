/*
 * Host stand-in for firmware/ports/nano33/nano33.h, used only by tests/test_nano33_usbd_model.py:
 * every register access of the USB glue goes through sim_reg() into the USBD model in
 * usbd_model.c instead of the nRF52840's address space; interrupt masking is a no-op (the
 * model calls the handlers itself) and WFI / DSB give the model a chance to act.
 */
#ifndef NANO33_H
#define NANO33_H

#include <stdint.h>

volatile uint32_t *sim_reg(uint32_t addr);
void sim_step(void);

#define REG(addr) (*sim_reg((uint32_t)(addr)))

#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_ISER1 REG(0xE000E104u)
#define NVIC_ICER0 REG(0xE000E180u)
#define NVIC_ICER1 REG(0xE000E184u)
#define NVIC_ISPR1 REG(0xE000E204u)
#define DWT_CYCCNT REG(0xE0001004u)

static inline void irq_off(void) {}
static inline void irq_on(void) {}
static inline void cpu_wfi(void) { sim_step(); }
static inline void cpu_dsb(void) { sim_step(); }

void nano33_link_init(void);

#endif /* NANO33_H */
