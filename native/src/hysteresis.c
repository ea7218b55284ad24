#include "bms/hysteresis.h"
#include "bms/bms_math.h"

/* The one-state model's own error, as a share of the band it describes: real hysteresis
 * depends on the SoC and on the path (minor loops inside the major one), which one state
 * with one rate cannot follow (Baronti et al., IEEE Trans. Magn. 50(11), 2014). 20 % is an
 * assumption, not a measured bound. */
#define HYST_MODEL_REL 0.2f

void bms_hyst_init(bms_hyst_t *hy)
{
    hy->h = 0.0f;
    hy->h_sigma = 1.0f;
    hy->s = 0.0f;
}

void bms_hyst_step(bms_hyst_t *hy, const bms_cell_params_t *cp, float current_a, float dt_s, float i_threshold_a)
{
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    if (!(abs_i > i_threshold_a) || !(dt_s > 0.0f)) {
        return; /* rest, noise, NaN */
    }
    const float eta = (current_a < 0.0f) ? cp->coulombic_eff : 1.0f;
    const float a = bms_expf(-(cp->hyst_gamma * eta * abs_i * dt_s) / (3600.0f * cp->capacity_ah));
    const float towards = (current_a < 0.0f) ? 1.0f : -1.0f;
    hy->h = (a * hy->h) + ((1.0f - a) * towards);
    hy->h_sigma *= a;
    hy->s = towards;
}

static void at_temp(const bms_cell_params_t *cp, float temp_degc, float *m_v, float *m0_v)
{
    uint32_t it;
    float wt;
    bms_interp_locate(cp->temp_bp_degc, cp->n_temp, temp_degc, &it, &wt);
    *m_v = bms_lerp_at(cp->hyst_m_v, it, wt, cp->n_temp);
    *m0_v = bms_lerp_at(cp->hyst_m0_v, it, wt, cp->n_temp);
}

float bms_hyst_v(const bms_hyst_t *hy, const bms_cell_params_t *cp, float temp_degc, float *var_v2)
{
    float m;
    float m0;
    at_temp(cp, temp_degc, &m, &m0);
    const float e_h = m * hy->h_sigma;
    const float e_s = (hy->s == 0.0f) ? m0 : 0.0f; /* s = +-1 unknown: variance 1 */
    const float e_m = HYST_MODEL_REL * (m + m0);
    *var_v2 = (e_h * e_h) + (e_s * e_s) + (e_m * e_m);
    return (m0 * hy->s) + (m * hy->h);
}

float bms_hyst_band_v(const bms_cell_params_t *cp, float temp_degc)
{
    float m;
    float m0;
    at_temp(cp, temp_degc, &m, &m0);
    return m + m0;
}
