/*
 * Contactor / precharge state machine:
 *   OPEN --close--> PRECHARGE --bus >= ratio * pack--> CLOSED --open/fault--> OPENING --I < break--> OPEN
 *   PRECHARGE --timeout--> OPEN + BMS_F_PRECHARGE;   PRECHARGE --open--> OPEN
 *   OPENING --emergency fault or timeout--> OPEN (a break under load is counted)
 * Commands are legal only where drawn; anything else is refused and counted.
 * A close request with a latched fault is refused (and counted).
 */
#ifndef BMS_CONTACTOR_H
#define BMS_CONTACTOR_H

#include <stdint.h>
#include "bms/bms_config.h"

typedef enum {
    BMS_CONTACTOR_OPEN = 0,
    BMS_CONTACTOR_PRECHARGE = 1,
    BMS_CONTACTOR_CLOSED = 2,
    BMS_CONTACTOR_OPENING = 3
} bms_contactor_state_t;

typedef enum {
    BMS_CMD_NONE = 0,
    BMS_CMD_CLOSE = 1,
    BMS_CMD_OPEN = 2,
    BMS_CMD_FAULT_RESET = 3
} bms_command_t;

/* Command results */
#define BMS_CMD_R_ACCEPTED 0
#define BMS_CMD_R_ILLEGAL (-1)    /* not legal in this state */
#define BMS_CMD_R_REFUSED (-2)    /* legal, but a latched fault forbids it */

typedef struct {
    bms_contactor_state_t state;
    uint32_t state_ms;           /* time in the current state */
    uint32_t illegal_cmds;
    uint32_t refused_cmds;
    uint32_t breaks_under_load;
    uint8_t precharge_failed;    /* raw condition for BMS_F_PRECHARGE (one shot) */
} bms_contactor_t;

/* Relay drive outputs for a state. */
typedef struct {
    uint8_t main_pos;
    uint8_t main_neg;
    uint8_t precharge;
} bms_contactor_relays_t;

void bms_contactor_reset(bms_contactor_t *c);
/* Apply a command now. fault_reset is handled by the caller; this only checks
 * legality. Returns BMS_CMD_R_ACCEPTED, BMS_CMD_R_ILLEGAL or BMS_CMD_R_REFUSED. */
int32_t bms_contactor_command(bms_contactor_t *c, bms_command_t cmd, uint32_t faults_latched);
/* Advance by dt. pack_v / bus_v in V (NaN: unknown), current in A. */
void bms_contactor_step(bms_contactor_t *c, const bms_contactor_params_t *p, uint32_t dt_ms, float pack_v,
                        float bus_v, float current_a, uint32_t faults_latched);
bms_contactor_relays_t bms_contactor_relays(bms_contactor_state_t s);

#endif /* BMS_CONTACTOR_H */
