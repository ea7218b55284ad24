/*
 * S32K144EVB board support (build-only here, see README.md):
 *   LPUART1 on PTC6 (RX) / PTC7 (TX), the EVB's OpenSDA virtual COM port,
 *       115200 8N1 from FIRCDIV2 (48 MHz): the HIL protocol. RX by interrupt
 *       into a ring buffer, TX polled.
 *   Core clock: FIRC 48 MHz (the reset default).
 *   Cycle counter: DWT CYCCNT (core cycles, 32 bit).
 *   No console: board_console discards.
 */
#include "board.h"
#include "cortex_m.h"

#define SCG_FIRCDIV 0x40064304u
#define PCC_PORTC 0x4006512Cu
#define PCC_LPUART1 0x400651ACu
#define PCC_CGC (1u << 30)
#define PCC_PCS_FIRCDIV2 (3u << 24)
#define PORTC_PCR6 0x4004B018u
#define PORTC_PCR7 0x4004B01Cu
#define PORT_MUX_ALT2 (2u << 8)
#define LPUART1_BASE 0x4006B000u
#define LPUART_BAUD 0x10u
#define LPUART_STAT 0x14u
#define LPUART_CTRL 0x18u
#define LPUART_DATA 0x1Cu
#define LPUART_STAT_TDRE (1u << 23)
#define LPUART_STAT_RDRF (1u << 21)
#define LPUART_STAT_OR (1u << 19)
#define LPUART_CTRL_RIE (1u << 21)
#define LPUART_CTRL_TE (1u << 19)
#define LPUART_CTRL_RE (1u << 18)
#define NVIC_ISER1 0xE000E104u
#define LPUART1_IRQ 33u
#define CORE_HZ 48000000u
#define BAUD 115200u
#define OSR 16u

#define RING_SIZE 128u /* power of two; lock-step: the main loop drains it as bytes come */

static volatile uint8_t ring[RING_SIZE];
static volatile uint32_t ring_head;
static volatile uint32_t ring_tail;
static volatile uint32_t ring_lost;

void Lpuart1_IRQHandler(void);

void Lpuart1_IRQHandler(void)
{
    for (uint32_t k = 0u; k < 8u; k++) {
        const uint32_t st = REG32(LPUART1_BASE + LPUART_STAT);
        if ((st & LPUART_STAT_OR) != 0u) {
            ring_lost++;
            REG32(LPUART1_BASE + LPUART_STAT) = LPUART_STAT_OR; /* write 1 to clear */
        }
        if ((st & LPUART_STAT_RDRF) == 0u) {
            break;
        }
        const uint8_t b = (uint8_t)REG32(LPUART1_BASE + LPUART_DATA);
        const uint32_t head = ring_head;
        if ((head - ring_tail) < RING_SIZE) {
            ring[head & (RING_SIZE - 1u)] = b;
            ring_head = head + 1u;
        } else {
            ring_lost++;
        }
    }
}

static uint32_t dwt_now(void)
{
    return REG32(DWT_CYCCNT);
}

void board_init(void)
{
    REG32(SCG_FIRCDIV) = (1u << 8) | 1u;            /* FIRCDIV2 = FIRCDIV1 = 48 MHz */
    REG32(PCC_PORTC) = PCC_CGC;
    REG32(PORTC_PCR6) = PORT_MUX_ALT2;              /* LPUART1_RX */
    REG32(PORTC_PCR7) = PORT_MUX_ALT2;              /* LPUART1_TX */
    REG32(PCC_LPUART1) = PCC_PCS_FIRCDIV2;          /* clock source while the gate is off */
    REG32(PCC_LPUART1) = PCC_PCS_FIRCDIV2 | PCC_CGC;
    const uint32_t sbr = (CORE_HZ + ((OSR * BAUD) / 2u)) / (OSR * BAUD);
    REG32(LPUART1_BASE + LPUART_BAUD) = ((OSR - 1u) << 24) | sbr;
    REG32(LPUART1_BASE + LPUART_CTRL) = LPUART_CTRL_TE | LPUART_CTRL_RE | LPUART_CTRL_RIE;
    REG32(DEMCR) |= (1u << 24);                     /* TRCENA */
    REG32(DWT_CYCCNT) = 0u;
    REG32(DWT_CTRL) |= 1u;                          /* CYCCNTENA */
    REG32(NVIC_ISER1) = 1u << (LPUART1_IRQ - 32u);
    cm_irq_enable();
}

uint32_t board_read(uint8_t *buf, uint32_t cap)
{
    for (;;) {
        cm_irq_disable();
        if (ring_head != ring_tail) {
            break;
        }
        cm_wfi();
        cm_irq_enable();
    }
    uint32_t n = 0u;
    uint32_t tail = ring_tail;
    while ((n < cap) && (tail != ring_head)) {
        buf[n] = ring[tail & (RING_SIZE - 1u)];
        tail++;
        n++;
    }
    ring_tail = tail;
    cm_irq_enable();
    return n;
}

void board_write(const uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0u; i < len; i++) {
        while ((REG32(LPUART1_BASE + LPUART_STAT) & LPUART_STAT_TDRE) == 0u) {
        }
        REG32(LPUART1_BASE + LPUART_DATA) = buf[i];
    }
}

uint32_t board_take_overruns(void)
{
    cm_irq_disable();
    const uint32_t lost = ring_lost;
    ring_lost = 0u;
    cm_irq_enable();
    return lost;
}

void board_describe(bms_hil_board_t *b)
{
    static const char name[] = "s32k144evb";
    b->counter_now = dwt_now;
    b->counter_down = 0u;
    b->counter_mask = 0xFFFFFFFFu;
    b->counter_kind = BMS_PROTO_COUNTER_DWT;
    b->counter_hz = CORE_HZ;
    b->counter_overhead = 0u;
    b->cal_insns = 0u;
    b->cal_ticks = 0u;
    b->stack_free = cm_stack_free;
    for (uint32_t i = 0u; i < 16u; i++) {
        b->board[i] = (i < sizeof(name)) ? name[i] : '\0';
    }
}

void board_console(const char *text)
{
    (void)text;
}

void board_fault_stop(uint32_t pc)
{
    (void)pc;
    cm_irq_disable();
    for (;;) {
        cm_wfi(); /* a debugger can inspect; the host sees the fault ERROR */
    }
}
