#include "bms/soh.h"
#include "bms/bms_math.h"

#include <math.h> /* NAN only: no libm calls */

/* Below C/50 a cell is at rest: its polarisation relaxes (the threshold of a rest step in
 * the OCV-test literature, e.g. Plett, Battery Management Systems vol. I, 2015, sec. 2.10). */
#define SOH_REST_C 0.02f
/* A current step is one only between close samples: beyond a second the RC branches have
 * moved by more than their one-step response (tau1 >= ~10 s, cell_model.h). */
#define SOH_STEP_DT_MAX_S 1.0f
/* Physical bounds of the scales: a cell outside them is a failed cell for the plausibility
 * and safety checks, not an aged one for this filter. */
#define SOH_CAP_MIN 0.5f
#define SOH_CAP_MAX 1.5f
#define SOH_R_MIN 0.5f
#define SOH_R_MAX 3.99f

static uint16_t q16(float x, float one, float lo, float hi)
{
    return (uint16_t)((bms_clampf(x, lo, hi) * one) + 0.5f);
}

static float absf(float x)
{
    return (x < 0.0f) ? -x : x;
}

int32_t bms_soh_enabled(const bms_config_t *cfg)
{
    return (cfg->est.soh_init_sigma > 0.0f) ? 1 : 0;
}

void bms_soh_reset(bms_soh_t *s, const bms_config_t *cfg)
{
    const uint32_t stored = (cfg->nvm.soh_valid != 0u) ? 1u : 0u;
    for (uint32_t i = 0u; i < BMS_MAX_CELLS; i++) {
        s->cap_q[i] = (stored != 0u) ? cfg->nvm.cap_q[i] : (uint16_t)BMS_SOH_CAP_ONE;
        s->r_q[i] = (stored != 0u) ? cfg->nvm.r_q[i] : (uint16_t)BMS_SOH_R_ONE;
        s->soc_start_q[i] = (uint16_t)BMS_SOH_NO_START;
    }
    const float sig = (stored != 0u) ? cfg->nvm.soh_sigma : cfg->est.soh_init_sigma;
    const float sig_r = (stored != 0u) ? cfg->nvm.soh_sigma : cfg->est.soh_r_init_sigma;
    s->theta_var = sig * sig;
    s->r_var = sig_r * sig_r;
    s->seg_ah = 0.0f;
    s->seg_soc_var = 0.0f;
    s->rest_s = 0.0f;
    s->i_prev_a = NAN;
    s->r_step_k = 0.0f;
    s->r_noise_v2 = 0.0f;
    s->r_reg_sum = 0.0f;
    s->r_reg_n = 0u;
    s->pt_var = 0.0f;
    s->pt_x = 0.0f;
    s->pt_update = 0u;
    s->seg_open = 0u;
    s->cap_updates = 0u;
    s->r_updates = 0u;
}

float bms_soh_cap_scale(const bms_soh_t *s, uint32_t cell)
{
    return (float)s->cap_q[cell] / BMS_SOH_CAP_ONE;
}

float bms_soh_r_scale(const bms_soh_t *s, uint32_t cell)
{
    return (float)s->r_q[cell] / BMS_SOH_R_ONE;
}

float bms_soh_cap_sigma(const bms_soh_t *s, uint32_t cell)
{
    const float c = bms_soh_cap_scale(s, cell);
    return c * c * bms_sqrtf(s->theta_var);
}

float bms_soh_r_sigma(const bms_soh_t *s)
{
    return bms_sqrtf(s->r_var);
}

float bms_soh_r_upper_factor(const bms_soh_t *s, const bms_config_t *cfg)
{
    if (bms_soh_enabled(cfg) == 0) {
        return 1.0f;
    }
    float g_min = SOH_R_MAX;
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        const float g = bms_soh_r_scale(s, i);
        g_min = (g < g_min) ? g : g_min;
    }
    return 1.0f + ((3.0f * bms_soh_r_sigma(s)) / g_min);
}

/* ---- resistance ---- */

int32_t bms_soh_r_begin(bms_soh_t *s, const bms_config_t *cfg, float current_a, int32_t current_valid,
                        float dt_s)
{
    const float prev = s->i_prev_a;
    s->i_prev_a = (current_valid != 0) ? current_a : NAN;
    s->r_step_k = 0.0f;
    s->r_reg_sum = 0.0f;
    s->r_reg_n = 0u;
    if ((bms_soh_enabled(cfg) == 0) || (current_valid == 0) || (bms_isfinitef(prev) == 0)
        || !(dt_s <= SOH_STEP_DT_MAX_S)) {
        return 0;
    }
    const float di = current_a - prev;
    if (absf(di) < (cfg->est.soh_step_c * cfg->cell.capacity_ah)) {
        return 0;
    }
    /* the innovation's variance: the noise of the two samples (the earlier one's error is
     * in the state the filter absorbed) and the model's error at rest */
    const float vn = cfg->est.voltage_noise_v;
    s->r_noise_v2 = (2.0f * vn * vn) + (cfg->est.model_err_v * cfg->est.model_err_v);
    s->r_step_k = di;
    s->r_var += cfg->est.soh_rw * cfg->est.soh_rw;
    return 1;
}

void bms_soh_r_cell(bms_soh_t *s, uint32_t cell, float innov_v, float r0_ohm)
{
    const float reg = r0_ohm * s->r_step_k; /* d(innovation)/d(g) = -reg */
    if ((s->r_step_k == 0.0f) || !(reg != 0.0f) || (bms_isfinitef(innov_v) == 0)) {
        return;
    }
    const float rz = s->r_noise_v2 / (reg * reg); /* variance of the step's g measurement */
    const float z = -innov_v / reg;               /* the step's measurement of g_true - g */
    /* a measurement beyond 3 sigma of what the filter and the noise allow is no resistance
     * (a fault's step, an open circuit, a model that does not hold there): left out */
    if ((z * z) > (9.0f * (s->r_var + rz))) {
        return;
    }
    const float k = s->r_var / (s->r_var + rz);
    const float g = bms_soh_r_scale(s, cell) + (k * z);
    s->r_q[cell] = q16(g, BMS_SOH_R_ONE, SOH_R_MIN, SOH_R_MAX);
    s->r_reg_sum += absf(reg);
    s->r_reg_n++;
}

void bms_soh_r_end(bms_soh_t *s, const bms_config_t *cfg)
{
    (void)cfg;
    if (s->r_reg_n == 0u) {
        return;
    }
    const float reg = s->r_reg_sum / (float)s->r_reg_n;
    const float rz = s->r_noise_v2 / (reg * reg);
    s->r_var = (s->r_var * rz) / (s->r_var + rz);
    s->r_updates++;
}

/* ---- capacity ---- */

int32_t bms_soh_charge(bms_soh_t *s, const bms_config_t *cfg, float current_a, int32_t current_valid, float dt_s)
{
    if (bms_soh_enabled(cfg) == 0) {
        return 0;
    }
    if (current_valid == 0) {
        s->seg_open = 0u; /* charge unknown: the interval teaches nothing */
        s->rest_s = 0.0f;
        return 0;
    }
    const float eff = (current_a < 0.0f) ? cfg->cell.coulombic_eff : 1.0f;
    s->seg_ah += (eff * current_a * dt_s) / 3600.0f;
    if (absf(current_a) > (SOH_REST_C * cfg->cell.capacity_ah)) {
        s->rest_s = 0.0f;
        return 0;
    }
    const float before = s->rest_s;
    s->rest_s = before + dt_s;
    return ((before < cfg->est.soh_rest_s) && (s->rest_s >= cfg->est.soh_rest_s)) ? 1 : 0;
}

void bms_soh_void(bms_soh_t *s)
{
    s->seg_open = 0u;
    s->rest_s = 0.0f;
    s->i_prev_a = NAN;
}

void bms_soh_point_begin(bms_soh_t *s, const bms_config_t *cfg)
{
    s->pt_var = 0.0f;
    s->pt_x = -s->seg_ah / cfg->cell.capacity_ah;
    s->pt_update = ((s->seg_open != 0u) && (absf(s->pt_x) >= cfg->est.soh_min_dsoc)) ? 1u : 0u;
    if (s->pt_update != 0u) {
        s->theta_var += cfg->est.soh_rw * cfg->est.soh_rw;
    }
}

void bms_soh_point_var(bms_soh_t *s, float soc_var)
{
    s->pt_var = (soc_var > s->pt_var) ? soc_var : s->pt_var;
}

/* variance of the interval's SoC difference: both ends and the sensor's gain error */
static float interval_var(const bms_soh_t *s, const bms_config_t *cfg)
{
    const float gain = cfg->est.current_gain_sigma * s->pt_x;
    return s->seg_soc_var + s->pt_var + (gain * gain);
}

void bms_soh_point_cell(bms_soh_t *s, const bms_config_t *cfg, uint32_t cell, float soc)
{
    const uint16_t start = s->soc_start_q[cell];
    const int32_t usable = ((soc >= 0.0f) && (soc <= 1.0f)) ? 1 : 0;
    if ((s->pt_update != 0u) && (start != (uint16_t)BMS_SOH_NO_START) && (usable != 0)) {
        const float x = s->pt_x;
        const float y = soc - ((float)start / 65534.0f);
        const float theta = 1.0f / bms_soh_cap_scale(s, cell);
        const float k = (s->theta_var * x) / ((x * x * s->theta_var) + interval_var(s, cfg));
        const float c = 1.0f / (theta + (k * (y - (x * theta))));
        s->cap_q[cell] = q16(c, BMS_SOH_CAP_ONE, SOH_CAP_MIN, SOH_CAP_MAX);
    }
    s->soc_start_q[cell] = (usable != 0) ? (uint16_t)((soc * 65534.0f) + 0.5f) : (uint16_t)BMS_SOH_NO_START;
}

void bms_soh_point_end(bms_soh_t *s, const bms_config_t *cfg)
{
    if (s->pt_update != 0u) {
        const float x = s->pt_x;
        const float r = interval_var(s, cfg);
        s->theta_var = (s->theta_var * r) / ((x * x * s->theta_var) + r);
        s->cap_updates++;
    }
    s->pt_update = 0u;
    s->seg_open = 1u;
    s->seg_ah = 0.0f;
    s->seg_soc_var = s->pt_var;
}
