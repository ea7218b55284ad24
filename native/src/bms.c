/* One firmware step: measurements -> validity -> estimators -> outputs. */
#include "bms/bms.h"
#include "bms/bms_math.h"
#include "bms/cell_model.h"

#include <math.h> /* NAN only: no libm calls */

/* Physical plausibility window for the estimators' inputs. Readings outside
 * are not used (the safety monitor judges them separately). */
#define EST_CELL_V_MIN 0.5f
#define EST_CELL_V_MAX 6.0f
#define EST_TEMP_MIN_DEGC (-60.0f)
#define EST_TEMP_MAX_DEGC 150.0f

static int32_t voltage_ok(float v)
{
    return ((bms_isfinitef(v) != 0) && (v >= EST_CELL_V_MIN) && (v <= EST_CELL_V_MAX)) ? 1 : 0;
}

static int32_t temp_ok(float t)
{
    return ((bms_isfinitef(t) != 0) && (t >= EST_TEMP_MIN_DEGC) && (t <= EST_TEMP_MAX_DEGC)) ? 1 : 0;
}

int32_t bms_init(bms_t *inst, const bms_config_t *cfg)
{
    if ((inst == 0) || (cfg == 0)) {
        return BMS_E_ARG;
    }
    inst->configured = 0u;
    if (bms_config_check(cfg) != BMS_CFG_OK) {
        return BMS_E_CONFIG;
    }
    inst->cfg = *cfg;
    thermal_model_init(&inst->thermal_model, &inst->cfg);
    inst->configured = 1u;
    bms_reset(inst);
    return BMS_OK;
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
        for (uint32_t k = 0u; k < 6u; k++) {
            inst->ekf[i].p[k] = 0.0f;
        }
        inst->thermal[i].t_core_degc = 0.0f;
        inst->thermal[i].t_surf_degc = 0.0f;
        inst->thermal[i].p[0] = 0.0f;
        inst->thermal[i].p[1] = 0.0f;
        inst->thermal[i].p[2] = 0.0f;
    }
}

/* Temperature reading for cell i from its own or its neighbours' sensors;
 * returns 0 if none of them is valid. */
static int32_t sensed_temp(const bms_t *inst, const bms_meas_t *meas, uint32_t i, float *t)
{
    const thermal_model_t *m = &inst->thermal_model;
    if ((m->own_sensor[i] >= 0) && (temp_ok(meas->temp_degc[m->own_sensor[i]]) != 0)) {
        *t = meas->temp_degc[m->own_sensor[i]];
        return 1;
    }
    if (m->nb_lo[i] < 0) {
        return 0;
    }
    const float tlo = meas->temp_degc[m->nb_lo[i]];
    const float thi = meas->temp_degc[m->nb_hi[i]];
    const int32_t ok_lo = temp_ok(tlo);
    const int32_t ok_hi = temp_ok(thi);
    if ((ok_lo != 0) && (ok_hi != 0)) {
        *t = tlo + m->nb_w_hi[i] * (thi - tlo);
        return 1;
    }
    if (ok_lo != 0) {
        *t = tlo;
        return 1;
    }
    if (ok_hi != 0) {
        *t = thi;
        return 1;
    }
    return 0;
}

/* Seed the estimators from one sample. Returns 1 when done. */
static int32_t seed_estimators(bms_t *inst, const bms_meas_t *meas)
{
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    const float cur_abs = (meas->pack_current_a < 0.0f) ? -meas->pack_current_a : meas->pack_current_a;
    if ((bms_isfinitef(meas->pack_current_a) == 0) || (cur_abs > cfg->pack.current_range_a)) {
        return 0;
    }
    /* temperatures: sensors, else measured ambient */
    float t_sum = 0.0f;
    uint32_t t_n = 0u;
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        if (temp_ok(meas->temp_degc[j]) != 0) {
            t_sum += meas->temp_degc[j];
            t_n++;
        }
    }
    float t_fallback;
    if (temp_ok(meas->ambient_degc) != 0) {
        t_fallback = meas->ambient_degc;
    } else if (t_n > 0u) {
        t_fallback = t_sum / (float)t_n;
    } else {
        return 0;
    }
    /* voltages: a cell without a valid reading starts at the pack mean */
    float v_sum = 0.0f;
    uint32_t v_n = 0u;
    for (uint32_t i = 0u; i < nc; i++) {
        if (voltage_ok(meas->cell_v[i]) != 0) {
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
        (void)sensed_temp(inst, meas, i, &t);
        thermal_cell_init(&inst->thermal[i], t, &cfg->est);
        const float v = (voltage_ok(meas->cell_v[i]) != 0) ? meas->cell_v[i] : v_mean;
        soc_ekf_init(&inst->ekf[i], &cfg->cell, &cfg->est, v, meas->pack_current_a, t);
    }
    return 1;
}

/* Surface-temperature correction. A sensed cell uses its own thermistor; a cell
 * without one uses its neighbours' readings interpolated by position, as a
 * measurement of its own surface with the added spatial uncertainty. */
static void thermal_correct(bms_t *inst, const bms_meas_t *meas)
{
    const bms_config_t *cfg = &inst->cfg;
    const thermal_model_t *m = &inst->thermal_model;
    const uint32_t nc = cfg->pack.n_cells;
    const float r = cfg->est.temp_noise_degc * cfg->est.temp_noise_degc;
    const float r_nb = r + cfg->est.temp_spatial_sigma_degc * cfg->est.temp_spatial_sigma_degc;
    for (uint32_t i = 0u; i < nc; i++) {
        float t = 0.0f;
        if (sensed_temp(inst, meas, i, &t) != 0) {
            const int16_t own = m->own_sensor[i];
            const int32_t own_ok = ((own >= 0) && (temp_ok(meas->temp_degc[own]) != 0)) ? 1 : 0;
            thermal_cell_update(&inst->thermal[i], t - inst->thermal[i].t_surf_degc,
                                (own_ok != 0) ? r : r_nb);
        }
    }
}

static void fill_outputs(const bms_t *inst, bms_out_t *out, uint32_t status)
{
    const uint32_t nc = inst->cfg.pack.n_cells;
    float smin = 1.0f;
    float smax = 0.0f;
    float ssum = 0.0f;
    float tmax = -1.0e30f;
    uint32_t tmax_i = 0u;
    for (uint32_t i = 0u; i < nc; i++) {
        const float s = inst->ekf[i].soc;
        const float tc = inst->thermal[i].t_core_degc;
        out->soc[i] = s;
        out->core_temp_degc[i] = tc;
        out->surf_temp_degc[i] = inst->thermal[i].t_surf_degc;
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
    out->time_ms = inst->time_ms;
    out->status = status;
}

int32_t bms_step(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out)
{
    if ((inst == 0) || (meas == 0) || (out == 0)) {
        return BMS_E_ARG;
    }
    if (inst->configured == 0u) {
        return BMS_E_NOT_INIT;
    }
    const bms_config_t *cfg = &inst->cfg;
    const uint32_t nc = cfg->pack.n_cells;
    uint32_t status = 0u;
    const int32_t dt_ok = ((dt_ms > 0u) && (dt_ms <= BMS_MAX_DT_MS)) ? 1 : 0;
    const float cur_abs = (meas->pack_current_a < 0.0f) ? -meas->pack_current_a : meas->pack_current_a;
    const int32_t cur_ok = ((bms_isfinitef(meas->pack_current_a) != 0)
                            && (cur_abs <= cfg->pack.current_range_a)) ? 1 : 0;
    if (dt_ok != 0) {
        inst->time_ms += dt_ms;
    } else {
        status |= BMS_ST_DT_INVALID;
    }
    if (cur_ok == 0) {
        status |= BMS_ST_CURRENT_INVALID;
    }
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        if (temp_ok(meas->temp_degc[j]) == 0) {
            status |= BMS_ST_TEMP_INVALID;
        }
    }
    if (temp_ok(meas->ambient_degc) != 0) {
        inst->ambient_degc = meas->ambient_degc;
    } else {
        status |= BMS_ST_AMBIENT_ESTIMATED;
    }

    if (inst->initialised == 0u) {
        if (seed_estimators(inst, meas) != 0) {
            inst->initialised = 1u;
            for (uint32_t i = 0u; i < nc; i++) {
                out->v_pred_v[i] = soc_ekf_terminal_v(&inst->ekf[i], &cfg->cell,
                                                      meas->pack_current_a,
                                                      inst->thermal[i].t_core_degc);
            }
        }
    } else if ((dt_ok != 0) && (cur_ok != 0)) {
        const float dt_s = (float)dt_ms * 0.001f;
        const float i_a = meas->pack_current_a;
        thermal_disc_update(&inst->thermal_disc, &inst->thermal_model, dt_ms);
        for (uint32_t i = 0u; i < nc; i++) {
            const float v = meas->cell_v[i];
            const int32_t v_ok = voltage_ok(v);
            if (v_ok == 0) {
                status |= BMS_ST_VOLTAGE_INVALID;
            }
            thermal_cell_t *th = &inst->thermal[i];
            soc_ekf_step_out_t so;
            soc_ekf_step(&inst->ekf[i], &cfg->cell, &cfg->est, i_a, dt_s, v, v_ok,
                         th->t_core_degc, &so);
            out->v_pred_v[i] = so.v_pred_v;
            const float heat = thermal_heat_w(i_a, so.ocv_v, (v_ok != 0) ? v : so.v_pred_v,
                                              so.docv_dt_v_per_k, th->t_core_degc);
            thermal_cell_predict(th, &inst->thermal_disc, &cfg->thermal, &cfg->est, heat,
                                 inst->ambient_degc, dt_s);
        }
        thermal_correct(inst, meas);
    } else {
        /* time not advancing or current unknown: hold the state */
    }
    if (inst->initialised != 0u) {
        status |= BMS_ST_INITIALISED;
    }
    fill_outputs(inst, out, status);
    return BMS_OK;
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
    if ((ns > 0u) && (temp_degc == 0)) {
        return BMS_E_ARG;
    }
    bms_meas_t meas;
    bms_out_t out;
    for (uint32_t k = 0u; k < n; k++) {
        meas.pack_current_a = current_a[k];
        for (uint32_t i = 0u; i < nc; i++) {
            meas.cell_v[i] = cell_v[(k * nc) + i];
        }
        for (uint32_t j = 0u; j < ns; j++) {
            meas.temp_degc[j] = temp_degc[(k * ns) + j];
        }
        meas.ambient_degc = (ambient_degc != 0) ? ambient_degc[k] : NAN;
        int32_t rc = bms_step(inst, &meas, dt_ms[k], &out);
        if (rc != BMS_OK) {
            return rc;
        }
        for (uint32_t i = 0u; i < nc; i++) {
            soc_out[(k * nc) + i] = out.soc[i];
            core_temp_out[(k * nc) + i] = out.core_temp_degc[i];
            v_pred_out[(k * nc) + i] = out.v_pred_v[i];
        }
        if (status_out != 0) {
            status_out[k] = out.status;
        }
    }
    return BMS_OK;
}
