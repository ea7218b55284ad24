/* Charger compliance: the lagged CCL and the charge-overcurrent condition. */
#include "bms/charger_monitor.h"
#include "bms/bms_math.h"
#include "bms/faults.h"

void bms_chgmon_reset(bms_chgmon_t *m)
{
    m->ccl_ref_a = 0.0f;
}

void bms_chgmon_step(bms_chgmon_t *m, bms_safety_state_t *s, const bms_config_t *cfg, float ccl_now_a, float i_chg_a,
                     float r_step_max_ohm, uint32_t dt_ms, uint32_t time_ms)
{
    const bms_plaus_params_t *pp = &cfg->plaus;
    if (ccl_now_a >= m->ccl_ref_a) {
        m->ccl_ref_a = ccl_now_a; /* a rise is the charger's to follow at its pace */
    } else {
        const float tau_s = (float)pp->charger_response_ms * 0.001f;
        const float a = (tau_s > 0.0f) ? -bms_expm1f(-((float)dt_ms * 0.001f) / tau_s) : 1.0f;
        m->ccl_ref_a += a * (ccl_now_a - m->ccl_ref_a);
    }
    const float allowed = m->ccl_ref_a * (1.0f + pp->ccl_excess_frac) + pp->ccl_excess_a;
    /* a runaway: an excess that through the stiffest cell's step resistance alone would
     * lift a cell at the charge voltage limit past the overvoltage trip cannot wait for
     * the debounce (a cold, high-resistance cell passes its absolute maximum in a few
     * hundred milliseconds) */
    const float ov_margin_v = cfg->limits.q[BMS_Q_CELL_V_MAX].trip.threshold - cfg->charge.cell_v_charge_max_v;
    const int32_t runaway = ((r_step_max_ohm > 0.0f) && (ov_margin_v > 0.0f)
                             && ((i_chg_a - allowed) * r_step_max_ohm > ov_margin_v))
                                ? 1
                                : 0;
    bms_safety_condition(s, BMS_F_CHARGE_OVERCURRENT, (i_chg_a > allowed) ? 1 : 0, 0u, i_chg_a, dt_ms,
                         (runaway != 0) ? pp->ccl_excess_fast_ms : pp->ccl_excess_debounce_ms, time_ms);
}
