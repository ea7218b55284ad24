/*
 * BMS firmware: one instance struct, one step.
 *   bms_init(inst, cfg)  ->  bms_step(inst, meas, dt_ms, out)  ...  bms_reset(inst)
 * No dynamic memory, no stdio, no global mutable state.
 */
#ifndef BMS_BMS_H
#define BMS_BMS_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/soc_ekf.h"
#include "bms/thermal_observer.h"

#define BMS_FW_VERSION_MAJOR 0
#define BMS_FW_VERSION_MINOR 2

/* Return codes */
#define BMS_OK 0
#define BMS_E_CONFIG (-1)
#define BMS_E_ARG (-2)
#define BMS_E_NOT_INIT (-3)

/* Status flags (bms_out_t.status) */
#define BMS_ST_INITIALISED 0x0001u
#define BMS_ST_CURRENT_INVALID 0x0002u   /* current NaN/inf/beyond range: state held */
#define BMS_ST_VOLTAGE_INVALID 0x0004u   /* >= 1 cell voltage NaN/inf: its update skipped */
#define BMS_ST_TEMP_INVALID 0x0008u      /* >= 1 temperature NaN/inf: sensor ignored */
#define BMS_ST_DT_INVALID 0x0010u        /* dt == 0 or above the maximum: no prediction */
#define BMS_ST_AMBIENT_ESTIMATED 0x0020u /* ambient not measured: internal value used */

/* Longest step the estimators integrate in one go (1 h). */
#define BMS_MAX_DT_MS 3600000u

typedef struct {
    float pack_current_a;                    /* > 0 discharge */
    float cell_v[BMS_MAX_CELLS];
    float temp_degc[BMS_MAX_TEMP_SENSORS];   /* surface sensors, see temp_sensor_cell */
    float ambient_degc;                      /* coolant/ambient; NaN if not measured */
} bms_meas_t;

typedef struct {
    float soc[BMS_MAX_CELLS];
    float core_temp_degc[BMS_MAX_CELLS];
    float surf_temp_degc[BMS_MAX_CELLS];
    float v_pred_v[BMS_MAX_CELLS];           /* a-priori predicted terminal voltage */
    float soc_min;
    float soc_max;
    float soc_mean;
    float soc_pack;                          /* display SoC: 0 at first empty, 1 at first full cell */
    float core_temp_max_degc;
    uint32_t core_temp_max_cell;
    uint32_t time_ms;
    uint32_t status;
} bms_out_t;

typedef struct {
    bms_config_t cfg;
    thermal_model_t thermal_model;
    thermal_disc_t thermal_disc;
    soc_ekf_cell_t ekf[BMS_MAX_CELLS];
    thermal_cell_t thermal[BMS_MAX_CELLS];
    float ambient_degc;
    uint32_t time_ms;
    uint32_t initialised;   /* estimators seeded from a sample */
    uint32_t configured;    /* bms_init succeeded */
} bms_t;

/* Check a configuration; returns BMS_CFG_OK or the first rule broken. */
bms_cfg_err_t bms_config_check(const bms_config_t *cfg);
/* Copy cfg into the instance and reset. Returns BMS_OK or BMS_E_CONFIG. */
int32_t bms_init(bms_t *inst, const bms_config_t *cfg);
/* Forget estimator state; the next step re-initialises from its sample. */
void bms_reset(bms_t *inst);
/* One firmware step. meas holds the sample taken dt_ms after the previous one. */
int32_t bms_step(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out);

/* Run n samples of a log in one call (replay/bench). Arrays are row-major:
 * cell_v[n][n_cells], temp_degc[n][n_temp_sensors]; outputs [n][n_cells].
 * ambient_degc may be NULL (not measured). status_out may be NULL. */
int32_t bms_step_batch(bms_t *inst, uint32_t n, const uint32_t *dt_ms,
                       const float *current_a, const float *cell_v, const float *temp_degc,
                       const float *ambient_degc, float *soc_out, float *core_temp_out,
                       float *v_pred_out, uint32_t *status_out);

#endif /* BMS_BMS_H */
