/*
 * libFuzzer target for the firmware's configuration (`make fuzz-config-lf`; clang
 * -fsanitize=fuzzer,address,undefined): start from a shipped configuration ($BMS_FUZZ_CONFIG,
 * an 8-cell bms_config_t written by hil/fuzz_seeds.py; without it the target has nothing to
 * perturb and returns), apply the input as a list of edits, 7 bytes each:
 *
 *   [field id][row][col][4 bytes: the new value]
 *
 * a float field (bms_config_field_info(field id % BMS_CFG_N_FIELDS)) gets the 4 bytes as a
 * float at [row % rows][col % cols] of its current extent (any bit pattern: NaN, inf,
 * subnormals); an integer field gets them as its integer. Then the property of config_run.h:
 * refused by bms_config_check, or 600 nominal steps with every output finite or the internal
 * fault latched with CCL = DCL = 0. A violation aborts (libFuzzer saves the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_run.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bms_config_t base;
static bms_config_t cfg;
static bms_t inst;
static int have_base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("BMS_FUZZ_CONFIG");
    FILE *f = (path != NULL) ? fopen(path, "rb") : NULL;
    if (f != NULL) {
        have_base = (fread(&base, sizeof(base), 1, f) == 1) && (bms_config_check(&base) == BMS_CFG_OK);
        fclose(f);
    }
    if (!have_base) {
        fprintf(stderr, "fuzz_config: set BMS_FUZZ_CONFIG to a valid bms_config_t image (make fuzz-config-lf)\n");
    }
    return 0;
}

static uint32_t extent_of(const bms_cfg_field_info_t *fi, uint32_t *cols)
{
    uint32_t rows = 1u;
    *cols = 1u;
    switch (fi->shape) {
    case BMS_CFG_SHAPE_CELL_SOC: *cols = cfg.cell.n_soc; break;
    case BMS_CFG_SHAPE_CELL_TEMP: *cols = cfg.cell.n_temp; break;
    case BMS_CFG_SHAPE_CELL_TABLE: rows = cfg.cell.n_temp; *cols = cfg.cell.n_soc; break;
    case BMS_CFG_SHAPE_MAP_SOC: *cols = cfg.charge.n_soc; break;
    case BMS_CFG_SHAPE_MAP_TEMP: *cols = cfg.charge.n_temp; break;
    case BMS_CFG_SHAPE_MAP_TABLE: rows = cfg.charge.n_temp; *cols = cfg.charge.n_soc; break;
    case BMS_CFG_SHAPE_TIERS: rows = 3u; break;
    default: break;
    }
    /* the counts themselves may have been fuzzed: stay inside the arrays */
    const uint32_t max_cols = (fi->shape >= BMS_CFG_SHAPE_MAP_SOC && fi->shape <= BMS_CFG_SHAPE_MAP_TABLE)
                                  ? BMS_MAX_MAP_SOC
                                  : BMS_MAX_SOC_PTS;
    const uint32_t max_rows = (fi->shape == BMS_CFG_SHAPE_MAP_TABLE) ? BMS_MAX_MAP_TEMP : BMS_MAX_TEMP_PTS;
    if (fi->shape == BMS_CFG_SHAPE_CELL_TEMP || fi->shape == BMS_CFG_SHAPE_MAP_TEMP) {
        *cols = (*cols == 0u || *cols > max_rows) ? max_rows : *cols;
    } else {
        *cols = (*cols == 0u || *cols > max_cols) ? max_cols : *cols;
    }
    if (rows == 0u || rows > max_rows) {
        rows = max_rows;
    }
    return rows;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_base) {
        return 0;
    }
    cfg = base;
    for (size_t at = 0u; at + 7u <= size && at < 7u * 16u; at += 7u) {
        const uint32_t field = (uint32_t)data[at] % (uint32_t)BMS_CFG_N_FIELDS;
        const bms_cfg_field_info_t *fi = bms_config_field_info(field);
        uint32_t raw;
        memcpy(&raw, &data[at + 3u], sizeof(raw));
        if (fi->shape == BMS_CFG_SHAPE_INTEGER) {
            if (field == (uint32_t)BMS_CFG_F_TEMP_SENSOR_CELL) {
                cfg.pack.temp_sensor_cell[data[at + 2u] % BMS_MAX_TEMP_SENSORS] = (uint16_t)raw;
            } else {
                memcpy((uint8_t *)&cfg + fi->offset, &raw, sizeof(raw));
            }
            continue;
        }
        uint32_t cols;
        const uint32_t rows = extent_of(fi, &cols);
        float v;
        memcpy(&v, &raw, sizeof(v));
        float *p = (float *)(void *)((uint8_t *)&cfg + fi->offset + (data[at + 1u] % rows) * fi->stride);
        p[data[at + 2u] % cols] = v;
    }
    cfgrun_result_t r;
    cfgrun(&inst, &cfg, &r);
    if (r.violation) {
        fprintf(stderr, "fuzz_config: property broken at step %u: %s\n", r.violation_step, r.what ? r.what : "?");
        abort();
    }
    return 0;
}
