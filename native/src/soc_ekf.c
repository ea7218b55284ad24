#include "bms/soc_ekf.h"
#include "bms/bms_math.h"
#include "bms/cell_model.h"

/* Covariance floors keep P positive-definite in float32. */
#define P_SOC_FLOOR 1.0e-10f
#define P_V_FLOOR 1.0e-12f
/* A diagonal below -this is no round-off (the Joseph form keeps P positive semi-definite up
 * to float32 eps times its size, <= 1e-9 here): the filter has diverged. */
#define P_NEG_TOL 1.0e-6f
/* A healthy update moves the SoC by the voltage error over the OCV slope (tenths at most);
 * a posterior a whole SoC range outside [0, 1] means the filter has diverged. */
#define SOC_DIVERGED_LO (-1.0f)
#define SOC_DIVERGED_HI 2.0f

enum { P00 = 0, P01 = 1, P02 = 2, P11 = 3, P12 = 4, P22 = 5 };

void bms_ekf_init(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                  const bms_estimator_params_t *ep, float cell_v, float current_a,
                  float temp_degc)
{
    /* Terminal voltage plus the ohmic drop approximates the OCV; RC states
     * start at zero and their uncertainty goes into the covariance. */
    float r0 = bms_cell_table(cp, cp->r0_ohm, 0.5f, temp_degc);
    float soc = bms_cell_soc_from_ocv(cp, cell_v + r0 * current_a, temp_degc);
    c->soc = bms_clampf(soc, 0.0f, 1.0f);
    c->v_rc1_v = 0.0f;
    c->v_rc2_v = 0.0f;
    float sv = ep->v_rc_init_sigma_v;
    c->p[P00] = ep->soc_init_sigma * ep->soc_init_sigma;
    c->p[P01] = 0.0f;
    c->p[P02] = 0.0f;
    c->p[P11] = sv * sv;
    c->p[P12] = 0.0f;
    c->p[P22] = sv * sv;
}

void bms_ekf_fuse_prior(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                        const bms_estimator_params_t *ep, float temp_degc, float soc_stored,
                        float soc_sigma)
{
    if ((bms_isfinitef(soc_stored) == 0) || !(soc_sigma > 0.0f)) {
        return;
    }
    /* the OCV slope around the voltage-based guess (2 % SoC each side, clamped) */
    const float lo = bms_clampf(c->soc - 0.02f, 0.0f, 1.0f);
    const float hi = bms_clampf(c->soc + 0.02f, 0.0f, 1.0f);
    const float slope = (bms_cell_ocv(cp, hi, temp_degc) - bms_cell_ocv(cp, lo, temp_degc)) / (hi - lo);
    /* at power-up the pack has rested (the polarisation has relaxed): model error and noise */
    const float err_v = ep->model_err_v + ep->voltage_noise_v;
    float sig_v = (slope > 1.0e-4f) ? (err_v / slope) : 1.0f;
    sig_v = (sig_v < 1.0f) ? sig_v : 1.0f;
    const float var_v = sig_v * sig_v;
    const float var_p = soc_sigma * soc_sigma;
    const float stored = bms_clampf(soc_stored, 0.0f, 1.0f);
    c->soc = bms_clampf((c->soc * var_p + stored * var_v) / (var_p + var_v), 0.0f, 1.0f);
    c->p[P00] = (var_p * var_v) / (var_p + var_v);
}

float bms_ekf_terminal_v(const bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                         float current_a, float temp_degc)
{
    bms_cell_eval_t e;
    bms_cell_eval(cp, c->soc, temp_degc, &e);
    return e.ocv_v - c->v_rc1_v - c->v_rc2_v - e.r0_ohm * current_a;
}

/* Keep P symmetric positive-definite: floors on the diagonal and, if a
 * leading minor is not positive, drop the correlations. */
static void condition_cov(float *p)
{
    if (!(p[P00] > P_SOC_FLOOR)) {
        p[P00] = P_SOC_FLOOR;
    }
    if (!(p[P11] > P_V_FLOOR)) {
        p[P11] = P_V_FLOOR;
    }
    if (!(p[P22] > P_V_FLOOR)) {
        p[P22] = P_V_FLOOR;
    }
    float m2 = p[P00] * p[P11] - p[P01] * p[P01];
    float det = p[P00] * (p[P11] * p[P22] - p[P12] * p[P12])
              - p[P01] * (p[P01] * p[P22] - p[P12] * p[P02])
              + p[P02] * (p[P01] * p[P12] - p[P11] * p[P02]);
    if (!(m2 > 0.0f) || !(det > 0.0f)) {
        p[P01] = 0.0f;
        p[P02] = 0.0f;
        p[P12] = 0.0f;
    }
}

void bms_ekf_step(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                  const bms_estimator_params_t *ep, float current_a, float dt_s,
                  float cell_v, int32_t voltage_valid, float temp_degc,
                  bms_ekf_step_out_t *out)
{
    bms_cell_eval_t e;
    bms_cell_eval(cp, c->soc, temp_degc, &e);
    const float soc0 = c->soc;

    /* ---- predict (exact ZOH for the RC branches) ---- */
    bms_cell_rc_disc_t d1 = bms_cell_rc_disc(e.r1_ohm, e.tau1_s, dt_s);
    bms_cell_rc_disc_t d2 = bms_cell_rc_disc(e.r2_ohm, e.tau2_s, dt_s);
    c->soc = soc0 + bms_cell_dsoc(cp, current_a, dt_s);
    c->v_rc1_v = d1.a * c->v_rc1_v + d1.b_ohm * current_a;
    c->v_rc2_v = d2.a * c->v_rc2_v + d2.b_ohm * current_a;

    float *p = c->p;
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    const float sig_i = ep->current_noise_a + ep->current_gain_sigma * abs_i;
    const float k_soc = dt_s / (3600.0f * cp->capacity_ah);
    const float q_soc = sig_i * sig_i * k_soc * k_soc
                      + ep->soc_rw_per_sqrt_s * ep->soc_rw_per_sqrt_s * dt_s;
    /* RC states: a random walk plus the uncertainty of this step's response */
    const float q_v = ep->v_rc_rw_v_per_sqrt_s * ep->v_rc_rw_v_per_sqrt_s * dt_s;
    const float e1 = ep->rc_rel_sigma * d1.b_ohm * abs_i;
    const float e2 = ep->rc_rel_sigma * d2.b_ohm * abs_i;
    p[P00] = p[P00] + q_soc;
    p[P01] = d1.a * p[P01];
    p[P02] = d2.a * p[P02];
    p[P11] = d1.a * d1.a * p[P11] + q_v + e1 * e1;
    p[P12] = d1.a * d2.a * p[P12];
    p[P22] = d2.a * d2.a * p[P22] + q_v + e2 * e2;
    /* a prior that is no covariance (the update below could hide it) */
    const uint32_t prior_bad = (!(p[P00] >= -P_NEG_TOL) || !(p[P11] >= -P_NEG_TOL) || !(p[P22] >= -P_NEG_TOL)) ? 1u : 0u;

    /* OCV at the predicted SoC: linear within the located segment */
    const float h0 = e.docv_dsoc_v;
    const float ocv = e.ocv_v + h0 * (c->soc - soc0);
    const float v_pred = ocv - c->v_rc1_v - c->v_rc2_v - e.r0_ohm * current_a;
    out->v_pred_v = v_pred;
    out->ocv_v = ocv;
    out->docv_dt_v_per_k = e.docv_dt_v_per_k;
    out->innov_v = 0.0f;

    if (voltage_valid != 0) {
        /* ---- update: H = [h0, -1, -1] ---- */
        const float v1a = (c->v_rc1_v < 0.0f) ? -c->v_rc1_v : c->v_rc1_v;
        const float v2a = (c->v_rc2_v < 0.0f) ? -c->v_rc2_v : c->v_rc2_v;
        const float sm = ep->model_err_v + ep->r0_rel_sigma * e.r0_ohm * abs_i + ep->rc_v_rel_sigma * (v1a + v2a);
        const float r = ep->voltage_noise_v * ep->voltage_noise_v + sm * sm;
        const float g0 = p[P00] * h0 - p[P01] - p[P02];
        const float g1 = p[P01] * h0 - p[P11] - p[P12];
        const float g2 = p[P02] * h0 - p[P12] - p[P22];
        const float s = h0 * g0 - g1 - g2 + r;
        const float k0 = g0 / s;
        const float k1 = g1 / s;
        const float k2 = g2 / s;
        const float innov = cell_v - v_pred;
        out->innov_v = innov;
        c->soc += k0 * innov;
        c->v_rc1_v += k1 * innov;
        c->v_rc2_v += k2 * innov;

        /* Joseph form: P = (I - K H) P (I - K H)' + K r K' */
        const float a00 = 1.0f - k0 * h0;
        const float a01 = k0;
        const float a02 = k0;
        const float a10 = -k1 * h0;
        const float a11 = 1.0f + k1;
        const float a12 = k1;
        const float a20 = -k2 * h0;
        const float a21 = k2;
        const float a22 = 1.0f + k2;
        /* M = A P (full 3x3, P symmetric) */
        const float m00 = a00 * p[P00] + a01 * p[P01] + a02 * p[P02];
        const float m01 = a00 * p[P01] + a01 * p[P11] + a02 * p[P12];
        const float m02 = a00 * p[P02] + a01 * p[P12] + a02 * p[P22];
        const float m10 = a10 * p[P00] + a11 * p[P01] + a12 * p[P02];
        const float m11 = a10 * p[P01] + a11 * p[P11] + a12 * p[P12];
        const float m12 = a10 * p[P02] + a11 * p[P12] + a12 * p[P22];
        const float m20 = a20 * p[P00] + a21 * p[P01] + a22 * p[P02];
        const float m21 = a20 * p[P01] + a21 * p[P11] + a22 * p[P12];
        const float m22 = a20 * p[P02] + a21 * p[P12] + a22 * p[P22];
        /* P' = M A' + r K K' (upper triangle only: symmetric by construction) */
        p[P00] = m00 * a00 + m01 * a01 + m02 * a02 + r * k0 * k0;
        p[P01] = m00 * a10 + m01 * a11 + m02 * a12 + r * k0 * k1;
        p[P02] = m00 * a20 + m01 * a21 + m02 * a22 + r * k0 * k2;
        p[P11] = m10 * a10 + m11 * a11 + m12 * a12 + r * k1 * k1;
        p[P12] = m10 * a20 + m11 * a21 + m12 * a22 + r * k1 * k2;
        p[P22] = m20 * a20 + m21 * a21 + m22 * a22 + r * k2 * k2;
    }
    /* NaN fails every comparison below, so a non-finite state counts as diverged */
    out->diverged = ((prior_bad != 0u) || !(c->soc >= SOC_DIVERGED_LO) || !(c->soc <= SOC_DIVERGED_HI)
                     || (bms_isfinitef(c->v_rc1_v) == 0) || (bms_isfinitef(c->v_rc2_v) == 0)
                     || !(p[P00] >= -P_NEG_TOL) || !(p[P11] >= -P_NEG_TOL) || !(p[P22] >= -P_NEG_TOL)
                     || (bms_isfinitef(p[P01]) == 0) || (bms_isfinitef(p[P02]) == 0)
                     || (bms_isfinitef(p[P12]) == 0) || (bms_isfinitef(p[P00]) == 0)
                     || (bms_isfinitef(p[P11]) == 0) || (bms_isfinitef(p[P22]) == 0))
                        ? 1u
                        : 0u;
    condition_cov(p);
    c->soc = bms_clampf(c->soc, 0.0f, 1.0f);
    /* what the current limits need: the next step's terminal voltage is
     * ocv - v_rc_next - r_step * i */
    out->ocv_v = e.ocv_v + h0 * (c->soc - soc0); /* at the posterior SoC */
    out->v_rc_next_v = d1.a * c->v_rc1_v + d2.a * c->v_rc2_v;
    out->r_step_ohm = e.r0_ohm + d1.b_ohm + d2.b_ohm;
}
