/*
 * MPS2 AN386 board support for QEMU's mps2-an386:
 *   UART0 (CMSDK APB UART, 0x40004000): the HIL protocol. RX by interrupt into
 *       a ring buffer, TX polled.
 *   UART1 (0x40005000): text console (QEMU's second -serial).
 *   SysTick on the core clock (25 MHz), free-running 24-bit down counter, no
 *       interrupt: the cycle counter. Under QEMU -icount shift=N each
 *       instruction is 2^N ns of virtual time, so ticks measure instructions
 *       (calibrated in fw_main.c).
 *
 * Why the RX interrupt and WFI: QEMU 7.2's CMSDK UART model holds one byte and
 * does not ask the character backend for the next one when the guest reads it
 * (no qemu_chr_fe_accept_input); the next byte comes only when QEMU's I/O
 * thread runs again. A core asleep in WFI between bytes lets it run at once; a
 * core busy-polling the status register competes with it for QEMU's global lock
 * and stalls every byte for milliseconds.
 */
#include "board.h"
#include "cortex_m.h"

#define UART0_BASE 0x40004000u
#define UART1_BASE 0x40005000u
#define UART_DATA 0x00u
#define UART_STATE 0x04u
#define UART_CTRL 0x08u
#define UART_INTSTATUS 0x0Cu
#define UART_BAUDDIV 0x10u
#define UART_STATE_TXFULL 0x01u
#define UART_STATE_RXFULL 0x02u
#define UART_STATE_RXOVERRUN 0x08u
#define UART_CTRL_TX_EN 0x01u
#define UART_CTRL_RX_EN 0x02u
#define UART_CTRL_RX_INTEN 0x08u
#define UART_INT_RX 0x02u
#define SYSCLK_HZ 25000000u
#define BAUD 115200u
#define UART0_RX_IRQ 0u

#define RING_SIZE 128u /* power of two; lock-step: the main loop drains it as bytes come */

/* The receive ring: written by the interrupt, read by board_read. */
static volatile uint8_t ring[RING_SIZE];
static volatile uint32_t ring_head;
static volatile uint32_t ring_tail;
static volatile uint32_t ring_lost;
static volatile uint32_t rx_throttled;

void Uart0Rx_IRQHandler(void);

/*
 * Drain the UART into the ring. Three QEMU facts shape it:
 *  - a byte that lands between the last read and the acknowledgement must not be left in
 *    the UART with no interrupt pending: acknowledge, then look once more;
 *  - QEMU hands over the next byte as soon as the data register is read, so while a frame
 *    streams in the interrupt tail-chains and the main loop does not run: with the ring
 *    full the byte stays in the UART (QEMU holds the rest back, its UART has no overrun
 *    while it waits) and the interrupt is switched off until board_read has made room;
 *  - on the real board at 115200 baud the ring never fills in lock-step.
 */
void Uart0Rx_IRQHandler(void)
{
    for (uint32_t k = 0u; k < 8u; k++) {
        const uint32_t st = REG32(UART0_BASE + UART_STATE);
        if ((st & UART_STATE_RXOVERRUN) != 0u) {
            ring_lost++;
            REG32(UART0_BASE + UART_STATE) = UART_STATE_RXOVERRUN;
        }
        if ((st & UART_STATE_RXFULL) == 0u) {
            REG32(UART0_BASE + UART_INTSTATUS) = UART_INT_RX;
            if ((REG32(UART0_BASE + UART_STATE) & UART_STATE_RXFULL) == 0u) {
                return;
            }
        } else {
            const uint32_t head = ring_head;
            if ((head - ring_tail) >= RING_SIZE) {
                rx_throttled = 1u;
                REG32(UART0_BASE + UART_CTRL) = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
                REG32(UART0_BASE + UART_INTSTATUS) = UART_INT_RX;
                return;
            }
            ring[head & (RING_SIZE - 1u)] = (uint8_t)REG32(UART0_BASE + UART_DATA);
            ring_head = head + 1u;
        }
    }
    REG32(NVIC_ISPR0) = 1u << UART0_RX_IRQ; /* still receiving: run again */
}

static uint32_t systick_now(void)
{
    return REG32(SYST_CVR);
}

void board_init(void)
{
    REG32(UART0_BASE + UART_BAUDDIV) = SYSCLK_HZ / BAUD;
    REG32(UART0_BASE + UART_CTRL) = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
    REG32(UART1_BASE + UART_BAUDDIV) = SYSCLK_HZ / BAUD;
    REG32(UART1_BASE + UART_CTRL) = UART_CTRL_TX_EN;
    REG32(SYST_RVR) = 0x00FFFFFFu;
    REG32(SYST_CVR) = 0u;
    REG32(SYST_CSR) = 0x5u; /* core clock, enabled, no interrupt */
    REG32(NVIC_ISER0) = 1u << UART0_RX_IRQ;
    cm_irq_enable();
}

uint32_t board_read(uint8_t *buf, uint32_t cap)
{
    for (;;) {
        cm_irq_disable();
        if (ring_head != ring_tail) {
            break;
        }
        cm_wfi(); /* a pending interrupt wakes it even while masked */
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
    if (rx_throttled != 0u) {
        /* room again: receive interrupts back on, and look at the byte left waiting */
        rx_throttled = 0u;
        REG32(UART0_BASE + UART_CTRL) = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
        REG32(NVIC_ISPR0) = 1u << UART0_RX_IRQ;
    }
    cm_irq_enable();
    return n;
}

static void uart_put(uint32_t base, uint8_t b)
{
    while ((REG32(base + UART_STATE) & UART_STATE_TXFULL) != 0u) {
    }
    REG32(base + UART_DATA) = b;
}

void board_write(const uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0u; i < len; i++) {
        uart_put(UART0_BASE, buf[i]);
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
    static const char name[] = "mps2-an386";
    b->counter_now = systick_now;
    b->counter_down = 1u;
    b->counter_mask = 0x00FFFFFFu;
    b->counter_kind = BMS_PROTO_COUNTER_SYSTICK;
    b->counter_hz = SYSCLK_HZ;
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
    for (uint32_t i = 0u; (i < 256u) && (text[i] != '\0'); i++) {
        uart_put(UART1_BASE, (uint8_t)text[i]);
    }
}

/* Semihosting SYS_EXIT: QEMU (-semihosting-config enable=on) exits with a
 * non-zero status for any reason other than ADP_Stopped_ApplicationExit. */
void board_fault_stop(uint32_t pc)
{
    (void)pc;
    const uint32_t op = 0x18u;       /* SYS_EXIT */
    const uint32_t arg = 0x20023u;   /* ADP_Stopped_RunTimeErrorUnknown */
    /* operands moved into r0/r1 inside the asm (no register variables: cppcheck cannot parse them) */
    __asm volatile("mov r0, %0\n\tmov r1, %1\n\tbkpt 0xAB" : : "r"(op), "r"(arg) : "r0", "r1", "memory");
    for (;;) {
        cm_wfi();
    }
}
