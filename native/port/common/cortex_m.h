/* Cortex-M4 core registers and intrinsics the ports use (no CMSIS). */
#ifndef BMS_PORT_CORTEX_M_H
#define BMS_PORT_CORTEX_M_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

#define SCB_CPACR 0xE000ED88u
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define NVIC_ISER0 0xE000E100u
#define NVIC_ISPR0 0xE000E200u
#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u

/* One entry of a vector table: the initial stack pointer or a handler. */
typedef union {
    void (*handler)(void);
    const void *sp;
} vector_t;

static inline void cm_enable_fpu(void)
{
    REG32(SCB_CPACR) |= (0xFu << 20); /* CP10, CP11 full access */
    __asm volatile("dsb\n isb" ::: "memory");
}

static inline void cm_irq_disable(void)
{
    __asm volatile("cpsid i" ::: "memory");
}

static inline void cm_irq_enable(void)
{
    __asm volatile("cpsie i" ::: "memory");
}

static inline void cm_wfi(void)
{
    __asm volatile("wfi" ::: "memory");
}

/* Fault handler body: pass the stacked PC of the faulting context to fw_fault. */
#define CM_FAULT_TRAMPOLINE()                                                                            \
    __asm volatile("tst lr, #4\n"                                                                        \
                   "ite eq\n"                                                                            \
                   "mrseq r0, msp\n"                                                                     \
                   "mrsne r0, psp\n"                                                                     \
                   "ldr r0, [r0, #24]\n"                                                                 \
                   "b fw_fault\n")

/* Startup: copy .data, zero .bss (symbols from the linker script). */
void cm_init_memory(void);
/* Fill the unused part of the stack with a pattern (startup), and count the
 * bytes at its far end that were never written since (high-water mark). */
void cm_paint_stack(void);
uint32_t cm_stack_free(void);

#endif /* BMS_PORT_CORTEX_M_H */
