/*
 * Config fuzz, host sweep (`make fuzz-config`; gcc, no sanitizer runtime needed):
 *
 *   config_sweep N SEED.bin [SEED.bin ...]
 *
 * SEED.bin are shipped configurations (bms_config_t images, written by hil/fuzz_seeds.py).
 * Phase 1: every field of the bounds table x extreme values (0, -0, +-1e-30, +-1e30, NaN,
 * +-inf, 1, -1, each bound, the next float past each bound, half / twice the bound), set on
 * the whole field and on one element, on every seed (integer fields: 0, 1, 2, the maxima and
 * one past, 2^32-1). Phase 2, up to N in all: random multi-field perturbations of the seeds
 * (1..6 fields; values drawn inside the bounds, log-uniform over positive ranges, or scaled
 * by 10^U(-3,3), or an extreme).
 *
 * Each configuration goes through bms_config_check; an accepted one runs 600 steps of a
 * nominal log (config_run.c). Prints one summary line:
 *   configs tried, accepted, refused per rule, NaN-with-status-OK count (must be 0)
 * and exits 1 if the property broke (NaN output without the estimator fault and CCL = DCL = 0).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_run.h"

#define MAX_SEEDS 32

static bms_config_t seeds[MAX_SEEDS];
static uint32_t n_seeds;
static bms_config_t cfg;
static bms_t inst;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static double unif(void)
{
    return (double)rnd() / 4294967296.0;
}

static const char *const ERR_NAMES[] = {
    "ok", "n_cells", "n_sensors", "sensor_cell", "table_shape", "soc_bp", "temp_bp", "ocv",
    "resistance", "capacitance", "capacity", "coulombic", "thermal", "estimator", "entropic",
    "current_range", "limit_order", "limit_value", "plaus", "contactor", "map_shape", "map_value",
    "charge", "nvm",
};
#define N_ERR (sizeof(ERR_NAMES) / sizeof(ERR_NAMES[0]))

static uint64_t tried;
static uint64_t accepted;
static uint64_t refused[N_ERR];
static uint64_t refused_field[BMS_CFG_N_FIELDS];
static uint64_t nonfinite_steps;
static uint64_t nan_status_ok;
static uint64_t est_fault_runs;
static uint64_t violations;
static char last_desc[160]; /* what phase 1 changed (for the reports) */

/* Extent of a field in a configuration (max when the counts are out of range). */
static void extent(const bms_config_t *c, const bms_cfg_field_info_t *f, uint32_t *rows, uint32_t *cols)
{
    uint32_t cn = (c->cell.n_soc <= BMS_MAX_SOC_PTS) ? c->cell.n_soc : BMS_MAX_SOC_PTS;
    uint32_t ct = (c->cell.n_temp <= BMS_MAX_TEMP_PTS) ? c->cell.n_temp : BMS_MAX_TEMP_PTS;
    uint32_t mn = (c->charge.n_soc <= BMS_MAX_MAP_SOC) ? c->charge.n_soc : BMS_MAX_MAP_SOC;
    uint32_t mt = (c->charge.n_temp <= BMS_MAX_MAP_TEMP) ? c->charge.n_temp : BMS_MAX_MAP_TEMP;
    *rows = 1u;
    *cols = 1u;
    switch (f->shape) {
    case BMS_CFG_SHAPE_CELL_SOC: *cols = cn; break;
    case BMS_CFG_SHAPE_CELL_TEMP: *cols = ct; break;
    case BMS_CFG_SHAPE_CELL_TABLE: *rows = ct; *cols = cn; break;
    case BMS_CFG_SHAPE_MAP_SOC: *cols = mn; break;
    case BMS_CFG_SHAPE_MAP_TEMP: *cols = mt; break;
    case BMS_CFG_SHAPE_MAP_TABLE: *rows = mt; *cols = mn; break;
    case BMS_CFG_SHAPE_TIERS: *rows = 3u; break;
    default: break;
    }
    if (*rows == 0u) {
        *rows = 1u;
    }
    if (*cols == 0u) {
        *cols = 1u;
    }
}

static float *at(bms_config_t *c, const bms_cfg_field_info_t *f, uint32_t r, uint32_t col)
{
    return (float *)(void *)((uint8_t *)c + f->offset + r * f->stride) + col;
}

static void set_float(bms_config_t *c, uint32_t field, int whole, float v)
{
    const bms_cfg_field_info_t *f = bms_config_field_info(field);
    uint32_t rows;
    uint32_t cols;
    extent(c, f, &rows, &cols);
    if (whole) {
        for (uint32_t r = 0u; r < rows; r++) {
            for (uint32_t k = 0u; k < cols; k++) {
                *at(c, f, r, k) = v;
            }
        }
    } else {
        *at(c, f, rnd() % rows, rnd() % cols) = v;
    }
}

static void set_int(bms_config_t *c, uint32_t field, uint32_t v)
{
    const bms_cfg_field_info_t *f = bms_config_field_info(field);
    if (field == (uint32_t)BMS_CFG_F_TEMP_SENSOR_CELL) {
        c->pack.temp_sensor_cell[rnd() % BMS_MAX_TEMP_SENSORS] = (uint16_t)v;
    } else {
        memcpy((uint8_t *)c + f->offset, &v, sizeof(v));
    }
}

static void run_one(const bms_config_t *c, uint32_t seed_i)
{
    cfgrun_result_t r;
    cfgrun(&inst, c, &r);
    tried++;
    if (r.err != BMS_CFG_OK) {
        refused[((uint32_t)r.err < N_ERR) ? (uint32_t)r.err : 0u]++;
        if (r.where.field < (uint32_t)BMS_CFG_N_FIELDS) {
            refused_field[r.where.field]++;
        }
        return;
    }
    accepted++;
    nonfinite_steps += r.nonfinite_steps;
    est_fault_runs += r.estimator_fault;
    if ((r.estimator_fault != 0u) && (getenv("CONFIG_SWEEP_VERBOSE") != NULL)) {
        fprintf(stderr, "estimator fault: config #%llu (seed %u) %s\n", (unsigned long long)tried, seed_i, last_desc);
    }
    if (r.violation) {
        violations++;
        nan_status_ok += r.nan_no_fault;
        if (violations <= 10u) {
            fprintf(stderr, "VIOLATION config #%llu (seed %u, %s): step %u: %s\n", (unsigned long long)tried, seed_i,
                    last_desc, r.violation_step, r.what ? r.what : "?");
            char name[64];
            snprintf(name, sizeof(name), "violation-%llu.bin", (unsigned long long)tried);
            FILE *fo = fopen(name, "wb");
            if (fo != NULL) {
                fwrite(c, sizeof(*c), 1, fo);
                fclose(fo);
            }
        }
    }
}

static float draw_value(const bms_cfg_field_info_t *f, float seed_v)
{
    const double u = unif();
    if (u < 0.35) {
        if (f->lo > 0.0f) {
            return (float)exp(log((double)f->lo) + unif() * (log((double)f->hi) - log((double)f->lo)));
        }
        return (float)((double)f->lo + unif() * ((double)f->hi - (double)f->lo));
    }
    if (u < 0.75) {
        return seed_v * (float)pow(10.0, 6.0 * unif() - 3.0);
    }
    if (u < 0.85) {
        return seed_v * (float)(1.0 + 0.2 * (unif() - 0.5));
    }
    static const float ext[] = {0.0f, -1.0f, 1.0e-30f, 1.0e30f, -1.0e30f, NAN, INFINITY, -INFINITY};
    return ext[rnd() % (sizeof(ext) / sizeof(ext[0]))];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N SEED.bin [SEED.bin ...]\n", argv[0]);
        return 2;
    }
    const uint64_t n_total = strtoull(argv[1], 0, 10);
    for (int a = 2; a < argc && n_seeds < MAX_SEEDS; a++) {
        FILE *fi = fopen(argv[a], "rb");
        if (fi == NULL || fread(&seeds[n_seeds], sizeof(bms_config_t), 1, fi) != 1) {
            fprintf(stderr, "%s: not a bms_config_t image of %zu bytes\n", argv[a], sizeof(bms_config_t));
            return 2;
        }
        fclose(fi);
        if (bms_config_check(&seeds[n_seeds]) != BMS_CFG_OK) {
            fprintf(stderr, "%s: a shipped configuration the firmware refuses\n", argv[a]);
            return 1;
        }
        n_seeds++;
    }
    const clock_t t0 = clock();

    /* phase 1: every field x extreme values, on every seed */
    for (uint32_t s = 0u; s < n_seeds && tried < n_total; s++) {
        for (uint32_t fi = 0u; fi < (uint32_t)BMS_CFG_N_FIELDS; fi++) {
            const bms_cfg_field_info_t *f = bms_config_field_info(fi);
            if (f->shape == BMS_CFG_SHAPE_INTEGER) {
                const uint32_t iv[] = {0u, 1u, 2u, 24u, 25u, 192u, 193u, 0xFFFFu, 0xFFFFFFFFu, 1u << 30};
                for (uint32_t k = 0u; k < sizeof(iv) / sizeof(iv[0]); k++) {
                    cfg = seeds[s];
                    snprintf(last_desc, sizeof(last_desc), "%s = %u", f->name, iv[k]);
                    set_int(&cfg, fi, iv[k]);
                    run_one(&cfg, s);
                }
                continue;
            }
            const float ev[] = {0.0f, -0.0f, 1.0e-30f, -1.0e-30f, 1.0e30f, -1.0e30f, NAN, INFINITY, -INFINITY,
                                1.0f, -1.0f, f->lo, f->hi, nextafterf(f->lo, -INFINITY),
                                nextafterf(f->hi, INFINITY), 0.5f * f->lo, 2.0f * f->hi, f->cell_lo, f->cell_hi};
            for (uint32_t k = 0u; k < sizeof(ev) / sizeof(ev[0]); k++) {
                for (int whole = 0; whole < 2; whole++) {
                    cfg = seeds[s];
                    snprintf(last_desc, sizeof(last_desc), "%s %s= %g", f->name, whole ? "(all) " : "", (double)ev[k]);
                    set_float(&cfg, fi, whole, ev[k]);
                    run_one(&cfg, s);
                }
            }
        }
    }
    const uint64_t phase1 = tried;

    /* phase 2: random multi-field perturbations */
    while (tried < n_total) {
        /* a 192-cell run costs 10-20 small ones: those seeds get 2 % of the draws */
        uint32_t s = rnd() % n_seeds;
        for (uint32_t k = 0u; (k < 8u) && (seeds[s].pack.n_cells > 32u) && ((rnd() % 50u) != 0u); k++) {
            s = rnd() % n_seeds;
        }
        cfg = seeds[s];
        snprintf(last_desc, sizeof(last_desc), "random perturbation");
        const uint32_t nf = 1u + rnd() % 6u;
        for (uint32_t k = 0u; k < nf; k++) {
            const uint32_t fi = rnd() % (uint32_t)BMS_CFG_N_FIELDS;
            const bms_cfg_field_info_t *f = bms_config_field_info(fi);
            if (f->shape == BMS_CFG_SHAPE_INTEGER) {
                if ((rnd() & 7u) == 0u) {
                    set_int(&cfg, fi, rnd() % 300u);
                }
                continue;
            }
            uint32_t rows;
            uint32_t cols;
            extent(&cfg, f, &rows, &cols);
            const uint32_t mode = rnd() % 3u;
            if (mode == 0u) {
                set_float(&cfg, fi, 0, draw_value(f, *at(&cfg, f, rnd() % rows, rnd() % cols)));
            } else if (mode == 1u) {
                /* the whole field scaled alike (keeps a table's shape) */
                const float m = (float)pow(10.0, 4.0 * unif() - 2.0);
                for (uint32_t r = 0u; r < rows; r++) {
                    for (uint32_t c = 0u; c < cols; c++) {
                        *at(&cfg, f, r, c) *= m;
                    }
                }
            } else {
                set_float(&cfg, fi, 1, draw_value(f, *at(&cfg, f, 0u, 0u)));
            }
        }
        run_one(&cfg, s);
    }
    const double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

    printf("config fuzz: %llu configurations (%llu field x extreme, %llu random), %llu accepted and run %u steps, "
           "%llu refused [",
           (unsigned long long)tried, (unsigned long long)phase1, (unsigned long long)(tried - phase1),
           (unsigned long long)accepted, CFGRUN_STEPS, (unsigned long long)(tried - accepted));
    int first = 1;
    for (uint32_t e = 1u; e < N_ERR; e++) {
        if (refused[e] != 0u) {
            printf("%s%s %llu", first ? "" : ", ", ERR_NAMES[e], (unsigned long long)refused[e]);
            first = 0;
        }
    }
    printf("]; estimator fault latched in %llu runs, non-finite output steps %llu; NaN output with status OK: %llu; "
           "violations: %llu; %.1f s\n",
           (unsigned long long)est_fault_runs, (unsigned long long)nonfinite_steps, (unsigned long long)nan_status_ok,
           (unsigned long long)violations, secs);
    if (getenv("CONFIG_SWEEP_FIELDS") != NULL) {
        for (uint32_t fi = 0u; fi < (uint32_t)BMS_CFG_N_FIELDS; fi++) {
            printf("  refused at %-40s %llu\n", bms_config_field_info(fi)->name, (unsigned long long)refused_field[fi]);
        }
    }
    return (violations == 0u) ? 0 : 1;
}
