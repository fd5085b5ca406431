/*
 * Startup for the Arduino Nano 33 BLE / BLE Sense (nRF52840, Cortex-M4F): vector table at the
 * application start (0x10000, after the Arduino bootloader), reset handler (VTOR, .data copy,
 * .bss zero, FPU on), fault loop. Interrupts used: POWER_CLOCK (0: USB power events), UART0 (2,
 * only with -DTINYKWS_NANO33_UART), PDM (29) and USBD (39). The handlers of the host link not
 * built into an image are weak aliases of the default loop (their interrupts stay disabled).
 */
#include <stdint.h>

extern uint32_t __etext_data, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(void);
void port_pdm_isr(void);
void default_handler(void);
void port_power_isr(void) __attribute__((weak, alias("default_handler")));
void port_uart_isr(void) __attribute__((weak, alias("default_handler")));
void port_usbd_isr(void) __attribute__((weak, alias("default_handler")));

#define POWER_CLOCK_IRQ 0
#define UART0_IRQ 2
#define PDM_IRQ 29
#define USBD_IRQ 39
#define NUM_VECTORS (16 + 48)

static void fault_handler(void)
{
    for (;;) { /* a fault is a firmware bug: stop (the host's timeout reports it) */
    }
}

void default_handler(void)
{
    for (;;) {
    }
}

extern void (*const g_vectors[NUM_VECTORS])(void);

void reset_handler(void)
{
    uint32_t *src = &__etext_data, *dst = &__data_start;
    /* The bootloader may leave peripherals (USB) with interrupts enabled: disable and clear
     * them all (ICER0/1, ICPR0/1) before taking over; the port enables the ones it uses. */
    __asm volatile("cpsid i" ::: "memory");
    *(volatile uint32_t *)0xE000E180u = 0xFFFFFFFFu;
    *(volatile uint32_t *)0xE000E184u = 0xFFFFFFFFu;
    *(volatile uint32_t *)0xE000E280u = 0xFFFFFFFFu;
    *(volatile uint32_t *)0xE000E284u = 0xFFFFFFFFu;
    *(volatile uint32_t *)0xE000E010u = 0u; /* SysTick off (its vector is the default loop) */
    /* The bootloader leaves VTOR at its own table: point it at ours. */
    *(volatile uint32_t *)0xE000ED08u = (uint32_t)(uintptr_t)g_vectors;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0u;
    }
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10/CP11 full access (FPU) */
    __asm volatile("dsb\n\tisb" ::: "memory");
    (void)main();
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) void (*const g_vectors[NUM_VECTORS])(void) = {
    [0] = (void (*)(void))(uintptr_t)&__stack_top,
    [1] = reset_handler,
    [2] = default_handler, /* NMI */
    [3] = fault_handler,   /* HardFault */
    [4] = fault_handler,   /* MemManage */
    [5] = fault_handler,   /* BusFault */
    [6] = fault_handler,   /* UsageFault */
    [11] = default_handler, /* SVCall */
    [12] = default_handler, /* DebugMon */
    [14] = default_handler, /* PendSV */
    [15] = default_handler, /* SysTick (unused: DWT counts cycles) */
    [16 + POWER_CLOCK_IRQ] = port_power_isr,
    [16 + UART0_IRQ] = port_uart_isr,
    [16 + PDM_IRQ] = port_pdm_isr,
    [16 + USBD_IRQ] = port_usbd_isr,
};
