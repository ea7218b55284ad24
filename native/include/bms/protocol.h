/*
 * Wire protocol between a host and the firmware (HIL): the frame codec and
 * the message layouts. The Python side (hil/protocol.py) describes the same
 * frames with construct; tests/hil keeps the two in agreement.
 *
 * Frame (before COBS):  header | payload | CRC-32C
 *   header  u8 version, u8 type, u16 seq, u16 payload length (little-endian)
 *   CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF) over
 *           header + payload, little-endian
 * On the wire: 0x00, COBS(frame), 0x00. Empty frames (two delimiters in a
 * row) are ignored, so a leading delimiter resynchronises after line noise.
 *
 * Every request gets exactly one reply with the request's seq: HELLO ->
 * HELLO, CONFIG -> CONFIG, STEP -> STATE, COMMAND -> COMMAND, RESET -> RESET,
 * STATS -> STATS, or ERROR. Frames that cannot be authenticated (framing,
 * truncated, oversize, length, CRC) are counted and get no reply; frames with
 * a valid CRC but a wrong version or an unknown type are counted and
 * answered with ERROR.
 *
 * No dynamic memory, no stdio; every loop is bounded by a buffer size.
 * This header is read by the cffi builder: plain typedefs, integer
 * #defines and prototypes only.
 */
#ifndef BMS_PROTOCOL_H
#define BMS_PROTOCOL_H

#include <stdint.h>
#include "bms/bms.h"

#define BMS_PROTO_VERSION 1
#define BMS_PROTO_HDR_LEN 6
#define BMS_PROTO_CRC_LEN 4
/* Largest payload: STATE at 192 cells is 192 + 8 * 192 + 192 / 8 = 1752 bytes. */
#define BMS_PROTO_MAX_PAYLOAD 1752
/* BMS_PROTO_HDR_LEN + BMS_PROTO_MAX_PAYLOAD + BMS_PROTO_CRC_LEN */
#define BMS_PROTO_MAX_FRAME 1762
/* Room for COBS in place: the raw frame sits BMS_PROTO_TX_OFFSET bytes into the
 * wire buffer and is encoded forwards over itself (see protocol.c). */
#define BMS_PROTO_TX_OFFSET 12
/* BMS_PROTO_MAX_FRAME + BMS_PROTO_TX_OFFSET + 2 delimiters */
#define BMS_PROTO_MAX_WIRE 1776

/* Message types */
#define BMS_PROTO_MSG_HELLO 1
#define BMS_PROTO_MSG_CONFIG 2
#define BMS_PROTO_MSG_STEP 3
#define BMS_PROTO_MSG_STATE 4
#define BMS_PROTO_MSG_COMMAND 5
#define BMS_PROTO_MSG_RESET 6
#define BMS_PROTO_MSG_STATS 7
#define BMS_PROTO_MSG_ERROR 8

/* Fixed payload sizes (bytes) */
#define BMS_PROTO_HELLO_LEN 56
#define BMS_PROTO_CONFIG_HDR_LEN 12      /* + data */
#define BMS_PROTO_CONFIG_CHUNK_MAX 1024  /* data bytes in one CONFIG DATA */
#define BMS_PROTO_CONFIG_REPLY_LEN 12
#define BMS_PROTO_STEP_FIXED_LEN 44      /* + 4 * (n_cells + n_sensors + n_pressure) */
#define BMS_PROTO_STATE_FIXED_LEN 192    /* + 8 * n_cells + (n_cells + 7) / 8 */
#define BMS_PROTO_COMMAND_LEN 4
#define BMS_PROTO_COMMAND_REPLY_LEN 8
#define BMS_PROTO_RESET_LEN 4
#define BMS_PROTO_STATS_LEN 60
#define BMS_PROTO_ERROR_LEN 8

/* CONFIG operations */
#define BMS_PROTO_CFG_BEGIN 0            /* value = total size, crc = CRC-32C of the whole */
#define BMS_PROTO_CFG_DATA 1             /* value = offset, data follows */
#define BMS_PROTO_CFG_COMMIT 2           /* check and apply whole (bms_init) or stay unconfigured */

/* RESET flags */
#define BMS_PROTO_RESET_FIRMWARE 1       /* bms_reset: estimators and safety state, config kept */
#define BMS_PROTO_RESET_STATS 2          /* clear the protocol counters */

/* STATE flags */
#define BMS_PROTO_STATE_CYCLES_VALID 1

/* Cycle counter of the board (HELLO counter_kind) */
#define BMS_PROTO_COUNTER_NONE 0
#define BMS_PROTO_COUNTER_SYSTICK 1      /* SysTick on the core clock: cycles; instructions under QEMU -icount */
#define BMS_PROTO_COUNTER_DWT 2          /* DWT CYCCNT: core cycles */

/* ERROR codes (detail in parentheses) */
#define BMS_PROTO_E_BAD_VERSION 1        /* (the firmware's version) */
#define BMS_PROTO_E_UNKNOWN_TYPE 2       /* (the type received) */
#define BMS_PROTO_E_BAD_PAYLOAD 3        /* payload length or field invalid for its type (expected length) */
#define BMS_PROTO_E_NOT_CONFIGURED 4
#define BMS_PROTO_E_CONFIG_SIZE 5        /* (sizeof(bms_config_t)) */
#define BMS_PROTO_E_CONFIG_SEQUENCE 6    /* DATA/COMMIT without BEGIN, gap or overrun (bytes received) */
#define BMS_PROTO_E_CONFIG_CRC 7         /* whole-config CRC differs (the CRC computed) */
#define BMS_PROTO_E_CONFIG_REJECTED 8    /* bms_config_check failed (bms_cfg_err_t); node left unconfigured */
#define BMS_PROTO_E_CONFIG_ABORTED 9     /* no longer sent (a STEP used to cancel a download) */
#define BMS_PROTO_E_MEAS_SHAPE 10        /* n_cells / n_sensors differ ((cells << 16) | sensors configured) */
#define BMS_PROTO_E_BAD_COMMAND 11       /* (the command) */
#define BMS_PROTO_E_STEP_FAILED 12       /* (bms_step return code) */
#define BMS_PROTO_E_FIRMWARE_FAULT 13    /* sent by a fault handler before the board stops (PC) */
#define BMS_PROTO_E_CONFIG_BUSY 14       /* BEGIN while the contactors are not OPEN (contactor state) */

/* bms_proto_rx_byte results */
#define BMS_PROTO_RX_NONE 0              /* need more bytes */
#define BMS_PROTO_RX_FRAME 1             /* a valid request: proto_rx_header / bms_proto_rx_payload */
#define BMS_PROTO_RX_REJECT 2            /* authenticated but refused: answer ERROR (ctx->reject_code) */
#define BMS_PROTO_RX_DROPPED 3           /* broken frame, counted, no reply */

typedef struct {
    uint32_t rx_bytes;        /* bytes fed to the decoder */
    uint32_t frames_ok;       /* frames with a valid CRC */
    uint32_t crc_errors;
    uint32_t framing_errors;  /* COBS block cut by a delimiter */
    uint32_t oversize;        /* longer than BMS_PROTO_MAX_FRAME */
    uint32_t truncated;       /* shorter than header + CRC, or than the header's length */
    uint32_t length_errors;   /* longer than the header's length, or length above the maximum */
    uint32_t bad_version;
    uint32_t unknown_type;
    uint32_t bad_payload;     /* valid frame whose payload does not fit its type */
    uint32_t rx_overruns;     /* bytes lost before the decoder (UART / ring buffer) */
    uint32_t frames_tx;
    uint32_t errors_tx;       /* ERROR replies sent */
    uint32_t steps;
    uint32_t stack_free;      /* stack bytes never used (board high-water mark), 0xFFFFFFFF unknown */
} bms_proto_stats_t;

typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint16_t length;
} bms_proto_header_t;

/* One buffer serves both directions (RAM): a received frame is decoded to
 * buf + BMS_PROTO_TX_OFFSET, where a reply's raw frame is built too and then
 * COBS-encoded in place to buf[0..]. So the request payload is valid until
 * the reply payload is written: handlers read the request first. */
typedef struct {
    uint8_t buf[BMS_PROTO_MAX_WIRE];
    /* receive: streaming COBS decoder */
    uint32_t rx_len;
    uint32_t block_left;      /* data bytes left in the current COBS block */
    uint8_t block_code;       /* code byte of the current block */
    uint8_t zero_pending;     /* a block ended below 0xFF: a zero follows if data does */
    uint8_t in_frame;         /* bytes seen since the last delimiter */
    uint8_t discard;          /* oversize: drop until the next delimiter */
    bms_proto_header_t hdr;       /* of the last frame returned */
    uint32_t reject_code;     /* BMS_PROTO_E_* for BMS_PROTO_RX_REJECT */
    bms_proto_stats_t stats;
} bms_proto_ctx_t;

/* STEP request, less the measurement arrays (written into a bms_meas_t). */
typedef struct {
    uint32_t dt_ms;
    uint32_t command;         /* bms_command_t applied before the step, 0 = none */
    uint32_t n_cells;
    uint32_t n_sensors;
    uint32_t n_pressure;      /* stack-pressure readings (pack.n_pressure_sensors) */
} bms_proto_step_t;

typedef struct {
    uint32_t op;
    uint32_t value;           /* BEGIN: total size; DATA: offset */
    uint32_t crc;             /* BEGIN: CRC-32C of the whole configuration */
    uint32_t data_len;
    uint32_t data_offset;     /* of the data in the payload */
} bms_proto_config_t;

typedef struct {
    uint32_t fw_major;
    uint32_t fw_minor;
    uint32_t max_cells;
    uint32_t max_sensors;
    uint32_t max_payload;
    uint32_t config_size;
    uint32_t layout_hash;
    uint32_t source_hash;
    uint32_t config_hash;
    uint32_t configured;
    uint32_t counter_kind;
    uint32_t counter_hz;
    uint32_t cal_insns;
    uint32_t cal_ticks;
    char board[16];
} bms_proto_hello_t;

/* ---- checksums and framing ---- */
/* CRC-32C update (no pre/post inversion): crc = bms_proto_crc32c_update(crc, p, n). */
uint32_t bms_proto_crc32c_update(uint32_t crc, const uint8_t *p, uint32_t n);
/* CRC-32C of a buffer (init and final xor 0xFFFFFFFF); check value of
 * "123456789" is 0xE3069283. */
uint32_t bms_proto_crc32c(const uint8_t *p, uint32_t n);
/* COBS-encode n bytes (no delimiter). dst may overlap src only as
 * bms_proto_tx_finish arranges it. Returns the encoded length, 0 if cap is too small. */
uint32_t bms_proto_cobs_encode(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap);
/* Hash of the sizes and offsets of bms_config_t and of the wire-relevant
 * structs: equal on host and target when their layouts agree. */
uint32_t bms_proto_layout_hash(void);

/* ---- context ---- */
void bms_proto_init(bms_proto_ctx_t *c);
void bms_proto_clear_stats(bms_proto_ctx_t *c);
/* Feed one received byte; returns PROTO_RX_*. */
int32_t bms_proto_rx_byte(bms_proto_ctx_t *c, uint8_t b);
const uint8_t *bms_proto_rx_payload(const bms_proto_ctx_t *c);
/* Where to write a reply's payload before bms_proto_tx_finish. */
uint8_t *bms_proto_tx_payload(bms_proto_ctx_t *c);
/* Frame the payload (header, CRC, COBS, delimiters) in place; returns the
 * number of wire bytes at c->buf, 0 if payload_len is too large. */
uint32_t bms_proto_tx_finish(bms_proto_ctx_t *c, uint8_t type, uint16_t seq, uint32_t payload_len);

/* ---- message layouts ---- */
/* STEP payload -> step + meas (entries beyond n_cells / n_sensors untouched).
 * Returns 0 or BMS_PROTO_E_BAD_PAYLOAD. */
int32_t bms_proto_get_step(const uint8_t *p, uint32_t len, bms_proto_step_t *step, bms_meas_t *meas);
int32_t bms_proto_get_config(const uint8_t *p, uint32_t len, bms_proto_config_t *cfg);
uint32_t bms_proto_put_hello(uint8_t *p, const bms_proto_hello_t *h);
/* STATE: the step's outputs and each cell's estimates from the instance. */
uint32_t bms_proto_put_state(uint8_t *p, const bms_t *inst, const bms_out_t *out, uint32_t n_cells,
                             uint32_t cycles, int32_t cmd_result, uint32_t flags);
uint32_t bms_proto_put_stats(uint8_t *p, const bms_proto_stats_t *s);
uint32_t bms_proto_put_error(uint8_t *p, uint32_t code, uint32_t request_type, int32_t detail);
uint32_t bms_proto_put_config_reply(uint8_t *p, uint32_t op, uint32_t received, uint32_t config_hash);
uint32_t bms_proto_put_command_reply(uint8_t *p, uint32_t cmd, int32_t result);

#endif /* BMS_PROTOCOL_H */
