/* State of power: the largest constant current per horizon and direction (sop.h).
 *
 * One cell, one direction: s = +1 discharge (limit vlim = cell_v_discharge_min_v), s = -1
 * charge (vlim = cell_v_charge_max_v), I >= 0 the current's magnitude, u_i = s v_i0 the
 * branch voltages in the direction's sense, e_i(t) = e^{-t/tau_i}. The margin to the limit
 * (>= 0: safe) under the step, with the OCV linear in the charge passed (slope k, V per
 * A s, coulombic efficiency on charge):
 *
 *   m(t) = s (OCV0 - vlim) - k I t - I R0 - sum_i [ I R_i + d_i e_i(t) ],  d_i = u_i - I R_i.
 *
 * Which points of [0, h] are checked, and why that suffices. Each branch term -d_i e_i(t) is
 * monotone: a branch moving towards the limit (d_i <= 0: it charges up to I R_i) is
 * decreasing in t (smallest at h); a branch relaxing away from it (d_i > 0: it carries more
 * polarisation than this current sustains, e.g. after a harder pulse) is increasing and
 * concave. The OCV term -k I t is linear (concave). So m = C + V with C (OCV drift + relaxing
 * branches) concave, whose minimum over [0, h] lies at 0 or h, and V (the other branches)
 * decreasing, whose minimum lies at h:
 *
 *   min m >= V(h) + min(C(0), C(h)) = min( m(h),  Z(I) ),
 *   Z(I) = s (OCV0 - vlim) - I R0 - sum_i max( u_i, I R_i (1 - e_i(h)) + u_i e_i(h) ),
 *
 * i.e. the end of the horizon, and "every branch at whichever end is worse for it, the OCV
 * at the start". It is the exact minimum when the branches all relax or all charge (m is
 * then concave or decreasing); with one of each it may be below the minimum (conservative).
 * m(h) and Z are decreasing in I (R0 > 0), so the largest safe I is the smallest root: of
 * m(h) (plan H) and of Z, which is the minimum of the linear functions obtained by choosing
 * one side of each max (a decreasing min of lines has the min of their roots as its root):
 * branch 1 at its start, branch 2 at its start, both (the instant step, t = 0); both at h
 * is plan H without the OCV drift, never smaller than plan H's root, so it is left out.
 *
 * The OCV is not linear. Plan H takes the real table at the end of the horizon (exact: at
 * one temperature the table is piecewise linear in the SoC, root_end walks its segments;
 * the drift taken from the SoC 1 sigma towards the limit, the filter's uncertainty), Z the
 * OCV at t = 0 (exact). In between, the argument above needs the OCV term concave in
 * t; where the drift towards the limit slows down within the window (the OCV flattens in
 * the drift's direction) the term lies below its chord between the two ends, and a minimum
 * inside may be lower than both ends by at most that gap: a slope change dk at one
 * breakpoint over a window dsoc gives <= dk dsoc / 4 (30 s at 5C: 4 % SoC, a 0.5 V/SoC
 * change: 5 mV; 10 s at 2C: < 1 mV), and only where Z (a relaxing branch) decides.
 * The parameters (R, tau) change with the SoC along the step, at the present temperature.
 * The bound holds them at their worst over the SoC window the step may sweep (the first
 * pass's current at the present parameters, the SoC's 1 sigma either side): each R at its
 * largest, and per branch v' = (R I - v) / tau compared with the constant-parameter branch:
 * charging (v below R_max I) it stays below R_max I + (v0 - R_max I) e^{-t/tau_min},
 * relaxing (above) below R_max I + (v0 - R_max I) e^{-t/tau_max}; both are the shapes the
 * argument above needs (monotone, the relaxing one convex). One line per branch covers both
 * cases: the slope R_max (1 - e_min(h)), the start value's factor e_max(h) where v0 lies on
 * the relaxing side of 0 (u > 0), else e_min(h).
 */
#include <stddef.h>

#include "bms/sop.h"
#include "bms/hysteresis.h"
#include "bms/bms_math.h"
#include "bms/cell_model.h"


#define SOP_BIG_A 1.0e9f
#define SOP_R_MIN_OHM 1.0e-9f
/* the OCV's drift is taken from the SoC this many of the filter's sigmas towards the limit */
#define SOP_SOC_SIGMAS 1.0f

static const float horizon_s[BMS_SOP_N_HORIZONS] = {BMS_SOP_H0_S, BMS_SOP_H1_S, BMS_SOP_H2_S};

static float minf(float a, float b)
{
    return (b < a) ? b : a;
}

static float nonneg(float x)
{
    return (x > 0.0f) ? x : 0.0f; /* NaN: 0 */
}

/* root of the line num - I den (den >= 0, 1 nohm added: a zero resistance gives a huge,
 * finite root; 1e-6 of a milliohm cell's) */
static float root(float num, float den)
{
    return num / (den + SOP_R_MIN_OHM);
}

/* e^{-h/tau} for the three horizons from one exp: the later horizons are whole multiples of
 * the first (10 = 5 x 2, 30 = 3 x 10; sop.h fixes them, test_sop checks the factors
 * against exp at each horizon). */
static void decay(float tau_s, float e[BMS_SOP_N_HORIZONS])
{
    const float e0 = bms_expf(-BMS_SOP_H0_S / tau_s);
    const float e02 = e0 * e0;
    e[0] = e0;
    e[1] = e02 * e02 * e0;
    e[2] = e[1] * e[1] * e[1];
}

/* Plan H on the real OCV: the largest I with m(h) = num_h - I r_h - D(I) >= 0, where D is the
 * OCV's drift towards the limit after the SoC window I soc_per_a (s (OCV0 - OCV(soc0 - s
 * window))). At one temperature the bilinear table is piecewise linear in the SoC with the
 * table's breakpoints, so D is piecewise linear in I: walk its segments from soc0 in the
 * drift's direction and solve the line of the segment the root lies in (exact; at most
 * n_soc segments, one OCV lookup each; past the table's end the OCV is flat, as the table
 * clamps). *d_end: D at the root. */
static float root_end(const bms_cell_params_t *cp, float soc0, const bms_cell_pt_t *p0, float ocv0, float s,
                      float num_h, float r_h, float soc_per_a, float *d_end)
{
    const uint32_t idx = p0->i_soc;
    bms_cell_pt_t pb = *p0; /* the breakpoints' points: soc0's temperature */
    float win_a = 0.0f;  /* the segment's start: SoC window ... */
    float d_a = 0.0f;    /* ... and drift there */
    float ocv_a = ocv0;
    /* the breakpoints from soc0's segment's upper end in the drift's direction (down on
     * discharge, up on charge); one not beyond soc0 that way opens no segment */
    int32_t next = (int32_t)idx + 1;
    const int32_t step = (s > 0.0f) ? -1 : 1;
    for (uint32_t n = 0u; n < cp->n_soc; n++) { /* bounded: at most every breakpoint once */
        if ((next < 0) || (next >= (int32_t)cp->n_soc)) {
            break;
        }
        const float soc_b = cp->soc_bp[next];
        const float win_b = s * (soc0 - soc_b);
        if (win_b > win_a) {
            bms_cell_locate_soc_bp(cp, (uint32_t)next, &pb);
            const float ocv_b = bms_cell_ocv_at(cp, &pb);
            const float k = nonneg((s * (ocv_a - ocv_b)) / (win_b - win_a));
            const float i = root((num_h - d_a) + (k * win_a), r_h + (k * soc_per_a));
            if ((i * soc_per_a) <= win_b) {
                *d_end = d_a + (k * ((i * soc_per_a) - win_a));
                return i;
            }
            d_a += k * (win_b - win_a);
            win_a = win_b;
            ocv_a = ocv_b;
        }
        next += step;
    }
    /* past the table's end: the OCV stays put */
    *d_end = d_a;
    return root(num_h - d_a, r_h);
}

/* The OCV at soc at pt's temperature. Its point lives only while it runs: in bms_sop_cell's
 * frame it would add to the deepest path of bms_step (the firmware's stack: test_qemu) */
BMS_NOINLINE static float ocv_at_soc(const bms_cell_params_t *cp, const bms_cell_pt_t *pt, float soc)
{
    bms_cell_pt_t p = *pt;
    bms_cell_locate_soc_near(cp, soc, &p);
    return bms_cell_ocv_at(cp, &p);
}

/* The parameters one step over one horizon is predicted with: the resistances, and per RC
 * branch the decay factor e^{-h/tau} at the shortest (lo) and the longest (hi) time
 * constant the SoC window holds (at the present SoC: one tau, lo = hi). */
typedef struct {
    float r0_ohm;
    float r1_ohm;
    float r2_ohm;
    float e_lo[2];
    float e_hi[2];
} sop_par_t;

/* The window's extremes (sop_window): the largest resistances, each branch's tau range. */
typedef struct {
    float r_max_ohm[3];
    float tau_min_s[2];
    float tau_max_s[2];
} sop_win_t;

static float maxf(float a, float b)
{
    return (b > a) ? b : a;
}

/* tau = R C with R and C linear between two neighbouring points of the window (a, b): a
 * quadratic, whose extremum may lie inside (the ends are counted by the caller) */
static void tau_inside(float ra, float rb, float ca, float cb, float *tmin, float *tmax)
{
    const float dr = rb - ra;
    const float dc = cb - ca;
    const float q = dr * dc;
    if (q != 0.0f) {
        const float t = -((ra * dc) + (ca * dr)) / (2.0f * q);
        if ((t > 0.0f) && (t < 1.0f)) {
            const float tau = (ra + (t * dr)) * (ca + (t * dc));
            *tmin = minf(*tmin, tau);
            *tmax = maxf(*tmax, tau);
        }
    }
}

/* The end of the window a direction's three horizons share (discharge: the upper, the
 * present SoC + 1 sigma; charge: the lower), evaluated once per direction: what
 * bms_cell_eval_rc_at gave there, and its segment */
typedef struct {
    float soc;
    float r_ohm[3];
    float tau_s[2];
    uint32_t i_soc;
    uint32_t have;
} sop_end_t;

/* The parameters at x (p: located there, its temperature kept); end (NULL: none) holds them
 * for the next window with the same end */
static void window_point(const bms_cell_params_t *cp, float x, bms_cell_pt_t *p, bms_cell_eval_t *ev,
                         sop_end_t *end)
{
    if ((end != NULL) && (end->have != 0u) && (x == end->soc)) {
        p->i_soc = end->i_soc;
        ev->r0_ohm = end->r_ohm[0];
        ev->r1_ohm = end->r_ohm[1];
        ev->r2_ohm = end->r_ohm[2];
        ev->tau1_s = end->tau_s[0];
        ev->tau2_s = end->tau_s[1];
        return;
    }
    bms_cell_locate_soc_near(cp, x, p);
    bms_cell_eval_rc_at(cp, p, ev);
    if (end != NULL) {
        end->soc = x;
        end->r_ohm[0] = ev->r0_ohm;
        end->r_ohm[1] = ev->r1_ohm;
        end->r_ohm[2] = ev->r2_ohm;
        end->tau_s[0] = ev->tau1_s;
        end->tau_s[1] = ev->tau2_s;
        end->i_soc = p->i_soc;
        end->have = 1u;
    }
}

/* The parameters over the SoC window [lo, hi] at one temperature: the tables are piecewise
 * linear in the SoC there (the table's breakpoints), so R's largest value lies at an end
 * or a breakpoint, and tau = R C's extremes there or at a vertex inside a segment. */
/* sop_window's frame (a table point's evaluation) lives only while it runs: inlined into
 * bms_sop_cell it would add to the deepest path of bms_step (the firmware's stack: test_qemu) */
/* end: the shared end (at hi if end_hi, else at lo; NULL: none) */
BMS_NOINLINE static void sop_window(const bms_cell_params_t *cp, float lo, float hi, const bms_cell_pt_t *pt,
                                    sop_win_t *w, sop_end_t *end, uint32_t end_hi)
{
    bms_cell_eval_t ev;
    bms_cell_pt_t p = *pt; /* the temperature located once (the caller's), the SoC here */
    window_point(cp, lo, &p, &ev, (end_hi != 0u) ? NULL : end);
    const uint32_t idx = p.i_soc;
    w->r_max_ohm[0] = ev.r0_ohm;
    w->r_max_ohm[1] = ev.r1_ohm;
    w->r_max_ohm[2] = ev.r2_ohm;
    w->tau_min_s[0] = ev.tau1_s;
    w->tau_max_s[0] = ev.tau1_s;
    w->tau_min_s[1] = ev.tau2_s;
    w->tau_max_s[1] = ev.tau2_s;
    float r1 = ev.r1_ohm;
    float r2 = ev.r2_ohm;
    float c1 = ev.tau1_s / ev.r1_ohm;
    float c2 = ev.tau2_s / ev.r2_ohm;
    /* the breakpoints inside (lo, hi), then hi; bounded by the table's length */
    for (uint32_t k = idx + 1u; k < cp->n_soc; k++) {
        const uint32_t last = (cp->soc_bp[k] < hi) ? 0u : 1u;
        if (last != 0u) {
            window_point(cp, hi, &p, &ev, (end_hi != 0u) ? end : NULL);
        } else {
            bms_cell_locate_soc_bp(cp, k, &p);
            bms_cell_eval_rc_at(cp, &p, &ev);
        }
        const float nc1 = ev.tau1_s / ev.r1_ohm;
        const float nc2 = ev.tau2_s / ev.r2_ohm;
        w->r_max_ohm[0] = maxf(w->r_max_ohm[0], ev.r0_ohm);
        w->r_max_ohm[1] = maxf(w->r_max_ohm[1], ev.r1_ohm);
        w->r_max_ohm[2] = maxf(w->r_max_ohm[2], ev.r2_ohm);
        w->tau_min_s[0] = minf(w->tau_min_s[0], ev.tau1_s);
        w->tau_max_s[0] = maxf(w->tau_max_s[0], ev.tau1_s);
        w->tau_min_s[1] = minf(w->tau_min_s[1], ev.tau2_s);
        w->tau_max_s[1] = maxf(w->tau_max_s[1], ev.tau2_s);
        tau_inside(r1, ev.r1_ohm, c1, nc1, &w->tau_min_s[0], &w->tau_max_s[0]);
        tau_inside(r2, ev.r2_ohm, c2, nc2, &w->tau_min_s[1], &w->tau_max_s[1]);
        r1 = ev.r1_ohm;
        r2 = ev.r2_ohm;
        c1 = nc1;
        c2 = nc2;
        if (last != 0u) {
            break;
        }
    }
}

void bms_sop_window(const bms_config_t *cfg, float lo_soc, float hi_soc, float temp_degc, float r_max_ohm[3],
                    float tau_min_s[2], float tau_max_s[2])
{
    sop_win_t w;
    bms_cell_pt_t pt;
    bms_cell_locate_temp(&cfg->cell, temp_degc, &pt);
    sop_window(&cfg->cell, lo_soc, hi_soc, &pt, &w, NULL, 0u);
    r_max_ohm[0] = w.r_max_ohm[0];
    r_max_ohm[1] = w.r_max_ohm[1];
    r_max_ohm[2] = w.r_max_ohm[2];
    tau_min_s[0] = w.tau_min_s[0];
    tau_min_s[1] = w.tau_min_s[1];
    tau_max_s[0] = w.tau_max_s[0];
    tau_max_s[1] = w.tau_max_s[1];
}

/* One direction, one horizon: the largest safe I with each branch bounded as sop.c's head
 * says (R at its largest; a branch charging towards I R at the shortest time constant, one
 * relaxing from above at the longest). c0 = s (v0 - vlim), v0 the OCV the step starts from
 * (with the measurement's shift). *r_h: the resistance at the horizon's end it took. */
static float sop_solve(const bms_cell_params_t *cp, const bms_sop_cell_in_t *c, const sop_par_t *p, float s,
                       float c0, float soc_d, const bms_cell_pt_t *pd, float ocv_d, float soc_per_a, float *r_h_ohm)
{
    const float r0 = p->r0_ohm * c->r_scale;
    const float r1 = p->r1_ohm * c->r_scale;
    const float r2 = p->r2_ohm * c->r_scale;
    const float u1 = s * c->v_rc1_v;
    const float u2 = s * c->v_rc2_v;
    /* the slope's factor at the shortest tau (the most charge-up); the start value's decay at
     * the longest tau where it is above the target (a relaxing branch keeps more) */
    const float g1 = 1.0f - p->e_lo[0];
    const float g2 = 1.0f - p->e_lo[1];
    const float e1 = (u1 > 0.0f) ? p->e_hi[0] : p->e_lo[0];
    const float e2 = (u2 > 0.0f) ? p->e_hi[1] : p->e_lo[1];
    const float r_h = r0 + (r1 * g1) + (r2 * g2);
    const float num_h = c0 - (u1 * e1) - (u2 * e2);
    /* Z: a relaxing branch at its start, the OCV at t = 0 */
    float i_z = root(c0 - u1 - u2, r0);
    i_z = minf(i_z, root(c0 - u1 - (u2 * e2), r0 + (r2 * g2)));
    i_z = minf(i_z, root(c0 - (u1 * e1) - u2, r0 + (r1 * g1)));
    /* H: the end of the horizon on the real OCV */
    float d_end;
    const float i_h = root_end(cp, soc_d, pd, ocv_d, s, num_h, r_h, soc_per_a, &d_end);
    *r_h_ohm = r_h;
    return nonneg(minf(i_z, i_h));
}

/* One (direction, horizon) of a cell folded into the pack's figures: the smallest current (a
 * NaN cell result makes the pack's 0: no value it cannot vouch for), the lines summed */
static void fold(bms_sop_acc_t *acc, uint32_t d, uint32_t h, float i_a, float a_v, float b_ohm)
{
    acc->i_a[d][h] = (i_a < acc->i_a[d][h]) ? i_a : ((i_a >= 0.0f) ? acc->i_a[d][h] : 0.0f);
    acc->a_v[d][h] += a_v;
    acc->b_ohm[d][h] += b_ohm;
}

/* bms_sop_cell's work: folded into acc as they come, or (acc NULL) the results into o */
static void sop_cell(const bms_config_t *cfg, const bms_sop_cell_in_t *c, bms_sop_cell_out_t *o,
                     bms_sop_acc_t *acc)
{
    const bms_cell_params_t *cp = &cfg->cell;
    bms_cell_eval_t ev;
    /* every table evaluation below is at the cell's temperature: located once */
    bms_cell_pt_t pt;
    bms_cell_locate_temp(cp, c->temp_degc, &pt);
    bms_cell_locate_soc(cp, c->soc, &pt);
    bms_cell_eval_at(cp, &pt, &ev);
    /* charge per unit SoC (A s) */
    const float q_as = 3600.0f * cp->capacity_ah * c->cap_scale;
    /* Closed on the measurement, as the CCL's headroom is (current_limit.c): where the cell
     * reads lower than the model says at the present current, a discharge step starts from
     * there (higher: a charge step); the other way the model stands. The gap is a state error
     * (the polarisation or the SoC the filter has not caught up with: it decays or stays
     * over the horizon, so holding it is on the safe side) or the resistance's at the present
     * current (the resistance bound's part). */
    float gap_v = c->v_meas_v - ((ev.ocv_v + c->hyst_v) - c->v_rc1_v - c->v_rc2_v - (c->i_now_a * ev.r0_ohm * c->r_scale));
    gap_v = (bms_isfinitef(gap_v) != 0) ? gap_v : 0.0f;
    /* the present time constants' decay at each horizon (one exp each) */
    float e1[BMS_SOP_N_HORIZONS];
    float e2[BMS_SOP_N_HORIZONS];
    decay(ev.tau1_s, e1);
    decay(ev.tau2_s, e2);
    const float sig = nonneg(c->soc_sigma);
    const float lo_bp = cp->soc_bp[0];
    const float hi_bp = cp->soc_bp[cp->n_soc - 1u];
    for (uint32_t dir = 0u; dir < 2u; dir++) {
        const float s = (dir == BMS_SOP_DIS) ? 1.0f : -1.0f;
        const float eta = (dir == BMS_SOP_CHG) ? cp->coulombic_eff : 1.0f;
        const float vlim = (dir == BMS_SOP_DIS) ? cfg->charge.cell_v_discharge_min_v : cfg->charge.cell_v_charge_max_v;
        /* the gap towards this direction's limit only */
        const float shift_v = (dir == BMS_SOP_DIS) ? minf(gap_v, 0.0f) : -minf(-gap_v, 0.0f);
        /* the hysteresis at the end of its travel in this direction (the branch a charge
         * leads to lies above the table by m + m0, a discharge's below; hysteresis.h): on the
         * safe side for any horizon, exact once h has turned over */
        const float v0 = (ev.ocv_v + (s * -bms_hyst_band_v(cp, c->temp_degc))) + shift_v;
        const float c0 = s * (v0 - vlim);
        /* where the SoC may be (1 sigma towards this limit): near the ends the OCV steepens
         * towards the limit, and a SoC estimate a few tenths of a per cent high there makes the
         * drift over the horizon tens of mV too small (LFP at 5 %: 0.26 % SoC, 0.7 sigma, took
         * a cell 12 mV below its floor at 0 sigma; 2 sigma made the SoP 11 % conservative
         * there, against the property's 10 %: tests/properties/test_sop_properties.py) */
        const float soc_d = c->soc - (s * SOP_SOC_SIGMAS * sig); /* the tables clamp */
        bms_cell_locate_soc_near(cp, soc_d, &pt); /* pt: soc_d's point from here (its temperature kept) */
        const float ocv_d = bms_cell_ocv_at(cp, &pt);
        /* no window's current beyond the limit's other terms: the pack's SoP is capped there */
        const float cap = (c->cap_a[dir] >= 0.0f) ? c->cap_a[dir] : SOP_BIG_A; /* NaN: none */
        sop_end_t end = {0.0f, {0.0f, 0.0f, 0.0f}, {0.0f, 0.0f}, 0u, 0u}; /* the windows' shared end */
        for (uint32_t h = 0u; h < BMS_SOP_N_HORIZONS; h++) {
            const float soc_per_a = (eta * horizon_s[h]) / q_as; /* SoC per ampere over the horizon */
            /* 1: at the present parameters */
            sop_par_t p = {ev.r0_ohm, ev.r1_ohm, ev.r2_ohm, {e1[h], e2[h]}, {e1[h], e2[h]}};
            float r_h;
            const float i1 = sop_solve(cp, c, &p, s, c0, soc_d, &pt, ocv_d, soc_per_a, &r_h);
            /* The parameters change with the SoC along the step (LFP's R2 doubles from 25 %
             * to 20 %): held at the present SoC, a 7C step from 25 % took a cell 10 mV past
             * its floor (tests/properties/test_sop_properties.py). 2: over the window the
             * first pass's current sweeps (no smaller than any the window's parameters allow,
             * as they are no smaller) and the SoC's 1 sigma either side. */
            const float win = minf(minf(i1, cap) * soc_per_a, 1.0f);
            const float lo = bms_clampf(c->soc - sig - ((s > 0.0f) ? win : 0.0f), lo_bp, hi_bp);
            const float hi = bms_clampf(c->soc + sig + ((s > 0.0f) ? 0.0f : win), lo_bp, hi_bp);
            sop_win_t w;
            sop_window(cp, lo, hi, &pt, &w, &end, (s > 0.0f) ? 1u : 0u);
            p.r0_ohm = w.r_max_ohm[0];
            p.r1_ohm = w.r_max_ohm[1];
            p.r2_ohm = w.r_max_ohm[2];
            p.e_lo[0] = bms_expf(-horizon_s[h] / w.tau_min_s[0]);
            p.e_hi[0] = bms_expf(-horizon_s[h] / w.tau_max_s[0]);
            p.e_lo[1] = bms_expf(-horizon_s[h] / w.tau_min_s[1]);
            p.e_hi[1] = bms_expf(-horizon_s[h] / w.tau_max_s[1]);
            float r_w;
            const float i = sop_solve(cp, c, &p, s, c0, soc_d, &pt, ocv_d, soc_per_a, &r_w);
            /* the end voltage at this current as a line through it (the power): the
             * expectation at the present parameters, the OCV's drift to the answer */
            const float drift = s * (ocv_d - ocv_at_soc(cp, &pt, soc_d - (s * i * soc_per_a)));
            const float a_v = v0 - (c->v_rc1_v * e1[h]) - (c->v_rc2_v * e2[h]);
            const float b_ohm = r_h + ((i > 0.0f) ? (drift / i) : (nonneg(ev.docv_dsoc_v) * soc_per_a));
            if (acc != NULL) {
                fold(acc, dir, h, i, a_v, b_ohm);
            } else if (o != NULL) {
                o->i_a[dir][h] = i;
                o->a_v[dir][h] = a_v;
                o->b_ohm[dir][h] = b_ohm;
            } else {
                /* neither: nothing asked for */
            }
        }
    }
}

void bms_sop_cell(const bms_config_t *cfg, const bms_sop_cell_in_t *c, bms_sop_cell_out_t *o)
{
    sop_cell(cfg, c, o, NULL);
}

void bms_sop_cell_fold(const bms_config_t *cfg, const bms_sop_cell_in_t *c, bms_sop_acc_t *acc)
{
    sop_cell(cfg, c, NULL, acc);
}

void bms_sop_acc_init(bms_sop_acc_t *acc)
{
    for (uint32_t d = 0u; d < 2u; d++) {
        for (uint32_t h = 0u; h < BMS_SOP_N_HORIZONS; h++) {
            acc->i_a[d][h] = SOP_BIG_A;
            acc->a_v[d][h] = 0.0f;
            acc->b_ohm[d][h] = 0.0f;
        }
    }
}

void bms_sop_acc_cell(bms_sop_acc_t *acc, const bms_sop_cell_out_t *o)
{
    for (uint32_t d = 0u; d < 2u; d++) {
        for (uint32_t h = 0u; h < BMS_SOP_N_HORIZONS; h++) {
            fold(acc, d, h, o->i_a[d][h], o->a_v[d][h], o->b_ohm[d][h]);
        }
    }
}

float bms_sop_r_scale(float g, float r_sigma, float floor_scale)
{
    const float up = g + (3.0f * r_sigma);
    return (up > floor_scale) ? up : floor_scale; /* NaN: the floor */
}

uint32_t bms_sop_zeroed(uint32_t limiting)
{
    return ((limiting == (uint32_t)BMS_LIM_FAULT) || (limiting == (uint32_t)BMS_LIM_NO_DATA)
            || (limiting == (uint32_t)BMS_LIM_CONTACTOR) || (limiting == (uint32_t)BMS_LIM_TEMP_WINDOW)
            || (limiting == (uint32_t)BMS_LIM_COMPLETE))
               ? 1u
               : 0u;
}

float bms_sop_cap(const bms_limit_terms_t *t)
{
    return nonneg(minf(minf(t->map_a, t->derate_a), minf(t->plating_a, t->hardware_a)));
}

void bms_sop_finish(const bms_sop_acc_t *acc, const float cap_a[2], const uint32_t zero[2],
                    float chg_a[BMS_SOP_N_HORIZONS], float dis_a[BMS_SOP_N_HORIZONS],
                    float chg_w[BMS_SOP_N_HORIZONS], float dis_w[BMS_SOP_N_HORIZONS])
{
    for (uint32_t h = 0u; h < BMS_SOP_N_HORIZONS; h++) {
        const float ic = (zero[BMS_SOP_CHG] != 0u) ? 0.0f : nonneg(minf(acc->i_a[BMS_SOP_CHG][h], cap_a[BMS_SOP_CHG]));
        const float id = (zero[BMS_SOP_DIS] != 0u) ? 0.0f : nonneg(minf(acc->i_a[BMS_SOP_DIS][h], cap_a[BMS_SOP_DIS]));
        chg_a[h] = ic;
        dis_a[h] = id;
        /* the pack's terminal voltage at the horizon's end at that current */
        chg_w[h] = nonneg(ic * (acc->a_v[BMS_SOP_CHG][h] + (acc->b_ohm[BMS_SOP_CHG][h] * ic)));
        dis_w[h] = nonneg(id * (acc->a_v[BMS_SOP_DIS][h] - (acc->b_ohm[BMS_SOP_DIS][h] * id)));
    }
}
