/* Memory initialisation and stack watermark shared by the Cortex-M startups.
 * The linker script's symbols are addresses only: they are used as integers
 * (uintptr_t) so that no two distinct objects are compared as pointers. */
#include <stdint.h>

#include "cortex_m.h"

extern uint32_t _sidata[];
extern uint32_t _sdata[];
extern uint32_t _edata[];
extern uint32_t _sbss[];
extern uint32_t _ebss[];
extern uint32_t _sstack[];
extern uint32_t _estack[];

#define STACK_PAINT 0xA5A5A5A5u

static uint32_t words_between(const uint32_t *lo, const uint32_t *hi)
{
    const uintptr_t a = (uintptr_t)lo;
    const uintptr_t b = (uintptr_t)hi;
    return (b > a) ? (uint32_t)((b - a) / 4u) : 0u;
}

void cm_init_memory(void)
{
    const uint32_t n_data = words_between(_sdata, _edata);
    for (uint32_t i = 0u; i < n_data; i++) {
        _sdata[i] = _sidata[i];
    }
    const uint32_t n_bss = words_between(_sbss, _ebss);
    for (uint32_t i = 0u; i < n_bss; i++) {
        _sbss[i] = 0u;
    }
}

void cm_paint_stack(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    /* leave the live frames (and a margin) alone */
    const uintptr_t live = (uintptr_t)sp - 64u;
    const uint32_t n = ((uintptr_t)_sstack < live) ? (uint32_t)((live - (uintptr_t)_sstack) / 4u) : 0u;
    for (uint32_t i = 0u; i < n; i++) {
        _sstack[i] = STACK_PAINT;
    }
}

uint32_t cm_stack_free(void)
{
    const uint32_t n = words_between(_sstack, _estack);
    uint32_t i = 0u;
    while ((i < n) && (_sstack[i] == STACK_PAINT)) {
        i++;
    }
    return 4u * i;
}
