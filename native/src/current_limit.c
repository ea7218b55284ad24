/* Charge / discharge current limits and the limiting factor. */
#include "bms/current_limit.h"
#include "bms/bms_math.h"

#define LIMIT_BIG_A 1.0e9f

void bms_limit_reset(bms_limit_state_t *s)
{
    s->ccl_a = 0.0f;
    s->dcl_a = 0.0f;
    s->ccl_limit = (uint32_t)BMS_LIM_CONTACTOR;
    s->dcl_limit = (uint32_t)BMS_LIM_CONTACTOR;
    s->charge_complete = 0u;
    s->heater_request = 0u;
    s->cooling_request = 0u;
}

float bms_limit_map(const bms_charge_params_t *cp, const float t[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC],
                    float soc, float temp_degc)
{
    uint32_t is;
    uint32_t it;
    float ws;
    float wt;
    bms_interp_locate(cp->soc_bp, cp->n_soc, soc, &is, &ws);
    bms_interp_locate(cp->temp_bp_degc, cp->n_temp, temp_degc, &it, &wt);
    const float lo = bms_lerp_at(t[it], is, ws, cp->n_soc);
    if (cp->n_temp < 2u) {
        return lo;
    }
    const float hi = bms_lerp_at(t[it + 1u], is, ws, cp->n_soc);
    return lo + wt * (hi - lo);
}

void bms_limit_acc_init(bms_limit_acc_t *acc)
{
    acc->map_chg_a = LIMIT_BIG_A;
    acc->plating_a = LIMIT_BIG_A;
    acc->headroom_chg_a = LIMIT_BIG_A;
    acc->map_dis_a = LIMIT_BIG_A;
    acc->headroom_dis_a = LIMIT_BIG_A;
    acc->r_step_max_ohm = 0.0f;
}

static float minf(float a, float b)
{
    return (b < a) ? b : a;
}

static float nonneg(float x)
{
    return (x > 0.0f) ? x : 0.0f;
}

void bms_limit_acc_maps(bms_limit_acc_t *acc, const bms_config_t *cfg, float soc, float core_temp_degc)
{
    const bms_charge_params_t *cp = &cfg->charge;
    const float cap = cfg->cell.capacity_ah;
    acc->map_chg_a = minf(acc->map_chg_a, cap * bms_limit_map(cp, cp->charge_c, soc, core_temp_degc));
    acc->plating_a = minf(acc->plating_a, cap * bms_limit_map(cp, cp->plating_c, soc, core_temp_degc));
    acc->map_dis_a = minf(acc->map_dis_a, cap * bms_limit_map(cp, cp->discharge_c, soc, core_temp_degc));
}

void bms_limit_acc_headroom(bms_limit_acc_t *acc, const bms_config_t *cfg, const bms_limit_cell_t *c)
{
    const bms_charge_params_t *cp = &cfg->charge;
    /* predicted terminal voltage one step ahead at charge current ic:
     * v = ocv - v_rc_next + r_step * ic  <=  v_charge_max */
    const float v_open = c->ocv_v - c->v_rc_v;
    const float r = (c->r_step_ohm > 1.0e-6f) ? c->r_step_ohm : 1.0e-6f;
    acc->headroom_chg_a = minf(acc->headroom_chg_a, nonneg((cp->cell_v_charge_max_v - v_open) / r));
    acc->headroom_dis_a = minf(acc->headroom_dis_a, nonneg((v_open - cp->cell_v_discharge_min_v) / r));
    acc->r_step_max_ohm = (r > acc->r_step_max_ohm) ? r : acc->r_step_max_ohm;
}

void bms_limit_acc_cell(bms_limit_acc_t *acc, const bms_config_t *cfg, const bms_limit_cell_t *c)
{
    bms_limit_acc_maps(acc, cfg, c->soc, c->core_temp_degc);
    bms_limit_acc_headroom(acc, cfg, c);
}

/* The same headroom closed on the measurement: the present current plus what keeps the
 * highest measured cell at the limit (the model's parameters may be a few percent off
 * for one cell; its measured voltage is not). The present current is the reading, but no
 * more than the limit in force: a reading above it is the current sensor's noise (or a
 * charger's tolerance, which P1 allows for), and added to the limit it would pass straight
 * into the next one, a charger following it through the cell's resistance (found by the
 * property suite: an aged LFP cell charged cold into CV with 0.3 A of sensor noise went
 * 16 mV past its charge voltage). */
static float measured_headroom(float i_now_a, float v_meas, float v_limit, float r_ohm, int32_t charge)
{
    if ((bms_isfinitef(v_meas) == 0) || (bms_isfinitef(i_now_a) == 0) || !(r_ohm > 0.0f)) {
        return LIMIT_BIG_A;
    }
    const float dv = (charge != 0) ? (v_limit - v_meas) : (v_meas - v_limit);
    return nonneg(i_now_a + dv / r_ohm);
}

/* Smallest term and which one it was (ties keep the earlier, in the order listed). */
static float pick(const bms_limit_terms_t *t, uint32_t derate_src, uint32_t plating_src, uint32_t *which)
{
    float v = t->map_a;
    *which = (uint32_t)BMS_LIM_MAP;
    if (t->headroom_a < v) {
        v = t->headroom_a;
        *which = (uint32_t)BMS_LIM_VOLTAGE;
    }
    if (t->derate_a < v) {
        v = t->derate_a;
        *which = derate_src;
    }
    if (t->plating_a < v) {
        v = t->plating_a;
        *which = plating_src;
    }
    if (t->hardware_a < v) {
        v = t->hardware_a;
        *which = (uint32_t)BMS_LIM_HARDWARE;
    }
    return nonneg(v);
}

/* Ramp an increase, follow a decrease at once. */
static float ramp(float prev, float target, float max_step, uint32_t *which)
{
    if (target > (prev + max_step)) {
        *which = (uint32_t)BMS_LIM_RAMP;
        return prev + max_step;
    }
    return target;
}

void bms_limit_update(bms_limit_state_t *s, const bms_config_t *cfg, const bms_limit_acc_t *acc,
                      const bms_limit_pack_t *pk, float t_max_degc, bms_limit_terms_t *ccl_terms,
                      bms_limit_terms_t *dcl_terms)
{
    const bms_charge_params_t *cp = &cfg->charge;
    const bms_limits_t *lim = &cfg->limits;
    const float step_a = cp->ramp_up_a_per_s * ((float)pk->dt_ms * 0.001f);

    /* ---- charge ---- */
    float hw_c = minf(cp->hw_charge_max_a, lim->q[BMS_Q_I_CHG_MAX].derate.threshold);
    if ((bms_isfinitef(pk->charger_max_a) != 0) && (pk->charger_max_a >= 0.0f)) {
        hw_c = minf(hw_c, pk->charger_max_a);
    }
    ccl_terms->map_a = acc->map_chg_a;
    ccl_terms->headroom_a = minf(acc->headroom_chg_a,
                                 measured_headroom(minf(nonneg(-pk->current_a), s->ccl_a), pk->cell_v_meas_max,
                                                   cp->cell_v_charge_max_v, acc->r_step_max_ohm, 1));
    ccl_terms->derate_a = cp->hw_charge_max_a * pk->derate_chg;
    /* the CCD cap at the contact the lowest stack pressure leaves */
    ccl_terms->plating_a = acc->plating_a * (1.0f - bms_clampf(pk->pressure_cut, 0.0f, 1.0f));
    ccl_terms->hardware_a = hw_c;
    uint32_t why_c;
    const uint32_t plating_src = (pk->pressure_cut > 0.0f) ? (uint32_t)BMS_LIM_PRESSURE : (uint32_t)BMS_LIM_PLATING;
    float ccl = pick(ccl_terms, pk->derate_chg_src, plating_src, &why_c);

    if (pk->soc_charge >= cp->charge_target_soc) {
        s->charge_complete = 1u;
    } else if (pk->soc_charge < cp->charge_resume_soc) {
        s->charge_complete = 0u;
    } else {
        /* hysteresis band: keep */
    }
    /* the window closes at the trip threshold's release band: a reading that wanders
     * around the trip threshold must not both allow the charge and trip on it */
    const bms_tier_t *tc_min = &lim->q[BMS_Q_T_MIN_CHG].trip;
    const bms_tier_t *tc_max = &lim->q[BMS_Q_CORE_T_MAX_CHG].trip;
    const int32_t cold_c = (pk->t_min_degc <= (tc_min->threshold + tc_min->hysteresis)) ? 1 : 0;
    const int32_t hot_c = (t_max_degc >= (tc_max->threshold - tc_max->hysteresis)) ? 1 : 0;
    if (pk->fault_latched != 0u) {
        ccl = 0.0f;
        why_c = (uint32_t)BMS_LIM_FAULT;
    } else if (pk->have_data == 0u) {
        ccl = 0.0f;
        why_c = (uint32_t)BMS_LIM_NO_DATA;
    } else if (pk->contactors_closed == 0u) {
        ccl = 0.0f;
        why_c = (uint32_t)BMS_LIM_CONTACTOR;
    } else if ((cold_c != 0) || (hot_c != 0)) {
        ccl = 0.0f;
        why_c = (uint32_t)BMS_LIM_TEMP_WINDOW;
    } else if (s->charge_complete != 0u) {
        ccl = 0.0f;
        why_c = (uint32_t)BMS_LIM_COMPLETE;
    } else {
        ccl = ramp(s->ccl_a, ccl, step_a, &why_c);
    }

    /* ---- discharge ---- */
    dcl_terms->map_a = acc->map_dis_a;
    dcl_terms->headroom_a = minf(acc->headroom_dis_a,
                                 measured_headroom(minf(nonneg(pk->current_a), s->dcl_a), pk->cell_v_meas_min,
                                                   cp->cell_v_discharge_min_v, acc->r_step_max_ohm, 0));
    dcl_terms->derate_a = cp->hw_discharge_max_a * pk->derate_dis;
    dcl_terms->plating_a = LIMIT_BIG_A;
    dcl_terms->hardware_a = minf(cp->hw_discharge_max_a, lim->q[BMS_Q_I_DIS_MAX].derate.threshold);
    uint32_t why_d;
    float dcl = pick(dcl_terms, pk->derate_dis_src, (uint32_t)BMS_LIM_PLATING, &why_d);
    const bms_tier_t *td_min = &lim->q[BMS_Q_T_MIN_DIS].trip;
    const bms_tier_t *td_max = &lim->q[BMS_Q_CORE_T_MAX_DIS].trip;
    const int32_t cold_d = (pk->t_min_degc <= (td_min->threshold + td_min->hysteresis)) ? 1 : 0;
    const int32_t hot_d = (t_max_degc >= (td_max->threshold - td_max->hysteresis)) ? 1 : 0;
    if (pk->fault_latched != 0u) {
        dcl = 0.0f;
        why_d = (uint32_t)BMS_LIM_FAULT;
    } else if (pk->have_data == 0u) {
        dcl = 0.0f;
        why_d = (uint32_t)BMS_LIM_NO_DATA;
    } else if (pk->contactors_closed == 0u) {
        dcl = 0.0f;
        why_d = (uint32_t)BMS_LIM_CONTACTOR;
    } else if ((cold_d != 0) || (hot_d != 0)) {
        dcl = 0.0f;
        why_d = (uint32_t)BMS_LIM_TEMP_WINDOW;
    } else {
        dcl = ramp(s->dcl_a, dcl, step_a, &why_d);
    }
    s->ccl_a = ccl;
    s->dcl_a = dcl;
    s->ccl_limit = why_c;
    s->dcl_limit = why_d;

    /* ---- thermal requests (with hysteresis); a fast charge announced: its window ---- */
    const float heat_on_c = (pk->precondition != 0u) ? cp->precond_on_below_degc : cp->heater_on_below_degc;
    const float heat_off_c = (pk->precondition != 0u) ? cp->precond_off_above_degc : cp->heater_off_above_degc;
    if (pk->t_min_degc < heat_on_c) {
        s->heater_request = 1u;
    } else if (pk->t_min_degc > heat_off_c) {
        s->heater_request = 0u;
    } else {
        /* keep */
    }
    if (t_max_degc > cp->cooling_on_above_degc) {
        s->cooling_request = 1u;
    } else if (t_max_degc < cp->cooling_off_below_degc) {
        s->cooling_request = 0u;
    } else {
        /* keep */
    }
}
