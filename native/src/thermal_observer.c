#include "bms/thermal_observer.h"
#include "bms/bms_math.h"

#define P_T_FLOOR 1.0e-8f
#define KELVIN_OFFSET 273.15f

/* Square root by Newton iterations from an exponent-halving guess: used at
 * init only, written out so host and target round identically. */
static float init_sqrtf(float x)
{
    if (!(x > 0.0f)) {
        return 0.0f;
    }
    float g = (x > 1.0f) ? x : 1.0f;
    for (uint32_t i = 0u; i < 64u; i++) {
        float n = 0.5f * (g + x / g);
        if (!(n < g)) {
            break;
        }
        g = n;
    }
    return g;
}

void bms_thermal_model_init(bms_thermal_model_t *m, const bms_config_t *cfg)
{
    const bms_thermal_params_t *tp = &cfg->thermal;
    const float k1 = 1.0f / (tp->c_core_j_per_k * tp->r_core_surf_k_per_w);
    const float k2 = 1.0f / (tp->c_surf_j_per_k * tp->r_core_surf_k_per_w);
    const float k3 = 1.0f / (tp->c_surf_j_per_k * tp->r_surf_amb_k_per_w);
    m->a[0] = -k1;
    m->a[1] = k1;
    m->a[2] = k2;
    m->a[3] = -(k2 + k3);
    const float tr = -(k1 + k2 + k3);
    const float det = k1 * k3;
    const float disc = tr * tr - 4.0f * det; /* > 0: A is similar to a symmetric matrix */
    /* fast eigenvalue from the formula, slow one from the product (no cancellation) */
    m->lambda2 = 0.5f * (tr - init_sqrtf(disc));
    m->lambda1 = det / m->lambda2;
    m->b_q = 1.0f / tp->c_core_j_per_k;
    m->b_a = k3;

    const uint32_t nc = cfg->pack.n_cells;
    const uint32_t ns = cfg->pack.n_temp_sensors;
    for (uint32_t i = 0u; i < nc; i++) {
        int32_t own = -1;
        int32_t lo = -1;
        int32_t hi = -1;
        uint32_t lo_cell = 0u;
        uint32_t hi_cell = 0u;
        for (uint32_t j = 0u; j < ns; j++) {
            uint32_t sc = cfg->pack.temp_sensor_cell[j];
            if (sc == i) {
                own = (int32_t)j;
            }
            if ((sc <= i) && ((lo < 0) || (sc > lo_cell))) {
                lo = (int32_t)j;
                lo_cell = sc;
            }
            if ((sc >= i) && ((hi < 0) || (sc < hi_cell))) {
                hi = (int32_t)j;
                hi_cell = sc;
            }
        }
        if (lo < 0) {
            lo = hi;
        }
        if (hi < 0) {
            hi = lo;
        }
        m->own_sensor[i] = (own < 0) ? (uint8_t)BMS_THERMAL_NO_SENSOR : (uint8_t)own;
        m->nb_lo[i] = (lo < 0) ? (uint8_t)BMS_THERMAL_NO_SENSOR : (uint8_t)lo;
        m->nb_hi[i] = (hi < 0) ? (uint8_t)BMS_THERMAL_NO_SENSOR : (uint8_t)hi;
    }
}

_Static_assert(BMS_MAX_TEMP_SENSORS < BMS_THERMAL_NO_SENSOR, "a sensor index fits in a byte");

float bms_thermal_nb_weight(const bms_thermal_model_t *m, const bms_config_t *cfg, uint32_t i)
{
    const uint32_t lo = m->nb_lo[i];
    const uint32_t hi = m->nb_hi[i];
    if ((lo == BMS_THERMAL_NO_SENSOR) || (hi == BMS_THERMAL_NO_SENSOR)) {
        return 0.0f;
    }
    const uint32_t lo_cell = cfg->pack.temp_sensor_cell[lo];
    const uint32_t hi_cell = cfg->pack.temp_sensor_cell[hi];
    return (hi_cell > lo_cell) ? (float)(i - lo_cell) / (float)(hi_cell - lo_cell) : 0.0f;
}

void bms_thermal_disc_update(bms_thermal_disc_t *d, const bms_thermal_model_t *m, uint32_t dt_ms)
{
    if (dt_ms == d->dt_ms) {
        return;
    }
    const float dt_s = (float)dt_ms * 0.001f;
    const float l1 = m->lambda1;
    const float l2 = m->lambda2;
    const float m1 = bms_expm1f(l1 * dt_s);
    const float m2 = bms_expm1f(l2 * dt_s);
    /* exp(A dt) = c0 I + c1 A (Sylvester, distinct real eigenvalues) */
    const float c1 = (m1 - m2) / (l1 - l2);
    const float c0m1 = (l1 * m2 - l2 * m1) / (l1 - l2); /* c0 - 1 */
    d->ad[0] = 1.0f + c0m1 + c1 * m->a[0];
    d->ad[1] = c1 * m->a[1];
    d->ad[2] = c1 * m->a[2];
    d->ad[3] = 1.0f + c0m1 + c1 * m->a[3];
    /* B_d = A^-1 (exp(A dt) - I) B = g(A) B with g(l) = expm1(l dt) / l, again by
     * Sylvester: g(A) = e1 A + e0 I. No A^-1 and no cancellation of the O(dt) term. */
    const float g1 = m1 / l1;
    const float g2 = m2 / l2;
    const float e1 = (g1 - g2) / (l1 - l2);
    const float e0 = (l1 * g2 - l2 * g1) / (l1 - l2);
    d->bq[0] = (e1 * m->a[0] + e0) * m->b_q;
    d->bq[1] = (e1 * m->a[2]) * m->b_q;
    d->ba[0] = (e1 * m->a[1]) * m->b_a;
    d->ba[1] = (e1 * m->a[3] + e0) * m->b_a;
    d->dt_ms = dt_ms;
}

void bms_thermal_cell_init(bms_thermal_cell_t *c, float temp_degc, const bms_estimator_params_t *ep)
{
    const float s2 = ep->temp_init_sigma_degc * ep->temp_init_sigma_degc;
    c->t_core_degc = temp_degc;
    c->t_surf_degc = temp_degc;
    c->p[0] = s2;
    c->p[1] = s2;
    c->p[2] = s2;
}

static void condition_cov2(float *p)
{
    if (!(p[0] > P_T_FLOOR)) {
        p[0] = P_T_FLOOR;
    }
    if (!(p[2] > P_T_FLOOR)) {
        p[2] = P_T_FLOOR;
    }
    if (!((p[0] * p[2] - p[1] * p[1]) > 0.0f)) {
        p[1] = 0.0f;
    }
}

void bms_thermal_cell_predict(bms_thermal_cell_t *c, const bms_thermal_disc_t *d,
                              const bms_thermal_params_t *tp, const bms_estimator_params_t *ep,
                              float heat_w, float ambient_degc, float dt_s)
{
    /* in rises over ambient: Ad 1 + ba = 1 exactly, and the small numbers keep
     * float32 from losing the step's change against the absolute temperature */
    const float tc = c->t_core_degc - ambient_degc;
    const float ts = c->t_surf_degc - ambient_degc;
    c->t_core_degc = ambient_degc + (d->ad[0] * tc + d->ad[1] * ts + d->bq[0] * heat_w);
    c->t_surf_degc = ambient_degc + (d->ad[2] * tc + d->ad[3] * ts + d->bq[1] * heat_w);
    /* P = Ad P Ad' + Q; heat uncertainty as white noise into both nodes */
    float *p = c->p;
    const float m00 = d->ad[0] * p[0] + d->ad[1] * p[1];
    const float m01 = d->ad[0] * p[1] + d->ad[1] * p[2];
    const float m10 = d->ad[2] * p[0] + d->ad[3] * p[1];
    const float m11 = d->ad[2] * p[1] + d->ad[3] * p[2];
    const float sq = ep->heat_noise_w / tp->c_core_j_per_k;
    const float q = sq * sq * dt_s;
    p[0] = m00 * d->ad[0] + m01 * d->ad[1] + q;
    p[1] = m00 * d->ad[2] + m01 * d->ad[3];
    /* the surface's path to the ambient is known to est.r_surf_amb_rel_sigma (the cold
     * plate's contact, the coolant's flow): while the ambient (the coolant) warms the
     * surface, the heat-flow error that path makes enters as white noise into the surface
     * alone. A surface the coolant warms slower or faster than modelled is then corrected
     * in the surface, not read as a core that is off too (found by P13: an LFP cell warmed
     * by the coolant heater at 60 % of the nominal flow read its core falling 0.6 K while
     * the true core rose 0.3 K). Not while the surface is above the ambient: its excess is
     * the core's heat, and a reading above the prediction must keep raising the core
     * estimate (the safe side: the core is at least as hot as its surface says) */
    const float warming_k = (ambient_degc > c->t_surf_degc) ? (ambient_degc - c->t_surf_degc) : 0.0f;
    const float e_s = ep->r_surf_amb_rel_sigma * warming_k / (tp->r_surf_amb_k_per_w * tp->c_surf_j_per_k);
    p[2] = m10 * d->ad[2] + m11 * d->ad[3] + q + (e_s * e_s * dt_s);
    condition_cov2(p);
}

void bms_thermal_cell_update(bms_thermal_cell_t *c, float innov_degc, float r_degc2)
{
    float *p = c->p;
    const float s = p[2] + r_degc2;
    const float k0 = p[1] / s;
    const float k1 = p[2] / s;
    c->t_core_degc += k0 * innov_degc;
    c->t_surf_degc += k1 * innov_degc;
    /* Joseph form with H = [0 1]: A = [[1, -k0], [0, 1 - k1]] */
    const float a11 = 1.0f - k1;
    const float m00 = p[0] - k0 * p[1];
    const float m01 = p[1] - k0 * p[2];
    const float m11 = a11 * p[2];
    const float n00 = m00 - m01 * k0 + r_degc2 * k0 * k0;
    const float n01 = m01 * a11 + r_degc2 * k0 * k1;
    const float n11 = m11 * a11 + r_degc2 * k1 * k1;
    p[0] = n00;
    p[1] = n01;
    p[2] = n11;
    condition_cov2(p);
}

float bms_thermal_heat_w(float current_a, float ocv_v, float cell_v, float docv_dt_v_per_k,
                         float temp_degc)
{
    float q_irr = current_a * (ocv_v - cell_v);
    if (q_irr < 0.0f) {
        q_irr = 0.0f; /* the overpotential always opposes the current */
    }
    const float q_rev = -current_a * (temp_degc + KELVIN_OFFSET) * docv_dt_v_per_k;
    return q_irr + q_rev;
}

float bms_thermal_steady_core_degc(const bms_thermal_params_t *tp, float heat_w, float ambient_degc)
{
    return ambient_degc + heat_w * (tp->r_core_surf_k_per_w + tp->r_surf_amb_k_per_w);
}
