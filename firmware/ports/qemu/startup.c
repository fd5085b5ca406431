/*
 * Startup for the emulated Cortex-M boards (QEMU mps2/mps3): vector table, reset handler
 * (copy .data, zero .bss, enable the FPU where the CPU has one), default fault handler.
 *
 * Board differences (UART address and IRQ, memory map) come from the board profile as
 * -D defines and from the per-board linker script; this file is shared by all of them.
 */
#include <stdint.h>

#ifndef UART0_RX_IRQ
#error "UART0_RX_IRQ must be defined by the board profile"
#endif

extern uint32_t __etext_data, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(void);
void port_uart_isr(void);
void port_systick_isr(void);

static void fault_handler(void)
{
    /* A fault is a firmware bug: stop here (the host's timeout reports it). */
    for (;;) {
    }
}

static void default_handler(void)
{
    for (;;) {
    }
}

void reset_handler(void)
{
    uint32_t *src = &__etext_data, *dst = &__data_start;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to CP10/CP11 (FPU, MVE) */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    (void)main();
    for (;;) {
    }
}

#define NUM_VECTORS (16 + UART0_RX_IRQ + 1)

__attribute__((section(".vectors"), used)) void (*const g_vectors[NUM_VECTORS])(void) = {
    [0] = (void (*)(void))(uintptr_t)&__stack_top,
    [1] = reset_handler,
    [2] = default_handler, /* NMI */
    [3] = fault_handler,   /* HardFault */
    [4] = fault_handler,   /* MemManage */
    [5] = fault_handler,   /* BusFault */
    [6] = fault_handler,   /* UsageFault */
    [7] = fault_handler,   /* SecureFault (v8-M) */
    [11] = default_handler, /* SVCall */
    [12] = default_handler, /* DebugMon */
    [14] = default_handler, /* PendSV */
    [15] = port_systick_isr,
    [16 + UART0_RX_IRQ] = port_uart_isr,
};
