/*
 * The firmware end of the HIL protocol: one instance holds the protocol
 * context, the BMS instance and the buffers, and answers requests.
 *
 *   bms_hil_init(node, board)          once, with the board's description
 *   len = bms_hil_hello(node)          boot announcement (wire bytes at bms_hil_tx)
 *   len = bms_hil_feed(node, in, n, &used)
 *                                       consumes received bytes up to the end
 *                                       of the first frame that needs a reply;
 *                                       len > 0: send bms_hil_tx(node)[0..len)
 *
 * CONFIG is a transaction: BEGIN (size, CRC-32C) -> DATA chunks in order ->
 * COMMIT. The download writes straight into the running instance's
 * configuration (bms.cfg): the configuration is held once, and the scratch
 * below holds only a step's I/O.
 *   - BEGIN is refused (CONFIG_BUSY, detail: the contactor state) while the
 *     contactors are not OPEN: a live pack is not reconfigured. An accepted
 *     BEGIN de-configures the instance at once: STEP, COMMAND and a firmware
 *     RESET answer NOT_CONFIGURED, HELLO reports configured 0 and config_hash
 *     0, exactly as before any CONFIG.
 *   - COMMIT checks the CRC and bms_config_check on bms.cfg, then
 *     initialises the instance from its own configuration (bms_init with
 *     &bms.cfg). A refused COMMIT ends the download and leaves the node
 *     unconfigured (contactors open, no step), never half-written: a
 *     configuration is applied whole or not at all.
 *   - Nothing shares the download's memory: a STEP, COMMAND or RESET during a
 *     download is answered (NOT_CONFIGURED, or the stats cleared) and the
 *     download goes on; only a new BEGIN restarts it. CONFIG_ABORTED is no
 *     longer sent.
 *
 * Read by the cffi builder: plain typedefs and prototypes only.
 */
#ifndef BMS_HIL_NODE_H
#define BMS_HIL_NODE_H

#include <stdint.h>
#include "bms/bms.h"
#include "bms/protocol.h"

/* What the board tells the node (HELLO) and how it measures a step. */
typedef struct {
    uint32_t (*counter_now)(void);   /* free-running cycle counter; NULL: none */
    uint32_t counter_down;           /* 1: the counter counts down (SysTick) */
    uint32_t counter_mask;           /* counter width (0x00FFFFFF for SysTick) */
    uint32_t counter_kind;           /* PROTO_COUNTER_* */
    uint32_t counter_hz;
    uint32_t counter_overhead;       /* ticks of an empty measurement, subtracted */
    uint32_t cal_insns;              /* calibration loop: instructions ... */
    uint32_t cal_ticks;              /* ... and the ticks they took */
    uint32_t (*stack_free)(void);    /* stack bytes never used so far; NULL: unknown */
    char board[16];
} bms_hil_board_t;

/* A step's measurement and outputs (the node's only scratch). */
typedef struct {
    bms_meas_t meas;
    bms_out_t out;
} bms_hil_io_t;

typedef struct {
    uint32_t active;                 /* BEGIN accepted, not committed or refused */
    uint32_t total;
    uint32_t crc;
    uint32_t received;
} bms_hil_download_t;

typedef struct {
    bms_proto_ctx_t proto;
    bms_t bms;
    bms_hil_io_t io;
    bms_hil_download_t dl;
    bms_hil_board_t board;
    uint32_t config_hash;            /* CRC-32C of the running configuration, 0: none */
} bms_hil_node_t;

void bms_hil_init(bms_hil_node_t *n, const bms_hil_board_t *board);
/* Build the HELLO announcement (seq 0); returns its wire length. */
uint32_t bms_hil_hello(bms_hil_node_t *n);
uint32_t bms_hil_feed(bms_hil_node_t *n, const uint8_t *in, uint32_t len, uint32_t *used);
const uint8_t *bms_hil_tx(const bms_hil_node_t *n);
/* Bytes the board lost before the decoder (UART overrun, full ring). */
void bms_hil_count_overruns(bms_hil_node_t *n, uint32_t lost);
/* An ERROR frame for a fault handler (seq 0); returns its wire length. */
uint32_t bms_hil_fault(bms_hil_node_t *n, uint32_t pc);
/* Hash of the firmware sources this was built from (BMS_SOURCE_HASH). */
uint32_t bms_hil_source_hash(void);

#endif /* BMS_HIL_NODE_H */
