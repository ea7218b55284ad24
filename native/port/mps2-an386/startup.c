/* ARM MPS2 AN386 (Cortex-M4F) as QEMU's mps2-an386 models it: vector table and
 * reset. QEMU loads the ELF and starts from vector[0] (SP) and vector[1] (PC). */
#include "board.h"
#include "cortex_m.h"

extern uint32_t _estack[];
int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void Uart0Rx_IRQHandler(void);

#define N_IRQ 32u

__attribute__((section(".isr_vector"), used)) const vector_t vector_table[16u + N_IRQ] = {
    [0] = {.sp = _estack},
    [1] = {.handler = Reset_Handler},
    [2] = {.handler = Default_Handler},   /* NMI */
    [3] = {.handler = HardFault_Handler},
    [4] = {.handler = HardFault_Handler}, /* MemManage (escalates if disabled) */
    [5] = {.handler = HardFault_Handler}, /* BusFault */
    [6] = {.handler = HardFault_Handler}, /* UsageFault */
    [11] = {.handler = Default_Handler},  /* SVCall */
    [12] = {.handler = Default_Handler},  /* DebugMon */
    [14] = {.handler = Default_Handler},  /* PendSV */
    [15] = {.handler = Default_Handler},  /* SysTick (not enabled) */
    [16] = {.handler = Uart0Rx_IRQHandler},
};

void Reset_Handler(void)
{
    cm_enable_fpu(); /* before any floating-point instruction */
    cm_init_memory();
    cm_paint_stack();
    (void)main();
    for (;;) {
    }
}

__attribute__((naked)) void Default_Handler(void)
{
    CM_FAULT_TRAMPOLINE();
}

__attribute__((naked)) void HardFault_Handler(void)
{
    CM_FAULT_TRAMPOLINE();
}
