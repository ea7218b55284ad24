/*
 * Charger compliance (BMS_F_CHARGE_OVERCURRENT): the charge current a charger that follows
 * the CCL can deliver. A rise of the CCL is the charger's to follow at its pace; a fall is
 * followed with the charger's response time (a first-order lag, plaus.charger_response_ms).
 * A current above that lagged CCL by more than the charger's regulation tolerance is a
 * fault after plaus.ccl_excess_debounce_ms, or after plaus.ccl_excess_fast_ms when the
 * excess through the stiffest cell's step resistance alone would lift a cell at the charge
 * voltage limit past the overvoltage trip (a runaway).
 */
#ifndef BMS_CHARGER_MONITOR_H
#define BMS_CHARGER_MONITOR_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/safety.h"

typedef struct {
    float ccl_ref_a; /* the CCL as a compliant charger would follow it (lagged down) */
} bms_chgmon_t;

void bms_chgmon_reset(bms_chgmon_t *m);
/* One step: ccl_now_a is the CCL the charger was given (last step's), i_chg_a the charge
 * current measured on a new sample (A, > 0 charging; 0 if none), r_step_max_ohm the
 * stiffest cell's step resistance this step (0: unknown). Feeds the fault into s. */
void bms_chgmon_step(bms_chgmon_t *m, bms_safety_state_t *s, const bms_config_t *cfg, float ccl_now_a, float i_chg_a,
                     float r_step_max_ohm, uint32_t dt_ms, uint32_t time_ms);

#endif /* BMS_CHARGER_MONITOR_H */
