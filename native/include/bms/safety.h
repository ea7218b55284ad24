/*
 * Safety monitor: tiered limit checks with time-based debounce, latched trip
 * faults with records, warnings and derate levels.
 *
 * Debounce semantics (one counter per condition): the counter starts at the
 * first step that shows the condition and then adds each step's dt while the
 * condition holds; a step without it subtracts its dt (never below 0), and a
 * step without it with the counter already at 0 ends it (the next appearance
 * starts afresh). The fault trips at the first step where the
 * counter reaches debounce_ms. So a persistent condition trips no earlier than
 * debounce_ms after its first sample and no later than one step after that; a
 * single good sample inside a real fault delays the trip by two steps instead
 * of restarting it; a condition that clears before debounce_ms never trips.
 *
 * Warning and derate tiers are not latched: they release when the value is
 * back past threshold -/+ hysteresis. A trip is latched with its record (cell,
 * value, time) and clears only on a reset command, and only if its condition
 * is gone (value past the release threshold) at that moment.
 */
#ifndef BMS_SAFETY_H
#define BMS_SAFETY_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/faults.h"

typedef struct {
    uint32_t count_ms;
    uint8_t seen;
} bms_debounce_t;

typedef struct {
    uint8_t id;
    uint16_t cell;
    float value;
    uint32_t time_ms;
} bms_fault_record_t;

typedef struct {
    bms_debounce_t tier_db[BMS_N_QUANTITIES][3];   /* warning, derate, trip */
    uint8_t tier_active[BMS_N_QUANTITIES][2];  /* warning, derate (non-latched) */
    bms_debounce_t fault_db[BMS_N_FAULTS];
    uint32_t latched;                          /* bit per fault id */
    uint32_t present;                          /* condition present now (release sense) */
    bms_fault_record_t record[BMS_N_FAULTS];       /* the trip of each latched fault */
    uint32_t trip_count;
} bms_safety_state_t;

/* One monitored value this step, with where it came from. valid == 0: not
 * available (e.g. every sensor invalid): its counters decay. */
typedef struct {
    float value;
    uint16_t cell;
    uint8_t valid;
} bms_safety_value_t;

/* Tier index */
#define BMS_SAFETY_WARNING 0
#define BMS_SAFETY_DERATE 1
#define BMS_SAFETY_TRIP 2

/* 1 for a maximum (warning < derate < trip), 0 for a minimum. */
int32_t bms_safety_is_max(uint32_t q);
/* Fault id of a quantity's trip. */
uint32_t bms_safety_fault_of(uint32_t q);
/* Advance a debounce counter; returns 1 when confirmed. */
int32_t bms_safety_debounce(bms_debounce_t *d, int32_t condition, uint32_t dt_ms, uint32_t debounce_ms);

void bms_safety_reset(bms_safety_state_t *s);
/* Evaluate the limits (values[q] per quantity) and raw sensor conditions
 * (sensor_cond[f] for f >= BMS_F_VOLT_SENSOR, NULL entries ignored). */
void bms_safety_evaluate(bms_safety_state_t *s, const bms_limits_t *lim, const bms_safety_value_t *values,
                         uint32_t dt_ms, uint32_t now_ms);
/* Feed one non-limit fault condition (plausibility, contactor, comm). */
void bms_safety_condition(bms_safety_state_t *s, uint32_t fault_id, int32_t present, uint16_t cell,
                          float value, uint32_t dt_ms, uint32_t debounce_ms, uint32_t now_ms);
/* Clear latched faults whose condition is gone; returns the mask cleared. Nothing while the
 * samples are stale (BMS_F_STALE present): no condition is known to be gone then. */
uint32_t bms_safety_reset_faults(bms_safety_state_t *s);
/* Derate factor in [0, 1] of quantity q at value v (1 before the derate threshold,
 * falling linearly to 0 at the trip threshold). */
float bms_safety_derate_factor(const bms_limit_t *l, uint32_t q, float v);

#endif /* BMS_SAFETY_H */
