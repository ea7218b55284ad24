/* Validation of bms_config_t: the firmware refuses a configuration that
 * breaks a rule, and says which (bms_cfg_err_t). */
#include "bms/bms.h"
#include "bms/bms_math.h"

static int32_t strictly_increasing(const float *x, uint32_t n)
{
    for (uint32_t i = 0u; i < n; i++) {
        if (bms_isfinitef(x[i]) == 0) {
            return 0;
        }
        if ((i > 0u) && !(x[i] > x[i - 1u])) {
            return 0;
        }
    }
    return 1;
}

static int32_t table_all(const float t[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS], uint32_t nt,
                         uint32_t ns, float min_excl, int32_t allow_equal)
{
    for (uint32_t i = 0u; i < nt; i++) {
        for (uint32_t j = 0u; j < ns; j++) {
            float v = t[i][j];
            if (bms_isfinitef(v) == 0) {
                return 0;
            }
            if ((allow_equal != 0) ? (v < min_excl) : !(v > min_excl)) {
                return 0;
            }
        }
    }
    return 1;
}

static int32_t sigma_ok(float s)
{
    return ((bms_isfinitef(s) != 0) && (s >= 0.0f)) ? 1 : 0;
}

static bms_cfg_err_t check_pack(const bms_pack_params_t *pk)
{
    if ((pk->n_cells < 1u) || (pk->n_cells > BMS_MAX_CELLS)) {
        return BMS_CFG_E_N_CELLS;
    }
    if ((bms_isfinitef(pk->current_range_a) == 0) || !(pk->current_range_a > 0.0f)) {
        return BMS_CFG_E_CURRENT_RANGE;
    }
    if (pk->n_temp_sensors > BMS_MAX_TEMP_SENSORS) {
        return BMS_CFG_E_N_SENSORS;
    }
    for (uint32_t j = 0u; j < pk->n_temp_sensors; j++) {
        if (pk->temp_sensor_cell[j] >= pk->n_cells) {
            return BMS_CFG_E_SENSOR_CELL;
        }
        for (uint32_t k = 0u; k < j; k++) {
            if (pk->temp_sensor_cell[k] == pk->temp_sensor_cell[j]) {
                return BMS_CFG_E_SENSOR_CELL;
            }
        }
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_cell(const bms_cell_params_t *cp)
{
    const uint32_t ns = cp->n_soc;
    const uint32_t nt = cp->n_temp;
    if ((ns < 2u) || (ns > BMS_MAX_SOC_PTS) || (nt < 1u) || (nt > BMS_MAX_TEMP_PTS)) {
        return BMS_CFG_E_TABLE_SHAPE;
    }
    if ((strictly_increasing(cp->soc_bp, ns) == 0) || (cp->soc_bp[0] < 0.0f)
        || (cp->soc_bp[ns - 1u] > 1.0f)) {
        return BMS_CFG_E_SOC_BP;
    }
    if (strictly_increasing(cp->temp_bp_degc, nt) == 0) {
        return BMS_CFG_E_TEMP_BP;
    }
    for (uint32_t i = 0u; i < nt; i++) {
        if (strictly_increasing(cp->ocv_v[i], ns) == 0) {
            return BMS_CFG_E_OCV;
        }
    }
    if ((table_all(cp->r0_ohm, nt, ns, 0.0f, 1) == 0) || (table_all(cp->r1_ohm, nt, ns, 0.0f, 0) == 0)
        || (table_all(cp->r2_ohm, nt, ns, 0.0f, 0) == 0)) {
        return BMS_CFG_E_RESISTANCE;
    }
    if ((table_all(cp->c1_f, nt, ns, 0.0f, 0) == 0) || (table_all(cp->c2_f, nt, ns, 0.0f, 0) == 0)) {
        return BMS_CFG_E_CAPACITANCE;
    }
    for (uint32_t j = 0u; j < ns; j++) {
        if (bms_isfinitef(cp->docv_dt_v_per_k[j]) == 0) {
            return BMS_CFG_E_ENTROPIC;
        }
    }
    if ((bms_isfinitef(cp->capacity_ah) == 0) || !(cp->capacity_ah > 0.0f)) {
        return BMS_CFG_E_CAPACITY;
    }
    if (!(cp->coulombic_eff > 0.0f) || !(cp->coulombic_eff <= 1.0f)) {
        return BMS_CFG_E_COULOMBIC;
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_thermal(const bms_thermal_params_t *tp)
{
    const float v[4] = {tp->c_core_j_per_k, tp->c_surf_j_per_k, tp->r_core_surf_k_per_w,
                        tp->r_surf_amb_k_per_w};
    for (uint32_t i = 0u; i < 4u; i++) {
        if ((bms_isfinitef(v[i]) == 0) || !(v[i] > 0.0f)) {
            return BMS_CFG_E_THERMAL;
        }
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_estimator(const bms_estimator_params_t *ep)
{
    const float s[15] = {ep->soc_init_sigma, ep->v_rc_init_sigma_v, ep->current_noise_a,
                         ep->current_gain_sigma, ep->soc_rw_per_sqrt_s, ep->v_rc_rw_v_per_sqrt_s,
                         ep->voltage_noise_v, ep->model_err_v, ep->r0_rel_sigma,
                         ep->rc_rel_sigma, ep->rc_v_rel_sigma, ep->temp_init_sigma_degc, ep->heat_noise_w,
                         ep->temp_noise_degc, ep->temp_spatial_sigma_degc};
    for (uint32_t i = 0u; i < 15u; i++) {
        if (sigma_ok(s[i]) == 0) {
            return BMS_CFG_E_ESTIMATOR;
        }
    }
    /* the measurement variances must not vanish (division by S) */
    if (!((ep->voltage_noise_v + ep->model_err_v) > 0.0f) || !(ep->temp_noise_degc > 0.0f)
        || !(ep->soc_init_sigma > 0.0f)) {
        return BMS_CFG_E_ESTIMATOR;
    }
    return BMS_CFG_OK;
}

static int32_t finite(float x)
{
    return bms_isfinitef(x);
}

static bms_cfg_err_t check_limits(const bms_limits_t *lim)
{
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        const bms_limit_t *l = &lim->q[q];
        const bms_tier_t *t[3] = {&l->warning, &l->derate, &l->trip};
        for (uint32_t k = 0u; k < 3u; k++) {
            if ((finite(t[k]->threshold) == 0) || (finite(t[k]->hysteresis) == 0) || (t[k]->hysteresis < 0.0f)) {
                return BMS_CFG_E_LIMIT_VALUE;
            }
        }
        const int32_t ordered = (safety_is_max(q) != 0)
            ? ((l->warning.threshold < l->derate.threshold) && (l->derate.threshold < l->trip.threshold))
            : ((l->warning.threshold > l->derate.threshold) && (l->derate.threshold > l->trip.threshold));
        if (ordered == 0) {
            return BMS_CFG_E_LIMIT_ORDER;
        }
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_plaus(const bms_plaus_params_t *p)
{
    const float v[10] = {p->cell_v_min_v, p->cell_v_max_v, p->temp_min_degc, p->temp_max_degc,
                         p->ntc_open_below_degc, p->ntc_short_above_degc, p->open_wire_v, p->pack_sum_tol_v,
                         p->stuck_current_delta_a, p->current_offset_max_a};
    for (uint32_t i = 0u; i < 10u; i++) {
        if (finite(v[i]) == 0) {
            return BMS_CFG_E_PLAUS;
        }
    }
    if (!(p->cell_v_min_v < p->open_wire_v) || !(p->open_wire_v < p->cell_v_max_v)
        || !(p->ntc_open_below_degc < p->temp_min_degc) || !(p->temp_min_degc < p->temp_max_degc)
        || !(p->temp_max_degc < p->ntc_short_above_degc) || !(p->pack_sum_tol_v > 0.0f)
        || !(p->stuck_current_delta_a > 0.0f) || !(p->current_offset_max_a > 0.0f)) {
        return BMS_CFG_E_PLAUS;
    }
    const float w[6] = {p->ccl_excess_frac, p->ccl_excess_a, p->coolant_flow_min_lpm, p->cell_dev_max_v,
                        p->cell_dev_v_per_a, p->cell_dev_soc_spread};
    for (uint32_t i = 0u; i < 6u; i++) {
        if ((finite(w[i]) == 0) || (w[i] < 0.0f)) {
            return BMS_CFG_E_PLAUS;
        }
    }
    if (!(p->cell_dev_max_v > 0.0f) || (p->ccl_excess_fast_ms > p->ccl_excess_debounce_ms)) {
        return BMS_CFG_E_PLAUS;
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_contactor(const bms_contactor_params_t *c)
{
    if (!(c->precharge_ratio > 0.0f) || !(c->precharge_ratio <= 1.0f) || (c->precharge_timeout_ms == 0u)
        || !(c->break_current_a >= 0.0f) || (finite(c->break_current_a) == 0) || (c->opening_timeout_ms == 0u)
        || ((c->emergency_mask >> (uint32_t)BMS_N_FAULTS) != 0u)) {
        return BMS_CFG_E_CONTACTOR;
    }
    return BMS_CFG_OK;
}

static int32_t map_ok(const float t[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC], uint32_t nt, uint32_t ns)
{
    for (uint32_t i = 0u; i < nt; i++) {
        for (uint32_t j = 0u; j < ns; j++) {
            if ((finite(t[i][j]) == 0) || (t[i][j] < 0.0f)) {
                return 0;
            }
        }
    }
    return 1;
}

static bms_cfg_err_t check_charge(const bms_charge_params_t *c, const bms_limits_t *lim)
{
    if ((c->n_soc < 2u) || (c->n_soc > BMS_MAX_MAP_SOC) || (c->n_temp < 1u) || (c->n_temp > BMS_MAX_MAP_TEMP)
        || (strictly_increasing(c->soc_bp, c->n_soc) == 0) || (c->soc_bp[0] < 0.0f)
        || (c->soc_bp[c->n_soc - 1u] > 1.0f) || (strictly_increasing(c->temp_bp_degc, c->n_temp) == 0)) {
        return BMS_CFG_E_MAP_SHAPE;
    }
    if ((map_ok(c->charge_c, c->n_temp, c->n_soc) == 0) || (map_ok(c->plating_c, c->n_temp, c->n_soc) == 0)
        || (map_ok(c->discharge_c, c->n_temp, c->n_soc) == 0)) {
        return BMS_CFG_E_MAP_VALUE;
    }
    const float v[12] = {c->cell_v_charge_max_v, c->cell_v_discharge_min_v, c->hw_charge_max_a,
                         c->hw_discharge_max_a, c->ramp_up_a_per_s, c->charge_target_soc, c->charge_resume_soc,
                         c->charge_detect_a, c->heater_on_below_degc, c->heater_off_above_degc,
                         c->cooling_on_above_degc, c->cooling_off_below_degc};
    for (uint32_t i = 0u; i < 12u; i++) {
        if (finite(v[i]) == 0) {
            return BMS_CFG_E_CHARGE;
        }
    }
    if (!(c->cell_v_charge_max_v < lim->q[BMS_Q_CELL_V_MAX].warning.threshold)
        || !(c->cell_v_discharge_min_v > lim->q[BMS_Q_CELL_V_MIN].warning.threshold)
        || !(c->cell_v_discharge_min_v < c->cell_v_charge_max_v) || !(c->hw_charge_max_a > 0.0f)
        || !(c->hw_discharge_max_a > 0.0f) || !(c->ramp_up_a_per_s > 0.0f) || !(c->charge_resume_soc > 0.0f)
        || !(c->charge_resume_soc < c->charge_target_soc) || !(c->charge_target_soc <= 1.0f)
        || !(c->charge_detect_a >= 0.0f) || !(c->heater_off_above_degc > c->heater_on_below_degc)
        || !(c->cooling_on_above_degc > c->cooling_off_below_degc)) {
        return BMS_CFG_E_CHARGE;
    }
    return BMS_CFG_OK;
}

/* the stored SoC is 16-bit fixed point: every code is a SoC in [0, 1] */
static bms_cfg_err_t check_nvm(const bms_nvm_t *n)
{
    if (n->valid == 0u) {
        return BMS_CFG_OK;
    }
    if ((n->valid != 1u) || (bms_isfinitef(n->soc_sigma) == 0) || !(n->soc_sigma > 0.0f)) {
        return BMS_CFG_E_NVM;
    }
    return BMS_CFG_OK;
}

bms_cfg_err_t bms_config_check(const bms_config_t *cfg)
{
    bms_cfg_err_t e = check_pack(&cfg->pack);
    if (e == BMS_CFG_OK) {
        e = check_cell(&cfg->cell);
    }
    if (e == BMS_CFG_OK) {
        e = check_thermal(&cfg->thermal);
    }
    if (e == BMS_CFG_OK) {
        e = check_estimator(&cfg->est);
    }
    if (e == BMS_CFG_OK) {
        e = check_limits(&cfg->limits);
    }
    if (e == BMS_CFG_OK) {
        e = check_plaus(&cfg->plaus);
    }
    if (e == BMS_CFG_OK) {
        e = check_contactor(&cfg->contactor);
    }
    if (e == BMS_CFG_OK) {
        e = check_charge(&cfg->charge, &cfg->limits);
    }
    if (e == BMS_CFG_OK) {
        e = check_nvm(&cfg->nvm);
    }
    return e;
}
