/* Passive cell balancing and the balancing-switch test (see balancing.h). */
#include "bms/balancing.h"
#include "bms/bms_math.h"

#include <math.h> /* NAN only: no libm calls */

_Static_assert(BMS_BAL_MASK_BYTES * 8 >= BMS_MAX_CELLS, "one bit per cell");

static uint32_t bit_get(const uint8_t *m, uint32_t i)
{
    return ((uint32_t)m[i >> 3u] >> (i & 7u)) & 1u;
}

static void bit_set(uint8_t *m, uint32_t i, uint32_t v)
{
    const uint8_t b = (uint8_t)(1u << (i & 7u));
    if (v != 0u) {
        m[i >> 3u] = (uint8_t)(m[i >> 3u] | b);
    } else {
        m[i >> 3u] = (uint8_t)(m[i >> 3u] & (uint8_t)~b);
    }
}

static void mask_clear(uint8_t *m)
{
    for (uint32_t k = 0u; k < (uint32_t)BMS_BAL_MASK_BYTES; k++) {
        m[k] = 0u;
    }
}

void bms_bal_reset(bms_bal_t *b)
{
    mask_clear(b->on);
    mask_clear(b->cmd);
    mask_clear(b->failed);
    for (uint32_t k = 0u; k < BMS_BAL_TEST_CELLS; k++) {
        b->test_v[k] = 0.0f;
    }
    b->test_i_a = 0.0f;
    b->test_ref_v = NAN;
    b->test_wait_ms = 0u;
    b->budget_ms = 0u;
    b->test_group = 0u;
    b->test_phase = (uint8_t)BMS_BAL_TEST_IDLE;
    b->sweeping = 0u;
    b->n_on = 0u;
}

void bms_bal_halt(bms_bal_t *b)
{
    mask_clear(b->cmd);
    b->n_on = 0u;
    b->test_phase = (uint8_t)BMS_BAL_TEST_IDLE; /* the sweep stands: its group is tested again */
}

float bms_bal_step_v(const bms_config_t *cfg, float cell_v)
{
    return 2.0f * cfg->bal.sense_wire_ohm * cell_v / cfg->bal.bleed_ohm;
}

float bms_bal_bleed_a(const bms_bal_t *b, const bms_config_t *cfg, uint32_t cell, float cell_v)
{
    if ((cell >= cfg->pack.n_cells) || (bit_get(b->cmd, cell) == 0u) || (bms_isfinitef(cell_v) == 0)
        || (cell_v <= 0.0f)) {
        return 0.0f;
    }
    /* the resistor and both sense lines in series */
    return cell_v / (cfg->bal.bleed_ohm + (2.0f * cfg->bal.sense_wire_ohm));
}

uint32_t bms_bal_test_pending(const bms_bal_t *b)
{
    return (b->test_phase == (uint8_t)BMS_BAL_TEST_ON) ? 1u : 0u;
}

/* Spacing of a test group's cells: never two neighbours (a neighbour's own switch would
 * shift the reading by R_w V / R_b), and no more than max_per_module of a module. */
static uint32_t test_stride(const bms_config_t *cfg)
{
    const uint32_t m = cfg->bal.cells_per_module;
    const uint32_t nmax = cfg->bal.max_per_module;
    const uint32_t s = (m + nmax - 1u) / nmax;
    return (s > 3u) ? s : 3u;
}

static uint32_t test_groups(const bms_config_t *cfg)
{
    const uint32_t s = test_stride(cfg);
    const uint32_t block = s * BMS_BAL_TEST_CELLS;
    return ((cfg->pack.n_cells + block - 1u) / block) * s;
}

/* The k-th cell of group g (>= n_cells: none). */
static uint32_t group_cell(const bms_config_t *cfg, uint32_t g, uint32_t k)
{
    const uint32_t s = test_stride(cfg);
    return ((g / s) * s * BMS_BAL_TEST_CELLS) + (g % s) + (s * k);
}

static int32_t cell_usable(const bms_bal_input_t *in, uint32_t i)
{
    return ((in->cell_flags[i] == 0u) && (bms_isfinitef(in->cell_v[i]) != 0)) ? 1 : 0;
}

/* A cell the decision may use: its reading usable and its SoC known to within
 * bal.soc_sigma_max (an LFP cell on its plateau with nothing stored is not: it is neither
 * bled nor taken as the reference until the estimators know where it is). */
static int32_t cell_known(const bms_config_t *cfg, const bms_bal_input_t *in, uint32_t i)
{
    const float s = cfg->bal.soc_sigma_max;
    return ((cell_usable(in, i) != 0) && (bms_isfinitef(in->ekf[i].soc) != 0) && (in->ekf[i].p[0] <= (s * s)))
               ? 1
               : 0;
}

/* Judge the group whose switches were on during this sample's conversion. */
/* The mean reading of the usable cells neither in the test group (the switches commanded in
 * b->cmd) nor next to one (a tested cell's bleed current through the shared sense line raises
 * its neighbours' readings): what a change of the pack current moves alike in every cell;
 * NaN: none. */
static float untested_mean_v(const bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in)
{
    const uint32_t n = cfg->pack.n_cells;
    float sum_v = 0.0f;
    uint32_t n_ref = 0u;
    for (uint32_t i = 0u; i < n; i++) {
        const uint32_t near = bit_get(b->cmd, i) | ((i > 0u) ? bit_get(b->cmd, i - 1u) : 0u)
                              | (((i + 1u) < n) ? bit_get(b->cmd, i + 1u) : 0u);
        if ((near == 0u) && (cell_usable(in, i) != 0)) {
            sum_v += in->cell_v[i];
            n_ref++;
        }
    }
    return (n_ref > 0u) ? (sum_v / (float)n_ref) : NAN;
}

static void test_judge(bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in)
{
    /* the tested cells' drop less the untested ones': a current change inside the steadiness
     * band (the sensor's, not the cell's) moves a small cell's reading by di x R, as much as
     * the step itself; it moves every cell alike. Without an untested cell: the raw drop. */
    const float ref_now_v = untested_mean_v(b, cfg, in);
    const float common_v = ((bms_isfinitef(b->test_ref_v) != 0) && (bms_isfinitef(ref_now_v) != 0))
                               ? (b->test_ref_v - ref_now_v)
                               : 0.0f;
    const float di = in->current_a - b->test_i_a;
    const int32_t steady = ((bms_isfinitef(di) != 0) && (di <= cfg->bal.test_di_max_a)
                            && (-di <= cfg->bal.test_di_max_a) && (in->fresh != 0u)) ? 1 : 0;
    for (uint32_t k = 0u; k < BMS_BAL_TEST_CELLS; k++) {
        const uint32_t i = group_cell(cfg, b->test_group, k);
        if (i >= cfg->pack.n_cells) {
            break;
        }
        if ((steady == 0) || (cell_usable(in, i) == 0) || (bms_isfinitef(b->test_v[k]) == 0)) {
            continue; /* no verdict */
        }
        const float drop_v = (b->test_v[k] - in->cell_v[i]) - common_v;
        bit_set(b->failed, i, (drop_v < (0.5f * bms_bal_step_v(cfg, in->cell_v[i]))) ? 1u : 0u);
    }
    b->test_group++;
    if ((uint32_t)b->test_group >= test_groups(cfg)) {
        b->test_group = 0u;
        b->sweeping = 0u;
        b->test_wait_ms = 0u;
    }
    b->test_phase = (uint8_t)BMS_BAL_TEST_IDLE;
}

/* Keep the group's readings (switches paused during this conversion) and command only
 * its switches on for a conversion with discharge permitted. */
static void test_start(bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in)
{
    mask_clear(b->cmd);
    b->n_on = 0u;
    for (uint32_t k = 0u; k < BMS_BAL_TEST_CELLS; k++) {
        const uint32_t i = group_cell(cfg, b->test_group, k);
        if (i >= cfg->pack.n_cells) {
            break;
        }
        /* a cell whose reading is unusable is neither judged nor switched */
        if (cell_usable(in, i) != 0) {
            b->test_v[k] = in->cell_v[i];
            bit_set(b->cmd, i, 1u);
            b->n_on++;
        } else {
            b->test_v[k] = NAN;
        }
    }
    b->test_i_a = in->current_a;
    b->test_ref_v = untested_mean_v(b, cfg, in);
    b->test_phase = (uint8_t)BMS_BAL_TEST_ON;
}

/* The pack rests or charges slowly (a known current within the bands balancing runs in). */
static int32_t quiet(const bms_config_t *cfg, float i)
{
    const int32_t rest = ((i <= cfg->bal.rest_current_a) && (-i <= cfg->bal.rest_current_a)) ? 1 : 0;
    const int32_t slow_charge = ((i < 0.0f) && (-i <= cfg->bal.charge_current_max_a)) ? 1 : 0;
    return ((bms_isfinitef(i) != 0) && ((rest != 0) || (slow_charge != 0))) ? 1 : 0;
}

/* Balancing may run now (the decision's gates that hold for the whole pack). */
static int32_t allowed(const bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in)
{
    const bms_balance_params_t *p = &cfg->bal;
    if ((p->mode == (uint32_t)BMS_BAL_OFF) || (in->estimates_ok == 0u) || (in->faults_latched != 0u)
        || (quiet(cfg, in->current_a) == 0) || (bms_isfinitef(in->temp_max_degc) == 0)
        || !(in->temp_max_degc < p->temp_max_degc)) {
        return 0;
    }
    return ((float)b->budget_ms < (p->rest_budget_s * 1000.0f)) ? 1 : 0;
}

/* A cell balancing may bleed: known, and its reading above the discharge floor (bleeding
 * never takes a cell towards its undervoltage limit). */
static int32_t bleedable(const bms_config_t *cfg, const bms_bal_input_t *in, uint32_t i)
{
    return ((cell_known(cfg, in, i) != 0) && (in->cell_v[i] > cfg->charge.cell_v_discharge_min_v)) ? 1 : 0;
}

/* The charge (fraction of the model's capacity) that counts: top balancing, what a cell
 * misses to full (the reference is the largest); bottom, what it holds (the smallest). */
static float cell_charge(const bms_config_t *cfg, const bms_bal_input_t *in, uint32_t i)
{
    const float c = bms_soh_cap_scale(in->soh, i);
    const float soc = in->ekf[i].soc;
    return (cfg->bal.mode == (uint32_t)BMS_BAL_TOP) ? ((1.0f - soc) * c) : (soc * c);
}

/* A cell's excess over the reference (>= 0 for any cell when the reference is right). */
static float excess(const bms_config_t *cfg, float q_i, float q_ref)
{
    return (cfg->bal.mode == (uint32_t)BMS_BAL_TOP) ? (q_ref - q_i) : (q_i - q_ref);
}

/* The reference cell (-1: none usable). */
static int32_t reference(const bms_config_t *cfg, const bms_bal_input_t *in)
{
    int32_t ref = -1;
    float q_ref = 0.0f;
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        if (cell_known(cfg, in, i) == 0) {
            continue;
        }
        const float q = cell_charge(cfg, in, i);
        if ((ref < 0) || (excess(cfg, q, q_ref) < 0.0f)) {
            ref = (int32_t)i;
            q_ref = q;
        }
    }
    return ref;
}

/* Decide each module's bleeding cells: those on stay on above the stop threshold, then
 * the largest excesses above the start threshold, up to max_per_module. */
static void decide(bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in)
{
    const bms_balance_params_t *p = &cfg->bal;
    const uint32_t n = cfg->pack.n_cells;
    const int32_t ref = reference(cfg, in);
    if (ref < 0) {
        mask_clear(b->on);
        return;
    }
    const float q_ref = cell_charge(cfg, in, (uint32_t)ref);
    for (uint32_t m0 = 0u; m0 < n; m0 += p->cells_per_module) {
        const uint32_t m1 = ((m0 + p->cells_per_module) < n) ? (m0 + p->cells_per_module) : n;
        uint32_t count = 0u;
        for (uint32_t i = m0; i < m1; i++) {
            uint32_t keep = 0u;
            if ((bit_get(b->on, i) != 0u) && (i != (uint32_t)ref) && (bleedable(cfg, in, i) != 0)
                && (count < p->max_per_module)) {
                keep = (excess(cfg, cell_charge(cfg, in, i), q_ref) > p->stop_dsoc) ? 1u : 0u;
            }
            bit_set(b->on, i, keep);
            count += keep;
        }
        for (uint32_t round = count; round < p->max_per_module; round++) {
            int32_t best = -1;
            float best_x = 0.0f;
            for (uint32_t i = m0; i < m1; i++) {
                if ((bit_get(b->on, i) != 0u) || (i == (uint32_t)ref) || (bleedable(cfg, in, i) == 0)) {
                    continue;
                }
                const float x = excess(cfg, cell_charge(cfg, in, i), q_ref);
                if ((x > p->start_dsoc) && ((best < 0) || (x > best_x))) {
                    best = (int32_t)i;
                    best_x = x;
                }
            }
            if (best < 0) {
                break;
            }
            bit_set(b->on, (uint32_t)best, 1u);
        }
    }
}

/* The switch test may run: balancing configured, nothing latched, the estimators running
 * on a known current (the test judges the current's steadiness itself); whatever the
 * current, so that a switch stuck on is found during a charge too, where its reading
 * shifted low would hide an overvoltage. */
static int32_t test_allowed(const bms_config_t *cfg, const bms_bal_input_t *in)
{
    return ((cfg->bal.mode != (uint32_t)BMS_BAL_OFF) && (in->estimates_ok != 0u) && (in->faults_latched == 0u)
            && (bms_isfinitef(in->current_a) != 0)) ? 1 : 0;
}

int32_t bms_bal_step(bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in, uint32_t *failed_cell)
{
    const uint32_t n = cfg->pack.n_cells;
    if (in->dt_ms > 0u) {
        const int32_t ok = allowed(b, cfg, in);
        const int32_t test_ok = test_allowed(cfg, in);
        const int32_t judged = (b->test_phase == (uint8_t)BMS_BAL_TEST_ON) ? 1 : 0;
        if (judged != 0) {
            test_judge(b, cfg, in);
        }
        if (ok == 0) {
            mask_clear(b->on);
            if (quiet(cfg, in->current_a) == 0) {
                b->budget_ms = 0u; /* the pack is in use: a new budget for the next rest */
            }
        } else {
            decide(b, cfg, in);
        }
        /* a sweep the test may not run in (a latch, the estimators) pauses and goes on with
         * the same group once it may: its interval has passed */
        if ((test_ok != 0) && (b->sweeping == 0u)) {
            b->test_wait_ms += in->dt_ms;
            if (b->test_wait_ms >= cfg->bal.test_interval_ms) {
                b->sweeping = 1u;
            }
        }
        /* the next interval's switches: the decision, or a test group (never in the step
         * that judged the last group: this step's readings come from the conversion with
         * discharge permitted, the saved ones must be from one with the switches paused) */
        if ((test_ok != 0) && (b->sweeping != 0u) && (in->fresh != 0u) && (judged == 0)) {
            test_start(b, cfg, in);
        } else {
            b->n_on = 0u;
            for (uint32_t k = 0u; k < (uint32_t)BMS_BAL_MASK_BYTES; k++) {
                b->cmd[k] = b->on[k];
            }
            for (uint32_t i = 0u; i < n; i++) {
                b->n_on = (uint16_t)(b->n_on + bit_get(b->cmd, i));
            }
        }
        if ((ok != 0) && (b->n_on > 0u)) {
            b->budget_ms += in->dt_ms;
        }
    }
    /* A verdict stands only on a reading the firmware still trusts: a frozen reading shows no
     * step when its switch toggles, exactly as a switch that does not act, and the test may
     * judge through it before plausibility condemns it (stuck_repeats_min samples). Once the
     * reading is condemned the verdict goes with it (the reading's own fault says what failed);
     * a later test judges the switch again once the reading is usable. */
    uint32_t first = n;
    for (uint32_t i = 0u; i < n; i++) {
        if (cell_usable(in, i) == 0) {
            bit_set(b->failed, i, 0u);
        } else if ((bit_get(b->failed, i) != 0u) && (first == n)) {
            first = i;
        }
    }
    *failed_cell = (first < n) ? first : 0u;
    return (first < n) ? 1 : 0;
}
