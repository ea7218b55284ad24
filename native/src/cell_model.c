#include "bms/cell_model.h"
#include "bms/bms_math.h"

static void locate(const bms_cell_params_t *cp, float soc, float temp_degc, bms_cell_pt_t *p)
{
    bms_cell_locate_soc(cp, soc, p);
    bms_cell_locate_temp(cp, temp_degc, p);
}

void bms_cell_locate_soc(const bms_cell_params_t *cp, float soc, bms_cell_pt_t *p)
{
    bms_interp_locate(cp->soc_bp, cp->n_soc, soc, &p->i_soc, &p->w_soc);
}

void bms_cell_locate_soc_near(const bms_cell_params_t *cp, float soc, bms_cell_pt_t *p)
{
    bms_interp_locate_near(cp->soc_bp, cp->n_soc, soc, p->i_soc, &p->i_soc, &p->w_soc);
}

void bms_cell_locate_temp(const bms_cell_params_t *cp, float temp_degc, bms_cell_pt_t *p)
{
    bms_interp_locate(cp->temp_bp_degc, cp->n_temp, temp_degc, &p->i_temp, &p->w_temp);
}

/* What bms_interp_locate returns for x = soc_bp[k] (strictly increasing breakpoints, the
 * configuration's rule): the segment k at its start, the last breakpoint at the end of the
 * last segment (w = 1, not the segment n - 1 at 0), below two points the single one. */
void bms_cell_locate_soc_bp(const bms_cell_params_t *cp, uint32_t k, bms_cell_pt_t *p)
{
    const uint32_t n = cp->n_soc;
    if (n < 2u) {
        p->i_soc = 0u;
        p->w_soc = 0.0f;
    } else if ((k + 1u) >= n) {
        p->i_soc = n - 2u;
        p->w_soc = 1.0f;
    } else {
        p->i_soc = k;
        p->w_soc = 0.0f;
    }
}

/* bms_lerp_at's arithmetic (the same operations in the same order: bit-identical), here
 * where the compiler can inline it: the tables' lookups are the step's most frequent call
 * (python -m hil.profile) */
static inline float row_at(const float *y, uint32_t idx, float w, uint32_t n)
{
    if (n < 2u) {
        return y[0];
    }
    return y[idx] + w * (y[idx + 1u] - y[idx]);
}

static float bilerp(const float t[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS], const bms_cell_pt_t *p,
                    uint32_t n_soc, uint32_t n_temp)
{
    float lo = row_at(t[p->i_temp], p->i_soc, p->w_soc, n_soc);
    if (n_temp < 2u) {
        return lo;
    }
    float hi = row_at(t[p->i_temp + 1u], p->i_soc, p->w_soc, n_soc);
    return lo + p->w_temp * (hi - lo);
}

float bms_cell_table(const bms_cell_params_t *cp,
                     const float table[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS],
                     float soc, float temp_degc)
{
    bms_cell_pt_t p;
    locate(cp, soc, temp_degc, &p);
    return bilerp(table, &p, cp->n_soc, cp->n_temp);
}

float bms_cell_ocv(const bms_cell_params_t *cp, float soc, float temp_degc)
{
    return bms_cell_table(cp, cp->ocv_v, soc, temp_degc);
}

float bms_cell_ocv_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p)
{
    return bilerp(cp->ocv_v, p, cp->n_soc, cp->n_temp);
}

void bms_cell_eval(const bms_cell_params_t *cp, float soc, float temp_degc, bms_cell_eval_t *out)
{
    bms_cell_pt_t p;
    locate(cp, soc, temp_degc, &p);
    bms_cell_eval_at(cp, &p, out);
}

void bms_cell_eval_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p, bms_cell_eval_t *out)
{
    const uint32_t ns = cp->n_soc;
    const uint32_t nt = cp->n_temp;
    out->ocv_v = bilerp(cp->ocv_v, p, ns, nt);
    /* slope of the OCV segment at the interpolated temperature */
    {
        float ds = cp->soc_bp[p->i_soc + 1u] - cp->soc_bp[p->i_soc];
        float lo = cp->ocv_v[p->i_temp][p->i_soc + 1u] - cp->ocv_v[p->i_temp][p->i_soc];
        float d = lo;
        if (nt >= 2u) {
            float hi = cp->ocv_v[p->i_temp + 1u][p->i_soc + 1u] - cp->ocv_v[p->i_temp + 1u][p->i_soc];
            d = lo + p->w_temp * (hi - lo);
        }
        out->docv_dsoc_v = d / ds;
    }
    out->docv_dt_v_per_k = row_at(cp->docv_dt_v_per_k, p->i_soc, p->w_soc, ns);
    bms_cell_eval_rc_at(cp, p, out);
}

void bms_cell_eval_rc_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p, bms_cell_eval_t *out)
{
    const uint32_t ns = cp->n_soc;
    const uint32_t nt = cp->n_temp;
    out->r0_ohm = bilerp(cp->r0_ohm, p, ns, nt);
    out->r1_ohm = bilerp(cp->r1_ohm, p, ns, nt);
    out->tau1_s = out->r1_ohm * bilerp(cp->c1_f, p, ns, nt);
    out->r2_ohm = bilerp(cp->r2_ohm, p, ns, nt);
    out->tau2_s = out->r2_ohm * bilerp(cp->c2_f, p, ns, nt);
}

float bms_cell_soc_from_ocv(const bms_cell_params_t *cp, float ocv_v, float temp_degc)
{
    const uint32_t ns = cp->n_soc;
    uint32_t it;
    float wt;
    bms_interp_locate(cp->temp_bp_degc, cp->n_temp, temp_degc, &it, &wt);
    const float *lo = cp->ocv_v[it];
    const float *hi = (cp->n_temp >= 2u) ? cp->ocv_v[it + 1u] : cp->ocv_v[it];
    float prev = lo[0] + wt * (hi[0] - lo[0]);
    if (!(ocv_v > prev)) {
        return cp->soc_bp[0];
    }
    for (uint32_t i = 1u; i < ns; i++) {
        float cur = lo[i] + wt * (hi[i] - lo[i]);
        if (ocv_v <= cur) {
            float f = (ocv_v - prev) / (cur - prev);
            return cp->soc_bp[i - 1u] + f * (cp->soc_bp[i] - cp->soc_bp[i - 1u]);
        }
        prev = cur;
    }
    return cp->soc_bp[ns - 1u];
}

bms_cell_rc_disc_t bms_cell_rc_disc(float r_ohm, float tau_s, float dt_s)
{
    bms_cell_rc_disc_t d;
    /* exact ZOH: v' = exp(-dt/tau) v + R (1 - exp(-dt/tau)) i */
    float em1 = bms_expm1f(-dt_s / tau_s);
    d.a = 1.0f + em1;
    d.b_ohm = -r_ohm * em1;
    return d;
}

float bms_cell_dsoc(const bms_cell_params_t *cp, float current_a, float dt_s)
{
    float eff = (current_a < 0.0f) ? cp->coulombic_eff : 1.0f;
    return -eff * current_a * dt_s / (3600.0f * cp->capacity_ah);
}

float bms_cell_ocv_slope(const bms_cell_params_t *cp, float soc, float temp_degc)
{
    const float lo = bms_clampf(soc - 0.02f, 0.0f, 1.0f);
    const float hi = bms_clampf(soc + 0.02f, 0.0f, 1.0f);
    return (bms_cell_ocv(cp, hi, temp_degc) - bms_cell_ocv(cp, lo, temp_degc)) / (hi - lo);
}
