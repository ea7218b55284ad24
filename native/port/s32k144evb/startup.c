/* NXP S32K144 (Cortex-M4F) startup: vector table, flash configuration field,
 * watchdog off, ECC SRAM initialisation, then C. */
#include "board.h"
#include "cortex_m.h"

extern uint32_t _estack[];
int main(void);
void Reset_Handler(void);
void s32k_start(void);
void Fault_Handler(void);
void Lpuart1_IRQHandler(void);

#define N_IRQ 123u
#define LPUART1_IRQ 33u

__attribute__((section(".isr_vector"), used)) const vector_t vector_table[16u + N_IRQ] = {
    [0] = {.sp = _estack},
    [1] = {.handler = Reset_Handler},
    [2] = {.handler = Fault_Handler},  /* NMI */
    [3] = {.handler = Fault_Handler},  /* HardFault */
    [4] = {.handler = Fault_Handler},  /* MemManage */
    [5] = {.handler = Fault_Handler},  /* BusFault */
    [6] = {.handler = Fault_Handler},  /* UsageFault */
    [11] = {.handler = Fault_Handler}, /* SVCall */
    [12] = {.handler = Fault_Handler}, /* DebugMon */
    [14] = {.handler = Fault_Handler}, /* PendSV */
    [15] = {.handler = Fault_Handler}, /* SysTick */
    [16u + LPUART1_IRQ] = {.handler = Lpuart1_IRQHandler},
};

/* Flash configuration field at 0x400: backdoor key, program-flash protection
 * off, FSEC = 0xFE (unsecured: a debugger can always erase and reflash),
 * FOPT = 0x7F, data-flash and EEPROM protection off. A wrong FSEC here can
 * lock the part: these are NXP's reset values. */
__attribute__((section(".flash_config"), used)) const uint8_t flash_config[16] = {
    0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFFu,
    0xFFu, 0xFFu, 0xFFu, 0xFFu, 0xFEu, 0x7Fu, 0xFFu, 0xFFu,
};

/* Before any C: the watchdog (enabled out of reset, ~8 ms) goes off, and every
 * SRAM word is written once (the ECC of never-written SRAM is undefined and a
 * read of it, or a byte store into it, faults). */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm volatile("cpsid i\n"
                   "ldr r0, =0x40052000\n" /* WDOG */
                   "ldr r1, =0xD928C520\n"
                   "str r1, [r0, #4]\n"    /* CNT: unlock */
                   "ldr r1, =0x0000FFFF\n"
                   "str r1, [r0, #8]\n"    /* TOVAL */
                   "ldr r1, =0x00002100\n"
                   "str r1, [r0, #0]\n"    /* CS: disabled, LPO clock, 32-bit commands */
                   "ldr r0, =__ram_start\n"
                   "ldr r1, =__ram_end\n"
                   "movs r2, #0\n"
                   "1: cmp r0, r1\n"
                   "bhs 2f\n"
                   "str r2, [r0], #4\n"
                   "b 1b\n"
                   "2: ldr r0, =_estack\n"
                   "mov sp, r0\n"
                   "b s32k_start\n"
                   ".ltorg\n");
}

void s32k_start(void)
{
    cm_enable_fpu(); /* before any floating-point instruction */
    cm_init_memory();
    cm_paint_stack();
    (void)main();
    for (;;) {
    }
}

__attribute__((naked)) void Fault_Handler(void)
{
    CM_FAULT_TRAMPOLINE();
}
