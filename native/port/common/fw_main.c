/*
 * The firmware's main loop, the same on every board: announce HELLO, then
 * feed received bytes to the protocol node and send its replies. The node
 * (protocol context, BMS instance, buffers) is the one static instance.
 *
 * Cycle counter calibration: a loop of exactly two instructions per
 * iteration (subs + bne) runs CAL_ITERS times between two counter reads;
 * HELLO reports the instructions and the ticks they took, and the ticks of
 * an empty measurement (two back-to-back reads) are subtracted from every
 * measurement. Under QEMU -icount every instruction advances virtual time by
 * 2^shift ns, so ticks * cal_insns / cal_ticks is the instruction count of a
 * step; on silicon the ticks are core cycles.
 */
#include "board.h"
#include "bms/bms_math.h"

#define CAL_ITERS 10000u

static bms_hil_node_t node;

static void spin(uint32_t iters)
{
    uint32_t n = iters;
    __asm volatile("1: subs %0, %0, #1\n"
                   "   bne 1b\n"
                   : "+r"(n)
                   :
                   : "cc");
}

static uint32_t ticks_between(const bms_hil_board_t *b, uint32_t t0, uint32_t t1)
{
    const uint32_t d = (b->counter_down != 0u) ? (t0 - t1) : (t1 - t0);
    return d & b->counter_mask;
}

static void calibrate(bms_hil_board_t *b)
{
    if (b->counter_now == 0) {
        return;
    }
    uint32_t t0 = b->counter_now();
    uint32_t t1 = b->counter_now();
    b->counter_overhead = ticks_between(b, t0, t1);
    t0 = b->counter_now();
    spin(CAL_ITERS);
    t1 = b->counter_now();
    const uint32_t t = ticks_between(b, t0, t1);
    b->cal_insns = 2u * CAL_ITERS;
    b->cal_ticks = (t > b->counter_overhead) ? (t - b->counter_overhead) : 0u;
}

void fw_fault(uint32_t pc)
{
    board_console("FAULT: firmware stopped\n");
    board_write(bms_hil_tx(&node), bms_hil_fault(&node, pc));
    board_fault_stop(pc);
}

/* The board's description is needed only until the node holds its copy: on its own frame it
 * is gone before the main loop's deepest path (bms_step) runs. */
static BMS_NOINLINE void boot(void)
{
    board_init();
    bms_hil_board_t desc;
    board_describe(&desc);
    calibrate(&desc);
    bms_hil_init(&node, &desc);
}

int main(void)
{
    boot();
    board_console("bms firmware: HIL protocol on the first UART\n");
    board_write(bms_hil_tx(&node), bms_hil_hello(&node));
    for (;;) {
        /* a chunk of the board's receive ring (its own bytes are on the deepest path's stack:
         * 32 cost ~25 calls per 96-cell STEP, nothing beside the step's ~2 M instructions) */
        uint8_t in[32];
        const uint32_t n = board_read(in, (uint32_t)sizeof(in));
        bms_hil_count_overruns(&node, board_take_overruns());
        uint32_t off = 0u;
        while (off < n) {
            uint32_t used = 0u;
            const uint32_t len = bms_hil_feed(&node, &in[off], n - off, &used);
            off += used;
            if (len > 0u) {
                board_write(bms_hil_tx(&node), len);
            }
        }
    }
}
