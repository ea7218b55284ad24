/* One firmware step: measurements -> plausibility -> estimators -> safety ->
 * contactors -> current limits -> outputs. */
#include "bms/bms.h"
#include "bms/bms_math.h"
#include "bms/cell_model.h"

#include <math.h> /* NAN only: no libm calls */

int32_t bms_init(bms_t *inst, const bms_config_t *cfg)
{
    if ((inst == 0) || (cfg == 0)) {
        return BMS_E_ARG;
    }
    inst->configured = 0u;
    if (bms_config_check(cfg) != BMS_CFG_OK) {
        return BMS_E_CONFIG;
    }
    if (cfg != &inst->cfg) { /* the instance's own configuration: nothing to copy */
        inst->cfg = *cfg;
    }
    bms_thermal_model_init(&inst->thermal_model, &inst->cfg);
    inst->configured = 1u;
    bms_reset(inst);
    return BMS_OK;
}

float bms_cell_soc(const bms_t *inst, uint32_t cell)
{
    return (cell < inst->cfg.pack.n_cells) ? inst->ekf[cell].soc : NAN;
}

float bms_cell_core_temp_degc(const bms_t *inst, uint32_t cell)
{
    return (cell < inst->cfg.pack.n_cells) ? inst->thermal[cell].t_core_degc : NAN;
}

void bms_reset(bms_t *inst)
{
    inst->initialised = 0u;
    inst->time_ms = 0u;
    inst->ambient_degc = 0.0f;
    inst->thermal_disc.dt_ms = 0u; /* force recomputation */
    for (uint32_t i = 0u; i < BMS_MAX_CELLS; i++) {
        inst->ekf[i].soc = 0.0f;
        inst->ekf[i].v_rc1_v = 0.0f;
        inst->ekf[i].v_rc2_v = 0.0f;
        inst->ekf[i].nis_mean = 1.0f;
        for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(inst->ekf[i].p); k++) {
            inst->ekf[i].p[k] = 0.0f;
        }
        inst->thermal[i].t_core_degc = 0.0f;
        inst->thermal[i].t_surf_degc = 0.0f;
        inst->thermal[i].p[0] = 0.0f;
        inst->thermal[i].p[1] = 0.0f;
        inst->thermal[i].p[2] = 0.0f;
    }
    bms_plaus_reset(&inst->plaus);
    bms_chgmon_reset(&inst->chgmon);
    bms_safety_reset(&inst->safety);
    bms_contactor_reset(&inst->contactor);
    bms_limit_reset(&inst->limit);
    bms_soh_reset(&inst->soh, &inst->cfg);
    bms_bal_reset(&inst->bal);
    bms_hyst_init(&inst->hyst);
}

/* A reading that is a voltage at all (limits judge it even if it may be frozen:
 * it was real when it froze) ... */
static int32_t cell_ok(const bms_t *inst, uint32_t i)
{
    return ((inst->plaus_res.cell_flags[i] & (BMS_PLAUS_CELL_INVALID | BMS_PLAUS_CELL_OPEN_WIRE)) == 0u) ? 1 : 0;
}

/* ... and one the estimator may learn from. */
static int32_t cell_fresh(const bms_t *inst, uint32_t i)
{
    return (inst->plaus_res.cell_flags[i] == 0u) ? 1 : 0;
}

static int32_t sensor_ok(const bms_t *inst, uint32_t j)
{
    return ((j < (uint32_t)BMS_MAX_TEMP_SENSORS) && (inst->plaus_res.temp_flags[j] == 0u)) ? 1 : 0;
}

/* Temperature reading for cell i from its own or its neighbours' sensors;
 * *own says which. Returns 0 if none of them is usable. */
static int32_t sensed_temp(const bms_t *inst, const bms_meas_t *meas, uint32_t i, float *t, int32_t *own)
{
    const bms_thermal_model_t *m = &inst->thermal_model;
    *own = 0;
    if (sensor_ok(inst, m->own_sensor[i]) != 0) {
        *t = meas->temp_degc[m->own_sensor[i]];
        *own = 1;
        return 1;
    }
    const int32_t ok_lo = sensor_ok(inst, m->nb_lo[i]);
    const int32_t ok_hi = sensor_ok(inst, m->nb_hi[i]);
    if ((ok_lo != 0) && (ok_hi != 0)) {
        const float tlo = meas->temp_degc[m->nb_lo[i]];
        *t = tlo + bms_thermal_nb_weight(m, &inst->cfg, i) * (meas->temp_degc[m->nb_hi[i]] - tlo);
        return 1;
    }
    if (ok_lo != 0) {
        *t = meas->temp_degc[m->nb_lo[i]];
        return 1;
    }
    if (ok_hi != 0) {
        *t = meas->temp_degc[m->nb_hi[i]];
        return 1;
    }
    return 0;
}

/* dOCV/dSoC at the cells' mean SoC and core temperature estimates (0 before the
 * estimators run): how much voltage a healthy SoC imbalance is worth now. */
static float ocv_slope_at_mean(const bms_t *inst)
{
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    if ((inst->initialised == 0u) || (nc == 0u)) {
        return 0.0f;
    }
    float s = 0.0f;
    float tc = 0.0f;
    for (uint32_t i = 0u; i < nc; i++) {
        s += inst->ekf[i].soc;
        tc += inst->thermal[i].t_core_degc;
    }
    s /= (float)nc;
    tc /= (float)nc;
    const float lo = bms_clampf(s - 0.02f, 0.0f, 1.0f);
    const float hi = bms_clampf(s + 0.02f, 0.0f, 1.0f);
    if (!(hi > lo)) {
        return 0.0f;
    }
    return (bms_cell_ocv(&cfg->cell, hi, tc) - bms_cell_ocv(&cfg->cell, lo, tc)) / (hi - lo);
}

/* The hysteresis voltage a cell at temp_degc carries now and its variance (hysteresis.h). */
static bms_ekf_hyst_in_t hyst_in(const bms_t *inst, float temp_degc)
{
    bms_ekf_hyst_in_t hy;
    hy.v = bms_hyst_v(&inst->hyst, &inst->cfg.cell, temp_degc, &hy.var_v2);
    return hy;
}

/* Seed the estimators from one sample. Returns 1 when done. */
static int32_t seed_estimators(bms_t *inst, const bms_meas_t *meas)
{
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    if (inst->plaus_res.current_valid == 0u) {
        return 0;
    }
    float t_sum = 0.0f;
    uint32_t t_n = 0u;
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        if (sensor_ok(inst, j) != 0) {
            t_sum += meas->temp_degc[j];
            t_n++;
        }
    }
    float t_fallback;
    if ((bms_isfinitef(meas->ambient_degc) != 0) && (meas->ambient_degc > cfg->plaus.temp_min_degc)
        && (meas->ambient_degc < cfg->plaus.temp_max_degc)) {
        t_fallback = meas->ambient_degc;
    } else if (t_n > 0u) {
        t_fallback = t_sum / (float)t_n;
    } else {
        return 0;
    }
    float v_sum = 0.0f;
    uint32_t v_n = 0u;
    for (uint32_t i = 0u; i < nc; i++) {
        if (cell_ok(inst, i) != 0) {
            v_sum += meas->cell_v[i];
            v_n++;
        }
    }
    if (v_n == 0u) {
        return 0;
    }
    const float v_mean = v_sum / (float)v_n;
    inst->ambient_degc = t_fallback;
    for (uint32_t i = 0u; i < nc; i++) {
        float t = t_fallback;
        int32_t own;
        (void)sensed_temp(inst, meas, i, &t, &own);
        bms_thermal_cell_init(&inst->thermal[i], t, &cfg->est);
        const float v = (cell_ok(inst, i) != 0) ? meas->cell_v[i] : v_mean;
        const bms_ekf_hyst_in_t hy = hyst_in(inst, t);
        bms_ekf_init(&inst->ekf[i], &cfg->cell, &cfg->est, bms_soh_r_scale(&inst->soh, i), v, meas->pack_current_a,
                     t, &hy);
        if (cfg->nvm.valid != 0u) {
            bms_ekf_fuse_prior(&inst->ekf[i], &cfg->cell, &cfg->est, t, (float)cfg->nvm.soc_q16[i] / 65535.0f, cfg->nvm.soc_sigma,
                               &hy);
        }
    }
    return 1;
}

/* Surface-temperature correction. A sensed cell uses its own thermistor; a cell
 * without one uses its neighbours' readings interpolated by position, as a
 * measurement of its own surface with the added spatial uncertainty. */
static void thermal_correct(bms_t *inst, const bms_meas_t *meas)
{
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    const float r = cfg->est.temp_noise_degc * cfg->est.temp_noise_degc;
    const float r_nb = r + cfg->est.temp_spatial_sigma_degc * cfg->est.temp_spatial_sigma_degc;
    for (uint32_t i = 0u; i < nc; i++) {
        float t = 0.0f;
        int32_t own;
        if (sensed_temp(inst, meas, i, &t, &own) != 0) {
            bms_thermal_cell_update(&inst->thermal[i], t - inst->thermal[i].t_surf_degc, (own != 0) ? r : r_nb);
        }
    }
}

/* A cell's SoC from its relaxed voltage (the model's remaining polarisation and the rest
 * current's drop added back) and that SoC's variance (model error and noise over the OCV's
 * slope there); -1 for a reading the estimator may not learn from. */
static float relaxed_soc(const bms_t *inst, const bms_meas_t *meas, uint32_t i, float *var)
{
    const bms_config_t *cfg = &inst->cfg;
    const bms_ekf_cell_t *e = &inst->ekf[i];
    const float t = inst->thermal[i].t_core_degc;
    *var = 1.0f;
    if (cell_fresh(inst, i) == 0) {
        return -1.0f;
    }
    const float r0 = bms_cell_table(&cfg->cell, cfg->cell.r0_ohm, e->soc, t) * bms_soh_r_scale(&inst->soh, i);
    const bms_ekf_hyst_in_t hy = hyst_in(inst, t);
    const float ocv = (meas->cell_v[i] + e->v_rc1_v + e->v_rc2_v + (r0 * meas->pack_current_a)) - hy.v;
    const float soc = bms_cell_soc_from_ocv(&cfg->cell, ocv, t);
    const float slope = bms_cell_ocv_slope(&cfg->cell, soc, t);
    const float err_v = cfg->est.model_err_v + cfg->est.voltage_noise_v;
    *var = (slope > 1.0e-4f) ? (((err_v * err_v) + hy.var_v2) / (slope * slope)) : 1.0f;
    return soc;
}

/* An informative point (the pack has rested): close the interval since the last one with
 * each cell's capacity update and open the next (soh.h). */
static void soh_point(bms_t *inst, const bms_meas_t *meas)
{
    const uint32_t nc = inst->cfg.pack.n_cells;
    float var;
    bms_soh_point_begin(&inst->soh, &inst->cfg);
    for (uint32_t i = 0u; i < nc; i++) {
        if (relaxed_soc(inst, meas, i, &var) >= 0.0f) {
            bms_soh_point_var(&inst->soh, var);
        }
    }
    for (uint32_t i = 0u; i < nc; i++) {
        bms_soh_point_cell(&inst->soh, &inst->cfg, i, relaxed_soc(inst, meas, i, &var));
    }
    bms_soh_point_end(&inst->soh, &inst->cfg);
}

/* Run the estimators over all cells and fold each cell's limit terms. Returns the first
 * cell whose SoC filter reported a divergence this step, or -1. */
static int32_t run_estimators(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out,
                              bms_limit_acc_t *acc)
{
    int32_t diverged = -1;
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    const float dt_s = (float)dt_ms * 0.001f;
    const float i_a = meas->pack_current_a;
    bms_thermal_disc_update(&inst->thermal_disc, &inst->thermal_model, dt_ms);
    const int32_t r_step = bms_soh_r_begin(&inst->soh, cfg, i_a, 1, dt_s);
    /* the capacities' relative uncertainty (the pack's: soh.h); 0 while they are held */
    const float cap_rel_sigma = (bms_soh_enabled(cfg) != 0) ? bms_sqrtf(inst->soh.theta_var) : 0.0f;
    /* the hysteresis moves with the charge of this interval (a current beyond three sigmas of
     * the sensor's noise and offset is one) */
    bms_hyst_step(&inst->hyst, &cfg->cell, i_a, dt_s, 3.0f * cfg->est.current_noise_a);
    for (uint32_t i = 0u; i < nc; i++) {
        const float v = meas->cell_v[i];
        const int32_t v_ok = cell_fresh(inst, i);
        bms_thermal_cell_t *th = &inst->thermal[i];
        bms_ekf_step_out_t so;
        /* a cell whose switch bled over the interval carried its bleed current too */
        const float bleed_a = bms_bal_bleed_a(&inst->bal, cfg, i, v);
        const float i_cell_a = i_a + bleed_a;
        const bms_ekf_hyst_in_t hy = hyst_in(inst, th->t_core_degc);
        bms_ekf_step(&inst->ekf[i], &cfg->cell, &cfg->est, bms_soh_cap_scale(&inst->soh, i), cap_rel_sigma,
                     bms_soh_r_scale(&inst->soh, i), i_cell_a, dt_s, v, v_ok, th->t_core_degc, &hy, &so);
        if ((so.diverged != 0u) && (diverged < 0)) {
            diverged = (int32_t)i;
        }
        if ((r_step != 0) && (v_ok != 0)) {
            bms_soh_r_cell(&inst->soh, i, so.innov_v, so.r0_model_ohm);
        }
        if (out->cells.v_pred_v != 0) {
            out->cells.v_pred_v[i] = so.v_pred_v;
        }
        /* ... and its bleed resistor's heat, counted into the cell as the plant's bound puts it
         * (the board sits on the module: a core estimate that errs warm) */
        const float heat = bms_thermal_heat_w(i_a, so.ocv_v, (v_ok != 0) ? v : so.v_pred_v, so.docv_dt_v_per_k,
                                              th->t_core_degc) +
                           (bleed_a * bleed_a * cfg->bal.bleed_ohm);
        bms_thermal_cell_predict(th, &inst->thermal_disc, &cfg->thermal, &cfg->est, heat, inst->ambient_degc,
                                 dt_s);
        bms_limit_cell_t lc;
        lc.soc = inst->ekf[i].soc;
        lc.core_temp_degc = th->t_core_degc;
        lc.ocv_v = so.ocv_v + hy.v; /* the branch the cell is on */
        lc.v_rc_v = so.v_rc_next_v;
        lc.r_step_ohm = so.r_step_ohm;
        bms_limit_acc_headroom(acc, cfg, &lc);
    }
    bms_soh_r_end(&inst->soh, cfg);
    thermal_correct(inst, meas);
    if (bms_soh_charge(&inst->soh, cfg, i_a, 1, dt_s) != 0) {
        soh_point(inst, meas);
    }
    /* the maps at the estimates this step reports */
    for (uint32_t i = 0u; i < nc; i++) {
        bms_limit_acc_maps(acc, cfg, inst->ekf[i].soc, inst->thermal[i].t_core_degc);
    }
    return diverged;
}

/* Bounds of a sane estimator state. Below absolute zero or above 1500 degC (every material
 * of a cell has melted: aluminium 660, copper 1085 degC) a temperature estimate has
 * diverged; a polarisation beyond 10 V is no cell's (cell voltages are < 6 V). */
#define STATE_T_MIN_DEGC (-273.15f)
#define STATE_T_MAX_DEGC 1500.0f
#define STATE_V_RC_MAX_V 10.0f

static int32_t within(float x, float lo, float hi)
{
    return ((x >= lo) && (x <= hi)) ? 1 : 0; /* NaN: 0 */
}

/* 1 if cell i's estimator state is finite and physically possible; *bad is the first
 * offending value otherwise. */
static int32_t cell_state_ok(const bms_t *inst, uint32_t i, float *bad)
{
    const bms_ekf_cell_t *e = &inst->ekf[i];
    const bms_thermal_cell_t *t = &inst->thermal[i];
    const float v[] = {e->soc, e->v_rc1_v, e->v_rc2_v, t->t_core_degc, t->t_surf_degc, e->p[0], t->p[0], t->p[2]};
    const float lo[BMS_ARRAY_LEN(v)] = {0.0f, -STATE_V_RC_MAX_V, -STATE_V_RC_MAX_V, STATE_T_MIN_DEGC, STATE_T_MIN_DEGC,
                         0.0f, 0.0f, 0.0f};
    const float hi[BMS_ARRAY_LEN(v)] = {1.0f, STATE_V_RC_MAX_V, STATE_V_RC_MAX_V, STATE_T_MAX_DEGC, STATE_T_MAX_DEGC,
                         1.0e30f, 1.0e30f, 1.0e30f};
    for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(v); k++) {
        if (within(v[k], lo[k], hi[k]) == 0) {
            *bad = v[k];
            return 0;
        }
    }
    for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(e->p); k++) {
        if (bms_isfinitef(e->p[k]) == 0) {
            *bad = e->p[k];
            return 0;
        }
    }
    if ((bms_isfinitef(t->p[1]) == 0) || !(e->p[3] >= 0.0f) || !(e->p[5] >= 0.0f)) {
        *bad = t->p[1];
        return 0;
    }
    return 1;
}

/* The internal fault: a non-finite or impossible value in the estimators' state or in the
 * limit terms computed from it. No debounce: from this step on nothing the firmware
 * derives from its state can be trusted, so the CCL and DCL are 0 (BMS_LIM_FAULT) and the
 * contactors open as for any latched fault. The condition stays present while the state
 * is bad, so a fault reset cannot clear it; a power-on reset (bms_reset) re-seeds. */
static void feed_estimator_fault(bms_t *inst, int32_t diverged_cell, const bms_limit_acc_t *acc, uint32_t dt_ms)
{
    int32_t present = 0;
    uint16_t cell = 0u;
    float value = 0.0f;
    if (inst->initialised != 0u) {
        if (diverged_cell >= 0) {
            present = 1;
            cell = (uint16_t)diverged_cell;
            value = inst->ekf[diverged_cell].soc;
        }
        for (uint32_t i = 0u; (i < inst->cfg.pack.n_cells) && (present == 0); i++) {
            float bad = 0.0f;
            if (cell_state_ok(inst, i, &bad) == 0) {
                present = 1;
                cell = (uint16_t)i;
                value = bad;
            }
        }
        const float terms[] = {acc->map_chg_a, acc->plating_a, acc->headroom_chg_a, acc->map_dis_a,
                                acc->headroom_dis_a, acc->r_step_max_ohm};
        for (uint32_t k = 0u; (k < (uint32_t)BMS_ARRAY_LEN(terms)) && (present == 0); k++) {
            if (bms_isfinitef(terms[k]) == 0) {
                present = 1;
                value = terms[k];
            }
        }
    }
    bms_safety_condition(&inst->safety, BMS_F_ESTIMATOR, present, cell, value, dt_ms, 0u, inst->time_ms);
}

static void fill_health(const bms_t *inst, bms_out_t *out)
{
    const bms_soh_t *h = &inst->soh;
    const bms_cell_outputs_t *co = &out->cells;
    float cmin = 1.0e30f;
    uint32_t cmin_i = 0u;
    float rmax = -1.0e30f;
    uint32_t rmax_i = 0u;
    for (uint32_t i = 0u; i < inst->cfg.pack.n_cells; i++) {
        const float cs = bms_soh_cap_scale(h, i);
        const float rs = bms_soh_r_scale(h, i);
        if (co->cap_scale != 0) {
            co->cap_scale[i] = cs;
        }
        if (co->r_scale != 0) {
            co->r_scale[i] = rs;
        }
        if (cs < cmin) {
            cmin = cs;
            cmin_i = i;
        }
        if (rs > rmax) {
            rmax = rs;
            rmax_i = i;
        }
    }
    out->cap_scale_min = cmin;
    out->cap_scale_min_cell = cmin_i;
    out->cap_sigma = bms_soh_cap_sigma(h, cmin_i);
    out->r_scale_max = rmax;
    out->r_scale_max_cell = rmax_i;
    out->r_sigma = bms_soh_r_sigma(h);
    const uint32_t nc = (h->cap_updates < 0xFFFFu) ? h->cap_updates : 0xFFFFu;
    const uint32_t nr = (h->r_updates < 0xFFFFu) ? h->r_updates : 0xFFFFu;
    out->soh_updates = (nc << 16u) | nr;
}

static void fill_estimates(const bms_t *inst, bms_out_t *out)
{
    const uint32_t nc = inst->cfg.pack.n_cells;
    float smin = 1.0f;
    float smax = 0.0f;
    float ssum = 0.0f;
    float tmax = -1.0e30f;
    uint32_t tmax_i = 0u;
    float tmin = INFINITY;
    uint32_t tmin_i = 0u;
    const bms_cell_outputs_t *co = &out->cells;
    for (uint32_t i = 0u; i < nc; i++) {
        const float s = inst->ekf[i].soc;
        const float tc = inst->thermal[i].t_core_degc;
        if (co->soc != 0) {
            co->soc[i] = s;
        }
        if (co->core_temp_degc != 0) {
            co->core_temp_degc[i] = tc;
        }
        if (co->surf_temp_degc != 0) {
            co->surf_temp_degc[i] = inst->thermal[i].t_surf_degc;
        }
        if ((bms_isfinitef(tc) != 0) && (tc < tmin)) {
            tmin = tc;
            tmin_i = i;
        }
        smin = (s < smin) ? s : smin;
        smax = (s > smax) ? s : smax;
        ssum += s;
        if (tc > tmax) {
            tmax = tc;
            tmax_i = i;
        }
    }
    out->soc_min = smin;
    out->soc_max = smax;
    out->soc_mean = ssum / (float)nc;
    /* display SoC (Plett): empty when the weakest cell is empty, full when
     * the strongest is full */
    const float den = smin + (1.0f - smax);
    out->soc_pack = (den > 1.0e-6f) ? bms_clampf(smin / den, 0.0f, 1.0f) : out->soc_mean;
    out->core_temp_max_degc = tmax;
    out->core_temp_max_cell = tmax_i;
    out->core_temp_min_degc = tmin;
    out->core_temp_min_cell = tmin_i;
    fill_health(inst, out);
    /* the innovation monitor: how many cells' voltage the model does not explain, and the
     * worst ratio (soc_ekf.h) */
    float nis_max = 0.0f;
    uint32_t n_mismatch = 0u;
    for (uint32_t i = 0u; i < nc; i++) {
        const float m = inst->ekf[i].nis_mean;
        nis_max = (m > nis_max) ? m : nis_max;
        n_mismatch += (m > inst->cfg.est.mismatch_nis) ? 1u : 0u;
    }
    out->model_nis_max = nis_max;
    out->model_mismatch_cells = n_mismatch;
    /* A cell whose estimate is not finite makes every pack figure built on it unknown. A BMS
     * sends "not available" for a value it cannot vouch for (the J1939 / AUTOSAR
     * convention of an invalid signal value), never a plausible stand-in: a NaN cell used to
     * drop out of the min/max and leave a made-up 0.5 pack SoC. NaN here; the CAN layer
     * sends an unknown SoC as 0 % and the BMS_F_ESTIMATOR fault says why. */
    for (uint32_t i = 0u; i < nc; i++) {
        if (bms_isfinitef(inst->ekf[i].soc) == 0) {
            out->soc_min = NAN;
            out->soc_max = NAN;
            out->soc_mean = NAN;
            out->soc_pack = NAN;
        }
        if ((bms_isfinitef(inst->thermal[i].t_core_degc) == 0) && (bms_isfinitef(out->core_temp_max_degc) != 0)) {
            out->core_temp_max_degc = NAN;
            out->core_temp_max_cell = i;
        }
    }
}

/* The monitored values of this step. */
static void monitored_values(const bms_t *inst, const bms_meas_t *meas, bms_out_t *out, int32_t charging,
                             float spread_allow_v, bms_safety_value_t *sv)
{
    const bms_config_t *cfg = &inst->cfg;
    float vmax = -1.0e30f;
    float vmin = 1.0e30f;
    uint32_t imax = 0u;
    uint32_t imin = 0u;
    uint32_t nv = 0u;
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        if (cell_ok(inst, i) != 0) {
            const float v = meas->cell_v[i];
            if (v > vmax) {
                vmax = v;
                imax = i;
            }
            if (v < vmin) {
                vmin = v;
                imin = i;
            }
            nv++;
        }
    }
    /* the spread only over live readings: a frozen one drifts away from the rest */
    float lmax = -1.0e30f;
    float lmin = 1.0e30f;
    uint32_t lmin_i = 0u;
    uint32_t nl = 0u;
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        if (cell_fresh(inst, i) != 0) {
            const float v = meas->cell_v[i];
            lmax = (v > lmax) ? v : lmax;
            if (v < lmin) {
                lmin = v;
                lmin_i = i;
            }
            nl++;
        }
    }
    float tmax = -1.0e30f;
    float tmin = 1.0e30f;
    uint32_t jmax = 0u;
    uint32_t jmin = 0u;
    uint32_t nt = 0u;
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        if (sensor_ok(inst, j) != 0) {
            const float t = meas->temp_degc[j];
            if (t > tmax) {
                tmax = t;
                jmax = j;
            }
            if (t < tmin) {
                tmin = t;
                jmin = j;
            }
            nt++;
        }
    }
    const uint8_t have_v = (uint8_t)((nv > 0u) ? 1u : 0u);
    const uint8_t have_t = (uint8_t)((nt > 0u) ? 1u : 0u);
    const uint8_t have_i = inst->plaus_res.current_valid;
    const uint8_t est = (uint8_t)inst->initialised;
    const uint8_t chg = (uint8_t)((charging != 0) ? 1u : 0u);
    const uint8_t dis = (uint8_t)((charging != 0) ? 0u : 1u);
    const uint16_t cmax = (uint16_t)out->core_temp_max_cell;
    const uint16_t smax = (uint16_t)((have_t != 0u) ? cfg->pack.temp_sensor_cell[jmax] : 0u);
    const uint16_t smin = (uint16_t)((have_t != 0u) ? cfg->pack.temp_sensor_cell[jmin] : 0u);
    const float i_a = meas->pack_current_a;

    sv[BMS_Q_CELL_V_MAX] = (bms_safety_value_t){vmax, (uint16_t)imax, have_v};
    sv[BMS_Q_CELL_V_MIN] = (bms_safety_value_t){vmin, (uint16_t)imin, have_v};
    sv[BMS_Q_CORE_T_MAX_CHG] = (bms_safety_value_t){out->core_temp_max_degc, cmax, (uint8_t)(est & chg)};
    sv[BMS_Q_CORE_T_MAX_DIS] = (bms_safety_value_t){out->core_temp_max_degc, cmax, (uint8_t)(est & dis)};
    sv[BMS_Q_SURF_T_MAX_CHG] = (bms_safety_value_t){tmax, smax, (uint8_t)(have_t & chg)};
    sv[BMS_Q_SURF_T_MAX_DIS] = (bms_safety_value_t){tmax, smax, (uint8_t)(have_t & dis)};
    sv[BMS_Q_T_MIN_CHG] = (bms_safety_value_t){tmin, smin, (uint8_t)(have_t & chg)};
    sv[BMS_Q_T_MIN_DIS] = (bms_safety_value_t){tmin, smin, (uint8_t)(have_t & dis)};
    sv[BMS_Q_I_CHG_MAX] = (bms_safety_value_t){-i_a, 0u, have_i};
    sv[BMS_Q_I_DIS_MAX] = (bms_safety_value_t){i_a, 0u, have_i};
    /* the spread beyond what a healthy SoC imbalance shows at this point of the OCV curve:
     * at 5 % SoC an NMC cell's OCV moves ~5 V per unit SoC, so a 5 % imbalance alone reads
     * as 0.25 V, which at mid SoC (< 1 V per unit) would mean a faulty cell or connection */
    const float excess_v = (lmax - lmin) - spread_allow_v;
    sv[BMS_Q_CELL_V_SPREAD] =
        (bms_safety_value_t){(excess_v > 0.0f) ? excess_v : 0.0f, (uint16_t)lmin_i, (uint8_t)((nl > 0u) ? 1u : 0u)};
    /* stack pressure: the lowest and highest usable module reading (the record names the module) */
    float pmin = INFINITY;
    float pmax = -INFINITY;
    uint32_t kmin = 0u;
    uint32_t kmax = 0u;
    for (uint32_t k = 0u; k < cfg->pack.n_pressure_sensors; k++) {
        if (inst->plaus_res.pressure_flags[k] == 0u) {
            const float x = meas->pressure_mpa[k];
            if (x < pmin) {
                pmin = x;
                kmin = k;
            }
            if (x > pmax) {
                pmax = x;
                kmax = k;
            }
        }
    }
    const uint8_t have_p = (uint8_t)((pmin <= pmax) ? 1u : 0u);
    sv[BMS_Q_P_MIN_CHG] = (bms_safety_value_t){pmin, (uint16_t)kmin, (uint8_t)(have_p & chg)};
    sv[BMS_Q_P_MIN_DIS] = (bms_safety_value_t){pmin, (uint16_t)kmin, (uint8_t)(have_p & dis)};
    sv[BMS_Q_P_MAX] = (bms_safety_value_t){pmax, (uint16_t)kmax, have_p};
    out->pressure_min_mpa = (have_p != 0u) ? pmin : NAN;
    out->pressure_max_mpa = (have_p != 0u) ? pmax : NAN;
    out->pressure_min_sensor = kmin;

    out->cell_v_max = (have_v != 0u) ? vmax : NAN;
    out->cell_v_min = (have_v != 0u) ? vmin : NAN;
    out->cell_v_max_cell = imax;
    out->cell_v_min_cell = imin;
    out->temp_max_degc = (have_t != 0u) ? tmax : out->core_temp_max_degc;
    out->temp_min_degc = (have_t != 0u) ? tmin : out->core_temp_max_degc;
}

static void feed_sensor_faults(bms_t *inst, uint32_t dt_ms)
{
    const bms_plaus_params_t *p = &inst->cfg.plaus;
    const bms_plaus_result_t *r = &inst->plaus_res;
    bms_safety_state_t *s = &inst->safety;
    const uint32_t now = inst->time_ms;
    const struct {
        uint32_t id;
        const bms_plaus_cond_t *c;
        uint32_t debounce_ms;
    } map[] = {
        {.id = BMS_F_VOLT_SENSOR, .c = &r->volt_sensor, .debounce_ms = p->sensor_debounce_ms},
        {.id = BMS_F_TEMP_SENSOR, .c = &r->temp_sensor, .debounce_ms = p->sensor_debounce_ms},
        {.id = BMS_F_CURRENT_SENSOR, .c = &r->current_sensor, .debounce_ms = p->sensor_debounce_ms},
        {.id = BMS_F_VOLT_STUCK, .c = &r->volt_stuck, .debounce_ms = p->stuck_debounce_ms},
        {.id = BMS_F_OPEN_WIRE, .c = &r->open_wire, .debounce_ms = p->open_wire_debounce_ms},
        {.id = BMS_F_NTC_OPEN, .c = &r->ntc_open, .debounce_ms = p->ntc_debounce_ms},
        {.id = BMS_F_NTC_SHORT, .c = &r->ntc_short, .debounce_ms = p->ntc_debounce_ms},
        {.id = BMS_F_CURRENT_OFFSET, .c = &r->current_offset, .debounce_ms = p->offset_debounce_ms},
        {.id = BMS_F_STALE, .c = &r->stale, .debounce_ms = p->stale_timeout_ms},
        {.id = BMS_F_COOLING, .c = &r->cooling, .debounce_ms = p->cooling_debounce_ms},
        {.id = BMS_F_CELL_DEVIATION, .c = &r->cell_dev, .debounce_ms = p->cell_dev_debounce_ms},
    };
    /* every plausibility fault (volt_sensor..stale) plus cooling and cell deviation */
    _Static_assert(BMS_ARRAY_LEN(map) == (BMS_F_STALE - BMS_F_VOLT_SENSOR + 1) + 2, "one row per sensor fault");
    for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(map); k++) {
        bms_safety_condition(s, map[k].id, (int32_t)map[k].c->present, map[k].c->index, map[k].c->value, dt_ms,
                             map[k].debounce_ms, now);
    }
    /* a pressure sensor: out of range or open (sensor_debounce_ms), else frozen (stuck_debounce_ms) */
    const bms_plaus_cond_t *pc = (r->pressure_sensor.present != 0u) ? &r->pressure_sensor : &r->pressure_stuck;
    bms_safety_condition(s, BMS_F_PRESSURE_SENSOR, (int32_t)pc->present, pc->index, pc->value, dt_ms,
                         (r->pressure_sensor.present != 0u) ? p->sensor_debounce_ms : p->stuck_debounce_ms, now);
}

/* A bus partner's message past its timeout: the timeout (the DBC's RxTimeoutTime, checked
 * by the CAN layer) is the debounce, so the fault trips in the step that reports it. The
 * record's cell is the lowest partner bit. */
static void feed_comm_fault(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms)
{
    const uint32_t lost = meas->comm_lost;
    uint16_t partner = 0u;
    for (uint16_t b = 0u; b < 32u; b++) {
        if (((lost >> b) & 1u) != 0u) {
            partner = b;
            break;
        }
    }
    bms_safety_condition(&inst->safety, BMS_F_COMM, (lost != 0u) ? 1 : 0, partner, (float)lost, dt_ms, 0u,
                         inst->time_ms);
}

/* Derate factors of the quantities that shape one direction's limit. */
static float derate_min(const bms_t *inst, const bms_safety_value_t *sv, const uint32_t *qs, uint32_t n,
                        uint32_t valid, uint32_t *src)
{
    float f = 1.0f;
    *src = (uint32_t)BMS_LIM_DERATE;
    for (uint32_t k = 0u; k < n; k++) {
        const uint32_t q = qs[k];
        if (((valid >> q) & 1u) != 0u) {
            const float fq = bms_safety_derate_factor(&inst->cfg.limits.q[q], q, sv[q].value);
            if (fq < f) {
                f = fq;
                if ((q == (uint32_t)BMS_Q_T_MIN_CHG) || (q == (uint32_t)BMS_Q_T_MIN_DIS)) {
                    *src = (uint32_t)BMS_LIM_COLD;
                } else if ((q == (uint32_t)BMS_Q_CELL_V_MAX) || (q == (uint32_t)BMS_Q_CELL_V_MIN)
                           || (q == (uint32_t)BMS_Q_CELL_V_SPREAD)) {
                    *src = (uint32_t)BMS_LIM_DERATE;
                } else if ((q == (uint32_t)BMS_Q_P_MIN_DIS) || (q == (uint32_t)BMS_Q_P_MAX)) {
                    *src = (uint32_t)BMS_LIM_PRESSURE;
                } else {
                    *src = (uint32_t)BMS_LIM_TEMPERATURE;
                }
            }
        }
    }
    return f;
}

/* One step's shared scratch between the stages of bms_step. */
typedef struct {
    uint32_t status;     /* BMS_ST_* bits */
    int32_t dt_ok;       /* dt_ms within (0, BMS_MAX_DT_MS] */
    uint32_t dt_safe;    /* dt_ms, or 0 when it is not valid */
    int32_t cur_ok;      /* the current reading is usable */
    float ocv_slope_v;   /* dOCV/dSoC at the mean estimates (plausibility input) */
    uint32_t have_data;  /* the estimators ran on a new sample */
    int32_t diverged_cell;
} step_ctx_t;

/* ---- plausibility: the readings' flags, the status bits they set, the ambient ---- */
static void stage_plausibility(bms_t *inst, const bms_meas_t *meas, step_ctx_t *c)
{
    const bms_config_t *cfg = &inst->cfg;
    bms_plaus_input_t pin;
    pin.pack_current_a = meas->pack_current_a;
    pin.pack_v = meas->pack_v;
    pin.sample_time_ms = meas->sample_time_ms;
    pin.dt_ms = c->dt_safe;
    pin.contactors_open = (inst->contactor.state == BMS_CONTACTOR_OPEN) ? 1u : 0u;
    pin.coolant_flow_lpm = meas->coolant_flow_lpm;
    pin.cooling_latched = (inst->safety.latched >> (uint32_t)BMS_F_COOLING) & 1u;
    pin.ocv_slope_v = ocv_slope_at_mean(inst);
    pin.pressure_mpa = meas->pressure_mpa;
    c->ocv_slope_v = pin.ocv_slope_v;
    bms_plaus_check(&inst->plaus, cfg, &pin, meas->cell_v, meas->temp_degc, &inst->plaus_res);
    const bms_plaus_result_t *pr = &inst->plaus_res;
    c->cur_ok = (int32_t)pr->current_valid;
    if (c->cur_ok == 0) {
        c->status |= BMS_ST_CURRENT_INVALID;
    }
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        if (pr->cell_flags[i] != 0u) {
            c->status |= BMS_ST_VOLTAGE_INVALID;
        }
    }
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        if (pr->temp_flags[j] != 0u) {
            c->status |= BMS_ST_TEMP_INVALID;
        }
    }
    if ((bms_isfinitef(meas->ambient_degc) != 0) && (meas->ambient_degc > cfg->plaus.temp_min_degc)
        && (meas->ambient_degc < cfg->plaus.temp_max_degc)) {
        inst->ambient_degc = meas->ambient_degc;
    } else {
        c->status |= BMS_ST_AMBIENT_ESTIMATED;
    }
}

/* ---- estimators (and each cell's limit terms) ---- */
static void stage_estimators(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out, bms_limit_acc_t *acc,
                             step_ctx_t *c)
{
    const bms_config_t *cfg = &inst->cfg;
    bms_limit_acc_init(acc);
    if (inst->initialised == 0u) {
        if (seed_estimators(inst, meas) != 0) {
            inst->initialised = 1u;
            for (uint32_t i = 0u; (i < cfg->pack.n_cells) && (out->cells.v_pred_v != 0); i++) {
                const float tc = inst->thermal[i].t_core_degc;
                out->cells.v_pred_v[i] = bms_ekf_terminal_v(&inst->ekf[i], &cfg->cell, bms_soh_r_scale(&inst->soh, i),
                                                            meas->pack_current_a, tc, hyst_in(inst, tc).v);
            }
        }
    } else if ((c->dt_ok != 0) && (c->cur_ok != 0) && (inst->plaus_res.fresh != 0u)) {
        c->diverged_cell = run_estimators(inst, meas, dt_ms, out, acc);
        c->have_data = 1u;
    } else if (c->dt_ok != 0) {
        /* current unknown or no new sample: hold the state; the charge that passed meanwhile
         * is unknown to the state of health too */
        bms_soh_void(&inst->soh);
    } else {
        /* time not advancing: hold the state */
    }
    if (inst->initialised != 0u) {
        c->status |= BMS_ST_INITIALISED;
    }
    fill_estimates(inst, out);
    if (out->model_mismatch_cells != 0u) {
        c->status |= BMS_ST_MODEL_MISMATCH;
    }
}

/* ---- safety: limits, sensors, bus partners, the estimators, the charger ---- */
static void stage_safety(bms_t *inst, const bms_meas_t *meas, bms_out_t *out, const bms_limit_acc_t *acc,
                         step_ctx_t *c, bms_safety_value_t *sv)
{
    const bms_config_t *cfg = &inst->cfg;
    const int32_t charging =
        ((c->cur_ok != 0) && (meas->pack_current_a < -cfg->charge.charge_detect_a)) ? 1 : 0;
    if (charging != 0) {
        c->status |= BMS_ST_CHARGING;
    }
    /* a fast charge announced (a finite time, >= 0): the heater works to its window */
    if ((bms_isfinitef(meas->fast_charge_in_s) != 0) && (meas->fast_charge_in_s >= 0.0f)) {
        c->status |= BMS_ST_PRECONDITIONING;
    }
    const float slope = (bms_isfinitef(c->ocv_slope_v) != 0) ? c->ocv_slope_v : 0.0f;
    const float spread_allow_v = cfg->plaus.cell_dev_soc_spread * ((slope < 0.0f) ? -slope : slope);
    monitored_values(inst, meas, out, charging, spread_allow_v, sv);
    bms_safety_evaluate(&inst->safety, &cfg->limits, sv, c->dt_safe, inst->time_ms);
    feed_sensor_faults(inst, c->dt_safe);
    feed_comm_fault(inst, meas, c->dt_safe);
    feed_estimator_fault(inst, c->diverged_cell, acc, c->dt_safe);
    /* judged on new samples only: a stale current says nothing about the charger */
    const float i_chg = ((c->cur_ok != 0) && (inst->plaus_res.fresh != 0u)) ? -meas->pack_current_a : 0.0f;
    /* a runaway charger is judged with the highest resistance the cells may have (an aged cell
     * whose resistance is not yet learned lifts further than the model says: soh.h) */
    const float r_runaway_ohm = acc->r_step_max_ohm * bms_soh_r_upper_factor(&inst->soh, cfg);
    bms_chgmon_step(&inst->chgmon, &inst->safety, cfg, inst->limit.ccl_a, i_chg, r_runaway_ohm, c->dt_safe,
                    inst->time_ms);
}

/* ---- contactors: everything latched so far acts in this step (an emergency fault
 * confirmed now opens now); a precharge that timed out in this very step is a fault now ---- */
static void stage_contactors(bms_t *inst, const bms_meas_t *meas, const step_ctx_t *c)
{
    const uint32_t latched = inst->safety.latched;
    bms_contactor_step(&inst->contactor, &inst->cfg.contactor, c->dt_safe, meas->pack_v, meas->bus_v,
                       (c->cur_ok != 0) ? meas->pack_current_a : 0.0f, latched);
    bms_safety_condition(&inst->safety, BMS_F_PRECHARGE, (int32_t)inst->contactor.precharge_failed, 0u,
                         (bms_isfinitef(meas->bus_v) != 0) ? meas->bus_v : 0.0f, c->dt_safe, 0u, inst->time_ms);
}

/* ---- current limits ---- */
static void stage_limits(bms_t *inst, const bms_meas_t *meas, bms_out_t *out, const bms_limit_acc_t *acc,
                         const step_ctx_t *c, const bms_safety_value_t *sv)
{
    const bms_config_t *cfg = &inst->cfg;
    /* (the charge side's low pressure scales the CCD cap instead: lp.pressure_cut) */
    static const uint32_t q_chg[] = {BMS_Q_CELL_V_MAX, BMS_Q_CORE_T_MAX_CHG, BMS_Q_SURF_T_MAX_CHG,
                                     BMS_Q_T_MIN_CHG, BMS_Q_CELL_V_SPREAD, BMS_Q_P_MAX};
    static const uint32_t q_dis[] = {BMS_Q_CELL_V_MIN, BMS_Q_CORE_T_MAX_DIS, BMS_Q_SURF_T_MAX_DIS,
                                     BMS_Q_T_MIN_DIS, BMS_Q_CELL_V_SPREAD, BMS_Q_P_MIN_DIS};
    /* the charge-side derates apply whatever the present direction: evaluate
     * the temperature quantities of both modes on the same values (bit q: quantity q's
     * value counts for that direction's derate) */
    uint32_t valid = 0u;
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        valid |= (uint32_t)(sv[q].valid != 0u) << q;
    }
    const uint32_t both = (1u << (uint32_t)BMS_Q_CORE_T_MAX_CHG) | (1u << (uint32_t)BMS_Q_CORE_T_MAX_DIS);
    const uint32_t surf = (1u << (uint32_t)BMS_Q_SURF_T_MAX_CHG) | (1u << (uint32_t)BMS_Q_SURF_T_MAX_DIS);
    const uint32_t cold = (1u << (uint32_t)BMS_Q_T_MIN_CHG) | (1u << (uint32_t)BMS_Q_T_MIN_DIS);
    const uint32_t low_p = (1u << (uint32_t)BMS_Q_P_MIN_CHG) | (1u << (uint32_t)BMS_Q_P_MIN_DIS);
    uint32_t valid_lim = valid;
    const uint32_t pairs[] = {both, surf, cold, low_p};
    for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(pairs); k++) {
        if ((valid & pairs[k]) != 0u) {
            valid_lim |= pairs[k];
        }
    }
    bms_limit_pack_t lp;
    lp.capacity_ah = cfg->cell.capacity_ah;
    lp.soc_charge = out->soc_mean;
    lp.t_min_degc = out->temp_min_degc;
    lp.derate_chg = derate_min(inst, sv, q_chg, (uint32_t)BMS_ARRAY_LEN(q_chg), valid_lim, &lp.derate_chg_src);
    lp.derate_dis = derate_min(inst, sv, q_dis, (uint32_t)BMS_ARRAY_LEN(q_dis), valid_lim, &lp.derate_dis_src);
    /* the lithium the charge plates needs contact: the CCD cap falls with the lowest pressure
     * (whatever the present direction, as the temperature derates) */
    lp.pressure_cut = ((valid & low_p) != 0u) ? (1.0f - bms_safety_derate_factor(&cfg->limits.q[BMS_Q_P_MIN_CHG],
                                                                        (uint32_t)BMS_Q_P_MIN_CHG,
                                                                        sv[BMS_Q_P_MIN_CHG].value))
                                     : 0.0f;
    lp.charger_max_a = meas->charger_max_a;
    lp.fault_latched = inst->safety.latched;
    lp.contactors_closed = (inst->contactor.state == BMS_CONTACTOR_CLOSED) ? 1u : 0u;
    /* a reading the firmware cannot trust stops the current at once, before its
     * fault is confirmed: the limits cannot be known without it */
    lp.have_data = ((c->have_data != 0u) && (inst->plaus_res.any_unusable == 0u)) ? 1u : 0u;
    lp.cell_v_meas_max = out->cell_v_max;
    lp.cell_v_meas_min = out->cell_v_min;
    lp.current_a = (c->cur_ok != 0) ? meas->pack_current_a : 0.0f;
    lp.dt_ms = c->dt_safe;
    lp.precondition = ((c->status & BMS_ST_PRECONDITIONING) != 0u) ? 1u : 0u;
    bms_limit_update(&inst->limit, cfg, acc, &lp, out->core_temp_max_degc, &out->ccl_terms, &out->dcl_terms);
}

/* ---- balancing: after the safety stage (it stops on any latched fault), its switch test
 * a fault condition like the sensors' ---- */
static void stage_balancing(bms_t *inst, const bms_meas_t *meas, const bms_out_t *out, const step_ctx_t *c)
{
    bms_bal_input_t bi;
    bi.current_a = (c->cur_ok != 0) ? meas->pack_current_a : NAN;
    bi.temp_max_degc = out->temp_max_degc;
    bi.faults_latched = inst->safety.latched;
    bi.dt_ms = c->dt_safe;
    bi.fresh = inst->plaus_res.fresh;
    bi.estimates_ok = c->have_data;
    bi.cell_v = meas->cell_v;
    bi.cell_flags = inst->plaus_res.cell_flags;
    bi.ekf = inst->ekf;
    bi.soh = &inst->soh;
    uint32_t cell = 0u;
    const int32_t failed = bms_bal_step(&inst->bal, &inst->cfg, &bi, &cell);
    bms_safety_condition(&inst->safety, BMS_F_BALANCING, failed, (uint16_t)cell,
                         (failed != 0) ? meas->cell_v[cell] : 0.0f, c->dt_safe, inst->cfg.bal.switch_debounce_ms,
                         inst->time_ms);
}

/* a cell's resistance scale as the non-volatile memory handed it over at power-up, not below
 * the model's (1: none kept) */
static float r_kept(const bms_config_t *cfg, uint32_t i)
{
    const float r = (cfg->nvm.soh_valid != 0u) ? ((float)cfg->nvm.r_q[i] / BMS_SOH_R_ONE) : 1.0f;
    return (r > 1.0f) ? r : 1.0f;
}

/* ---- state of power (sop.h): one more pass over the cells, after the limits ---- */
static BMS_NOINLINE void stage_sop(const bms_t *inst, const bms_meas_t *meas, bms_out_t *out, const step_ctx_t *c)
{
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t zero[2] = {bms_sop_zeroed(inst->limit.ccl_limit), bms_sop_zeroed(inst->limit.dcl_limit)};
    const float cap[2] = {bms_sop_cap(&out->ccl_terms), bms_sop_cap(&out->dcl_terms)};
    bms_sop_acc_t acc;
    bms_sop_acc_init(&acc);
    if ((zero[0] == 0u) || (zero[1] == 0u)) {
        /* the resistance's upper bound (soh.h), not below what was known at power-up (sop.h) */
        const float r_sigma = (bms_soh_enabled(cfg) != 0) ? bms_soh_r_sigma(&inst->soh) : 0.0f; /* held: known */
        const uint32_t learning = ((cfg->nvm.soh_valid == 0u) && (bms_soh_enabled(cfg) != 0)) ? 1u : 0u;
        const float prior_up = 1.0f + (3.0f * cfg->est.soh_r_init_sigma);
        const float i_now = (c->cur_ok != 0) ? meas->pack_current_a : NAN;
        for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
            const bms_ekf_cell_t *e = &inst->ekf[i];
            const bms_sop_cell_in_t in = {e->soc, bms_sqrtf(e->p[0]), e->v_rc1_v, e->v_rc2_v, inst->thermal[i].t_core_degc,
                                          bms_sop_r_scale(bms_soh_r_scale(&inst->soh, i), r_sigma,
                                                          (learning != 0u) ? prior_up : r_kept(cfg, i)),
                                          bms_soh_cap_scale(&inst->soh, i),
                                          (cell_fresh(inst, i) != 0) ? meas->cell_v[i] : NAN, i_now,
                                          {cap[0], cap[1]}, hyst_in(inst, inst->thermal[i].t_core_degc).v};
            bms_sop_cell_fold(cfg, &in, &acc);
        }
    }
    bms_sop_finish(&acc, cap, zero, out->sop_chg_a, out->sop_dis_a, out->sop_chg_w, out->sop_dis_w);
}

/* ---- outputs ---- */
static void stage_outputs(const bms_t *inst, bms_out_t *out, const step_ctx_t *c)
{
    out->ccl_a = inst->limit.ccl_a;
    out->dcl_a = inst->limit.dcl_a;
    out->ccl_limit = inst->limit.ccl_limit;
    out->dcl_limit = inst->limit.dcl_limit;
    out->charge_complete = inst->limit.charge_complete;
    out->heater_request = inst->limit.heater_request;
    out->cooling_request = inst->limit.cooling_request;
    out->faults = inst->safety.latched;
    out->warnings = 0u;
    out->derates = 0u;
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        out->warnings |= (uint32_t)inst->safety.tier_active[q][BMS_SAFETY_WARNING] << q;
        out->derates |= (uint32_t)inst->safety.tier_active[q][BMS_SAFETY_DERATE] << q;
    }
    out->contactor_state = (uint32_t)inst->contactor.state;
    out->relays = bms_contactor_relays(inst->contactor.state);
    /* the counters in one word, each saturating (as soh_updates): breaks under load (contactor
     * wear: a contactor's rated breaks under load are few against its mechanical life) in bits
     * 31..16, refused requests in 15..8, illegal ones in 7..0 */
    const bms_contactor_t *ct = &inst->contactor;
    const uint32_t n_break = (ct->breaks_under_load < 0xFFFFu) ? ct->breaks_under_load : 0xFFFFu;
    const uint32_t n_refused = (ct->refused_cmds < 0xFFu) ? ct->refused_cmds : 0xFFu;
    const uint32_t n_illegal = (ct->illegal_cmds < 0xFFu) ? ct->illegal_cmds : 0xFFu;
    out->contactor_counts = (n_break << 16u) | (n_refused << 8u) | n_illegal;
    out->bal_test = (uint8_t)bms_bal_test_pending(&inst->bal);
    out->bal_cells = inst->bal.n_on;
    if (out->cells.bal_mask != 0) {
        for (uint32_t k = 0u; k < (uint32_t)BMS_BAL_MASK_BYTES; k++) {
            out->cells.bal_mask[k] = inst->bal.cmd[k];
        }
    }
    out->time_ms = inst->time_ms;
    out->status = c->status;
}

/* The stages up to the limits. Their scratch (the limit accumulator, the monitored values)
 * is gone before the state of power runs, whose call chain is the firmware's deepest: on one
 * frame with it, the two would add up on the stack (test_qemu's stack check). */
static BMS_NOINLINE void step_to_limits(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out,
                                        step_ctx_t *c)
{
    bms_limit_acc_t acc;
    bms_safety_value_t sv[BMS_N_QUANTITIES];
    stage_plausibility(inst, meas, c);
    stage_estimators(inst, meas, dt_ms, out, &acc, c);
    stage_safety(inst, meas, out, &acc, c, sv);
    stage_balancing(inst, meas, out, c);
    stage_contactors(inst, meas, c);
    if (inst->safety.latched != 0u) {
        /* whatever latched in this step (the balancing switch, a precharge timeout): no
         * switch closes for the coming interval */
        bms_bal_halt(&inst->bal);
    }
    stage_limits(inst, meas, out, &acc, c, sv);
}

int32_t bms_step(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out)
{
    if ((inst == 0) || (meas == 0) || (out == 0)) {
        return BMS_E_ARG;
    }
    if (inst->configured == 0u) {
        return BMS_E_NOT_INIT;
    }
    step_ctx_t c;
    c.status = 0u;
    c.dt_ok = ((dt_ms > 0u) && (dt_ms <= BMS_MAX_DT_MS)) ? 1 : 0;
    if (c.dt_ok != 0) {
        inst->time_ms += dt_ms;
    } else {
        c.status |= BMS_ST_DT_INVALID;
    }
    c.dt_safe = (c.dt_ok != 0) ? dt_ms : 0u;
    c.cur_ok = 0;
    c.ocv_slope_v = 0.0f;
    c.have_data = 0u;
    c.diverged_cell = -1;
    step_to_limits(inst, meas, dt_ms, out, &c);
    stage_sop(inst, meas, out, &c);
    stage_outputs(inst, out, &c);
    return BMS_OK;
}

int32_t bms_command(bms_t *inst, bms_command_t cmd)
{
    if (inst == 0) {
        return BMS_E_ARG;
    }
    if (inst->configured == 0u) {
        return BMS_E_NOT_INIT;
    }
    const int32_t rc = bms_contactor_command(&inst->contactor, cmd, inst->safety.latched);
    if ((cmd == BMS_CMD_FAULT_RESET) && (rc == BMS_CMD_R_ACCEPTED)) {
        /* the precharge failure is an event, gone once acknowledged */
        inst->safety.present &= ~(1u << (uint32_t)BMS_F_PRECHARGE);
        (void)bms_safety_reset_faults(&inst->safety);
    }
    return rc;
}

int32_t bms_step_batch(bms_t *inst, uint32_t n, const uint32_t *dt_ms,
                       const float *current_a, const float *cell_v, const float *temp_degc,
                       const float *ambient_degc, float *soc_out, float *core_temp_out,
                       float *v_pred_out, uint32_t *status_out)
{
    if ((inst == 0) || (dt_ms == 0) || (current_a == 0) || (cell_v == 0) || (soc_out == 0)
        || (core_temp_out == 0) || (v_pred_out == 0)) {
        return BMS_E_ARG;
    }
    if (inst->configured == 0u) {
        return BMS_E_NOT_INIT;
    }
    const uint32_t nc = inst->cfg.pack.n_cells;
    const uint32_t ns = inst->cfg.pack.n_temp_sensors;
    /* the batch carries no stack pressure: a pressed pack needs bms_step */
    if (((ns > 0u) && (temp_degc == 0)) || (inst->cfg.pack.n_pressure_sensors != 0u)) {
        return BMS_E_ARG;
    }
    bms_meas_t meas;
    bms_out_t out;
    meas.pack_v = NAN;
    out.cells.surf_temp_degc = 0;
    out.cells.cap_scale = 0;
    out.cells.r_scale = 0;
    out.cells.bal_mask = 0;
    meas.bus_v = NAN;
    meas.charger_max_a = NAN;
    meas.coolant_flow_lpm = NAN;
    meas.fast_charge_in_s = NAN;
    meas.sample_time_ms = inst->time_ms;
    meas.comm_lost = 0u;
    for (uint32_t k = 0u; k < n; k++) {
        meas.pack_current_a = current_a[k];
        for (uint32_t i = 0u; i < nc; i++) {
            meas.cell_v[i] = cell_v[(k * nc) + i];
        }
        for (uint32_t j = 0u; j < ns; j++) {
            meas.temp_degc[j] = temp_degc[(k * ns) + j];
        }
        meas.ambient_degc = (ambient_degc != 0) ? ambient_degc[k] : NAN;
        meas.sample_time_ms += dt_ms[k];
        out.cells.soc = &soc_out[k * nc];
        out.cells.core_temp_degc = &core_temp_out[k * nc];
        out.cells.v_pred_v = &v_pred_out[k * nc];
        /* a step that predicts nothing (no new sample) leaves the last prediction standing */
        for (uint32_t i = 0u; i < nc; i++) {
            v_pred_out[(k * nc) + i] = (k > 0u) ? v_pred_out[((k - 1u) * nc) + i] : NAN;
        }
        int32_t rc = bms_step(inst, &meas, dt_ms[k], &out);
        if (rc != BMS_OK) {
            return rc;
        }
        if (status_out != 0) {
            status_out[k] = out.status;
        }
    }
    return BMS_OK;
}
