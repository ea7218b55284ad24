/*
 * CAN layer: the firmware's state onto the bus and the bus partners' messages into the
 * firmware, as the DBC (bms/data/can/bms.dbc) defines them. The pack/unpack code is
 * generated from the DBC by cantools (native/gen/bms_can.[ch], native/tools/can_gen.py);
 * this module only maps signals to firmware quantities.
 *
 * Receive (bms_canl_rx): a frame of a known identifier is refused, counted and never
 * applied when its length is not the DBC's, its CRC-8 does not match, its alive counter
 * repeats the last accepted one, or any signal is outside its DBC range. The CRC-8 is
 * SAE J1850 (poly 0x1D, init 0xFF, final xor 0xFF) over the identifier's two low bytes
 * (little-endian) and the frame's other data bytes; it is the frame's last byte.
 *
 * Timeouts (bms_canl_inputs): each received message has a timeout (the DBC attribute
 * RxTimeoutTime). The vehicle's message is monitored from power-up; the charger's while a
 * charge session is open (from an accepted CHG_Status with ChargerState != off until one
 * with off). A partner with an overdue message is reported in bms_meas_t.comm_lost; the
 * firmware latches BMS_F_COMM in that step.
 *
 * Transmit (bms_canl_tx): each BMS message at its cycle time (GenMsgCycleTime).
 *
 * Time: bms_canl_inputs advances a millisecond clock that wraps at 2^32 (after 49.7
 * days); every timeout and cycle is an elapsed time (an age counter, or the wrapping
 * difference of two clock readings), so the schedule is the same on either side of
 * the wrap.
 *
 * Per step: bms_canl_rx for every frame received since the last step, then
 * bms_canl_inputs (fills meas, returns the vehicle's commands), bms_command for each,
 * bms_step, bms_canl_tx. No dynamic memory, no global state.
 */
#ifndef BMS_CAN_LAYER_H
#define BMS_CAN_LAYER_H

#include <stdint.h>
#include "bms/bms.h"

/* Received messages (index into the rx tables) */
#define BMS_CANL_RX_CHG_STATUS 0
#define BMS_CANL_RX_CHG_LIMITS 1
#define BMS_CANL_RX_VCU_COMMAND 2
#define BMS_CANL_N_RX 3
/* Sent messages, in the DBC's order */
#define BMS_CANL_TX_PACK_STATUS 0
#define BMS_CANL_TX_LIMITS 1
#define BMS_CANL_TX_CELL_VOLTAGES 2
#define BMS_CANL_TX_CELL_TEMPERATURES 3
#define BMS_CANL_TX_FAULTS 4
#define BMS_CANL_TX_STATE 5
#define BMS_CANL_TX_ESTIMATOR 6
#define BMS_CANL_TX_HEALTH 7
#define BMS_CANL_TX_SOP 8
#define BMS_CANL_TX_PRESSURE 9
#define BMS_CANL_N_TX 10

/* Bus partners: bits of bms_meas_t.comm_lost */
#define BMS_CANL_PARTNER_CHARGER 0x1u
#define BMS_CANL_PARTNER_VEHICLE 0x2u

/* bms_canl_rx results */
#define BMS_CANL_RX_OK 0
#define BMS_CANL_RX_NOT_OURS 1        /* an identifier the BMS does not receive: ignored */
#define BMS_CANL_RX_E_LENGTH (-1)
#define BMS_CANL_RX_E_CHECKSUM (-2)
#define BMS_CANL_RX_E_COUNTER (-3)    /* alive counter repeated */
#define BMS_CANL_RX_E_RANGE (-4)      /* a signal outside its DBC range */
#define BMS_CANL_N_REFUSE_REASONS 4

/* bms_canl_init results */
#define BMS_CANL_OK 0
#define BMS_CANL_E_ARG (-1)
#define BMS_CANL_E_CONFIG (-2)        /* a timeout or cycle time of 0 or above BMS_CANL_MAX_PERIOD_MS */
#define BMS_CANL_MAX_PERIOD_MS 60000u

#define BMS_CANL_MAX_COMMANDS 2u      /* contactor request and fault reset in one step */

typedef struct {
    uint32_t id;                 /* 11-bit identifier */
    uint8_t len;                 /* data length, 0..8 */
    uint8_t data[8];
} bms_canl_frame_t;

typedef struct {
    uint32_t rx_timeout_ms[BMS_CANL_N_RX];    /* DBC RxTimeoutTime */
    uint32_t tx_cycle_ms[BMS_CANL_N_TX];      /* DBC GenMsgCycleTime */
} bms_canl_cfg_t;

typedef struct {
    uint32_t age_ms;             /* since the last accepted frame (saturating) */
    uint8_t fresh;               /* accepted since the last bms_canl_inputs */
    uint8_t seen;                /* ever accepted */
    uint8_t counter;             /* alive counter of the last accepted frame */
} bms_canl_rx_track_t;

typedef struct {
    bms_canl_cfg_t cfg;
    bms_canl_rx_track_t rx[BMS_CANL_N_RX];
    /* Time is a free-running millisecond clock that wraps at 2^32 (49.7 days); it is only
     * ever compared as an elapsed time, (uint32_t)(time_ms - then), never as an instant. */
    uint32_t last_tx_ms[BMS_CANL_N_TX];       /* time_ms when each message last went out */
    uint32_t tx_due;                     /* bit k: message k due regardless of the clock
                                          * (never sent yet, or a step longer than any cycle) */
    uint32_t time_ms;
    /* last accepted values */
    float charger_out_v;
    float charger_out_a;
    float charger_max_a;
    float charger_max_v;
    uint8_t charger_state;       /* DBC ChargerState: 0 off, 1 standby, 2 charging, 3 fault */
    uint8_t charger_session;     /* charger messages monitored */
    uint8_t contactor_request;   /* last request value seen (applied on a change) */
    uint8_t fault_reset;         /* last FaultReset value seen (applied on a rising edge) */
    float fast_charge_in_s;      /* the vehicle's FastChargeIn (s), NaN: none announced (SNA) */
    uint8_t pending_contactor;   /* bms_command_t waiting for bms_canl_inputs, 0 = none */
    uint8_t pending_reset;
    uint32_t comm_lost;          /* CAN_PARTNER_* bits, as of the last bms_canl_inputs */
    uint32_t accepted;
    uint32_t refused[BMS_CANL_N_REFUSE_REASONS];   /* by -reason - 1: length, checksum, counter, range */
    uint32_t not_ours;
} bms_canl_t;

/* CRC-8 SAE J1850 of the frame's protected bytes (identifier, data without the last byte). */
uint8_t bms_canl_crc8(uint32_t id, const uint8_t *data, uint8_t len);
int32_t bms_canl_init(bms_canl_t *c, const bms_canl_cfg_t *cfg);
/* One received frame. Returns BMS_CANL_RX_OK, BMS_CANL_RX_NOT_OURS or a CAN_RX_E_* refusal. */
int32_t bms_canl_rx(bms_canl_t *c, const bms_canl_frame_t *f);
/* Advance by dt_ms; writes meas->charger_max_a (NaN without a live charger),
 * meas->fast_charge_in_s (the vehicle's announcement; NaN without one or without a live
 * vehicle) and meas->comm_lost; writes the vehicle's commands (bms_command_t) into cmds and returns
 * how many (<= BMS_CANL_MAX_COMMANDS). */
uint32_t bms_canl_inputs(bms_canl_t *c, uint32_t dt_ms, bms_meas_t *meas, uint32_t *cmds);
/* The BMS messages due now, packed into frames (at most max_frames); returns how many. */
uint32_t bms_canl_tx(bms_canl_t *c, const bms_config_t *cfg, const bms_meas_t *meas, const bms_out_t *out,
                     bms_canl_frame_t *frames, uint32_t max_frames);
/* Frames refused so far, all reasons (saturating). */
uint32_t bms_canl_refused_total(const bms_canl_t *c);

#endif /* BMS_CAN_LAYER_H */
