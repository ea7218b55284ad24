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
/* One sample's innovation^2 over its stated variance counts at most this much in the
 * monitor's mean: a single wild reading (a glitch the plausibility check has not yet
 * debounced) moves the mean by at most alpha times this. */
#define NIS_RATIO_MAX 1.0e4f

enum { P00 = 0, P01 = 1, P02 = 2, P11 = 3, P12 = 4, P22 = 5 };

/* How much more variance a Gauss-Markov error of correlation time corr_s carries per sample
 * of dt_s than a white one: 2 corr_s / dt_s, at least 1 (Gelb, Applied Optimal Estimation,
 * 1974, sec. 4.5; Bryson & Henrikson, J. Spacecraft 5(6), 1968). */
static float gauss_markov_factor(float corr_s, float dt_s)
{
    const float f = (2.0f * corr_s) / dt_s;
    return (f > 1.0f) ? f : 1.0f;
}


/* The model at soc for this cell: its resistances scaled by its health (time constants
 * kept, soh.h). */
static void eval_cell(const bms_cell_params_t *cp, float soc, float temp_degc, float r_scale, bms_cell_eval_t *e)
{
    bms_cell_eval(cp, soc, temp_degc, e);
    e->r0_ohm *= r_scale;
    e->r1_ohm *= r_scale;
    e->r2_ohm *= r_scale;
}

void bms_ekf_init(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                  const bms_estimator_params_t *ep, float r_scale, float cell_v, float current_a,
                  float temp_degc, const bms_ekf_hyst_in_t *hy)
{
    /* Terminal voltage plus the ohmic drop approximates the OCV; RC states
     * start at zero and their uncertainty goes into the covariance. */
    float r0 = bms_cell_table(cp, cp->r0_ohm, 0.5f, temp_degc) * r_scale;
    float soc = bms_cell_soc_from_ocv(cp, (cell_v + r0 * current_a) - hy->v, temp_degc);
    c->soc = bms_clampf(soc, 0.0f, 1.0f);
    c->v_rc1_v = 0.0f;
    c->v_rc2_v = 0.0f;
    float sv = ep->v_rc_init_sigma_v;
    /* The guess is as good as its voltage error over the OCV's local slope: the model error,
     * the noise, R0's uncertainty at this current and the polarisation the cell may carry
     * (two branches started at zero); soc_init_sigma caps it where the OCV is flat. A guess
     * taken as worse than it is lets a wrong model pull the SoC away in the first minutes. */
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    const float e_r0 = ep->r0_rel_sigma * r0 * abs_i;
    const float var_v = (ep->model_err_v * ep->model_err_v) + (ep->voltage_noise_v * ep->voltage_noise_v)
                      + (e_r0 * e_r0) + (2.0f * sv * sv) + hy->var_v2;
    const float slope = bms_cell_ocv_slope(cp, c->soc, temp_degc);
    const float var_cap = ep->soc_init_sigma * ep->soc_init_sigma;
    const float var_soc = (slope > 1.0e-4f) ? (var_v / (slope * slope)) : var_cap;
    c->p[P00] = (var_soc < var_cap) ? var_soc : var_cap;
    c->p[P01] = 0.0f;
    c->p[P02] = 0.0f;
    c->p[P11] = sv * sv;
    c->p[P12] = 0.0f;
    c->p[P22] = sv * sv;
    c->nis_mean = 1.0f;
}

void bms_ekf_fuse_prior(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                        const bms_estimator_params_t *ep, float temp_degc, float soc_stored,
                        float soc_sigma, const bms_ekf_hyst_in_t *hy)
{
    if ((bms_isfinitef(soc_stored) == 0) || !(soc_sigma > 0.0f)) {
        return;
    }
    /* the OCV slope around the voltage-based guess */
    const float slope = bms_cell_ocv_slope(cp, c->soc, temp_degc);
    /* at power-up the pack has rested (the polarisation has relaxed): model error and noise,
     * and the hysteresis the guess could not know */
    const float err0_v = ep->model_err_v + ep->voltage_noise_v;
    const float err_v = (hy->var_v2 > 0.0f) ? bms_sqrtf((err0_v * err0_v) + hy->var_v2) : err0_v;
    float sig_v = (slope > 1.0e-4f) ? (err_v / slope) : 1.0f;
    sig_v = (sig_v < 1.0f) ? sig_v : 1.0f;
    const float var_v = sig_v * sig_v;
    const float var_p = soc_sigma * soc_sigma;
    const float stored = bms_clampf(soc_stored, 0.0f, 1.0f);
    c->soc = bms_clampf((c->soc * var_p + stored * var_v) / (var_p + var_v), 0.0f, 1.0f);
    c->p[P00] = (var_p * var_v) / (var_p + var_v);
}

float bms_ekf_terminal_v(const bms_ekf_cell_t *c, const bms_cell_params_t *cp, float r_scale,
                         float current_a, float temp_degc, float hyst_v)
{
    bms_cell_eval_t e;
    eval_cell(cp, c->soc, temp_degc, r_scale, &e);
    return (e.ocv_v + hyst_v) - c->v_rc1_v - c->v_rc2_v - e.r0_ohm * current_a;
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
                  const bms_estimator_params_t *ep, float cap_scale, float cap_rel_sigma, float r_scale,
                  float current_a, float dt_s, float cell_v, int32_t voltage_valid, float temp_degc,
                  const bms_ekf_hyst_in_t *hy, bms_ekf_step_out_t *out)
{
    bms_cell_eval_t e;
    eval_cell(cp, c->soc, temp_degc, r_scale, &e);
    const float soc0 = c->soc;
    out->r0_model_ohm = e.r0_ohm / r_scale;

    /* ---- predict (exact ZOH for the RC branches) ---- */
    bms_cell_rc_disc_t d1 = bms_cell_rc_disc(e.r1_ohm, e.tau1_s, dt_s);
    bms_cell_rc_disc_t d2 = bms_cell_rc_disc(e.r2_ohm, e.tau2_s, dt_s);
    c->soc = soc0 + (bms_cell_dsoc(cp, current_a, dt_s) / cap_scale);
    c->v_rc1_v = d1.a * c->v_rc1_v + d1.b_ohm * current_a;
    c->v_rc2_v = d2.a * c->v_rc2_v + d2.b_ohm * current_a;

    float *p = c->p;
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    /* the capacity's relative error counts the charge as a gain error does (soh.h): the
     * filter's SoC drifts by as much as its capacity is uncertain */
    const float gain_sigma = bms_sqrtf((ep->current_gain_sigma * ep->current_gain_sigma) + (cap_rel_sigma * cap_rel_sigma));
    const float sig_i = ep->current_noise_a + gain_sigma * abs_i;
    const float k_soc = dt_s / (3600.0f * cp->capacity_ah * cap_scale);
    /* The current error is an offset and a gain error more than noise: it stays for
     * current_err_corr_s, so the charge it adds up grows as that of a Gauss-Markov error
     * (gauss_markov_factor, as for the model error below): a filter
     * that takes it as white believes its coulomb counting far more than it should. */
    const float q_soc = sig_i * sig_i * k_soc * k_soc * gauss_markov_factor(ep->current_err_corr_s, dt_s)
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
    const float v_pred = (ocv + hy->v) - c->v_rc1_v - c->v_rc2_v - e.r0_ohm * current_a;
    out->v_pred_v = v_pred;
    out->ocv_v = ocv;
    out->docv_dt_v_per_k = e.docv_dt_v_per_k;
    out->innov_v = 0.0f;

    if (voltage_valid != 0) {
        /* ---- update: H = [h0, -1, -1] ---- */
        const float v1a = (c->v_rc1_v < 0.0f) ? -c->v_rc1_v : c->v_rc1_v;
        const float v2a = (c->v_rc2_v < 0.0f) ? -c->v_rc2_v : c->v_rc2_v;
        const float sm = ep->model_err_v + ep->r0_rel_sigma * e.r0_ohm * abs_i + ep->rc_v_rel_sigma * (v1a + v2a);
        /* The model error is no white noise: it lasts as long as the load pattern that
         * causes it (a first-order Gauss-Markov error of variance sm^2 and correlation time
         * tc). Sampled every dt << tc, the white sequence with the same low-frequency power
         * has variance 2 sm^2 tc / dt: a filter that takes each sample's model error as
         * independent averages a bias that is no average, and the more often it samples, the
         * harder it follows it. */
        /* Graceful degradation (covariance matching, Mehra, IEEE TAC 17(5), 1972): when the
         * innovations stay larger than the model error the configuration states, the model
         * error is larger than stated: its variance is scaled by the monitor's ratio, so the
         * filter leans on coulomb counting for as long as the model cannot explain the
         * voltage (cold cells, a CV phase, an aged cell), and says so (mismatch). */
        const float inflate = (c->nis_mean > 1.0f) ? c->nis_mean : 1.0f;
        const float noise2 = ep->voltage_noise_v * ep->voltage_noise_v;
        /* the hysteresis's error lasts as long as the model error's (it changes only as
         * charge flows): weighed the same way */
        const float model2 = (sm * sm) + hy->var_v2;
        const float r = noise2 + model2 * gauss_markov_factor(ep->model_err_corr_s, dt_s) * inflate;
        const float g0 = p[P00] * h0 - p[P01] - p[P02];
        const float g1 = p[P01] * h0 - p[P11] - p[P12];
        const float g2 = p[P02] * h0 - p[P12] - p[P22];
        const float hph = h0 * g0 - g1 - g2;
        const float s = hph + r;
        const float k0 = g0 / s;
        const float k1 = g1 / s;
        const float k2 = g2 / s;
        const float innov = cell_v - v_pred;
        out->innov_v = innov;
        /* the monitor: this sample's innovation^2 over the variance the model states for one
         * sample (state uncertainty, noise, model error: no correlation, no inflation) */
        const float s_stated = hph + noise2 + model2;
        float ratio = (s_stated > 0.0f) ? ((innov * innov) / s_stated) : NIS_RATIO_MAX;
        ratio = (ratio < NIS_RATIO_MAX) ? ratio : NIS_RATIO_MAX; /* NaN stays NaN: diverged */
        const float alpha = dt_s / (ep->mismatch_window_s + dt_s);
        c->nis_mean += alpha * (ratio - c->nis_mean);
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
                     || (bms_isfinitef(c->nis_mean) == 0)
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
    out->mismatch = (c->nis_mean > ep->mismatch_nis) ? 1u : 0u;
}
