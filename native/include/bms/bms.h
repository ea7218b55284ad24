/*
 * BMS firmware: one instance struct, one step.
 *   bms_init(inst, cfg) -> bms_step(inst, meas, dt_ms, out) ... bms_command(inst, cmd)
 * No dynamic memory, no stdio, no global mutable state.
 */
#ifndef BMS_BMS_H
#define BMS_BMS_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/faults.h"
#include "bms/soc_ekf.h"
#include "bms/thermal_observer.h"
#include "bms/plausibility.h"
#include "bms/safety.h"
#include "bms/contactor.h"
#include "bms/current_limit.h"
#include "bms/charger_monitor.h"
#include "bms/soh.h"
#include "bms/hysteresis.h"
#include "bms/balancing.h"
#include "bms/sop.h"

#define BMS_FW_VERSION_MAJOR 0
#define BMS_FW_VERSION_MINOR 3

/* Return codes */
#define BMS_OK 0
#define BMS_E_CONFIG (-1)
#define BMS_E_ARG (-2)
#define BMS_E_NOT_INIT (-3)

/* Status flags (bms_out_t.status) */
#define BMS_ST_INITIALISED 0x0001u
#define BMS_ST_CURRENT_INVALID 0x0002u   /* current NaN/inf/beyond range: state held */
#define BMS_ST_VOLTAGE_INVALID 0x0004u   /* >= 1 cell reading unusable: its update skipped */
#define BMS_ST_TEMP_INVALID 0x0008u      /* >= 1 temperature unusable: sensor ignored */
#define BMS_ST_DT_INVALID 0x0010u        /* dt == 0 or above the maximum: no prediction */
#define BMS_ST_AMBIENT_ESTIMATED 0x0020u /* ambient not measured: internal value used */
#define BMS_ST_CHARGING 0x0040u          /* current below -charge_detect_a */
#define BMS_ST_MODEL_MISMATCH 0x0080u    /* >= 1 cell's model does not explain its voltage (the SoC
                                            filter leans on coulomb counting there) */
#define BMS_ST_PRECONDITIONING 0x0100u   /* a fast charge is announced: the heater works to the
                                            preconditioning window (charge.precond_*) */

/* Longest step the estimators integrate in one go (1 h). */
#define BMS_MAX_DT_MS 3600000u

typedef struct {
    float pack_current_a;                    /* > 0 discharge */
    float cell_v[BMS_MAX_CELLS];
    float temp_degc[BMS_MAX_TEMP_SENSORS];   /* surface sensors, see temp_sensor_cell */
    float ambient_degc;                      /* coolant/ambient; NaN if not measured */
    float pack_v;                            /* independent pack voltage; NaN if not measured */
    float bus_v;                             /* link voltage behind the contactors (precharge) */
    float charger_max_a;                     /* charger's advertised limit; NaN if unknown */
    float coolant_flow_lpm;                  /* coolant flow; NaN if not measured */
    float fast_charge_in_s;                  /* the vehicle announces a fast charge: seconds until
                                                it starts (0: now, and through the charge);
                                                NaN, inf or negative: none announced. The
                                                heater then uses charge.precond_* */
    float pressure_mpa[BMS_MAX_PRESSURE_SENSORS]; /* stack pressure per module (pack.n_pressure_sensors) */
    uint32_t sample_time_ms;                 /* time stamp of this sample (stale detection) */
    uint32_t comm_lost;                      /* bit per bus partner whose messages are past their
                                                timeout (can_layer.h: CAN_PARTNER_*); 0 without CAN */
} bms_meas_t;

/* Per-cell outputs: bms_step writes them into arrays the caller owns (n_cells floats
 * each) where it gives one; NULL: not written. The estimates themselves live in the
 * instance (bms_cell_soc(), bms_cell_core_temp_degc()): a board that only sends them on
 * saves the copies (3 KiB of RAM at 192 cells). */
typedef struct {
    float *soc;
    float *core_temp_degc;
    float *surf_temp_degc;
    float *v_pred_v;                         /* a-priori predicted terminal voltage */
    float *cap_scale;                        /* capacity against the model's (soh.h) */
    float *r_scale;                          /* resistance against the model's */
    uint8_t *bal_mask;                       /* balancing switches for the coming interval, bit
                                                per cell (BMS_BAL_MASK_BYTES bytes) */
} bms_cell_outputs_t;

typedef struct {
    bms_cell_outputs_t cells;                /* set by the caller, kept by bms_step */
    float soc_min;
    float soc_max;
    float soc_mean;
    float soc_pack;                          /* display SoC: 0 at first empty, 1 at first full cell */
    float core_temp_max_degc;
    uint32_t core_temp_max_cell;
    float core_temp_min_degc;                /* coldest finite core estimate (inf: none) */
    uint32_t core_temp_min_cell;
    float model_nis_max;                     /* largest innovation-monitor ratio (soc_ekf.h) */
    uint32_t model_mismatch_cells;           /* cells whose ratio is over est.mismatch_nis */
    /* state of health (soh.h): the weakest cells against the model, relative 1-sigma */
    float cap_scale_min;
    uint32_t cap_scale_min_cell;
    float cap_sigma;                         /* of the weakest cell's capacity */
    float r_scale_max;
    uint32_t r_scale_max_cell;
    float r_sigma;
    uint32_t soh_updates;                    /* capacity updates (high 16 bits) and resistance
                                                updates (low 16, saturating) since power-up */
    float cell_v_max;                        /* over the valid readings */
    float cell_v_min;
    uint32_t cell_v_max_cell;
    uint32_t cell_v_min_cell;
    float temp_min_degc;                     /* coldest valid sensor */
    float temp_max_degc;                     /* hottest valid sensor */
    float pressure_min_mpa;                  /* lowest / highest valid stack-pressure reading */
    float pressure_max_mpa;                  /* (NaN: none, or the pack has no pressure sensor) */
    uint32_t pressure_min_sensor;            /* the module of the lowest */
    /* limits */
    float ccl_a;                             /* charge current limit, >= 0 */
    float dcl_a;                             /* discharge current limit, >= 0 */
    uint32_t ccl_limit;                      /* bms_limiting_t */
    uint32_t dcl_limit;
    bms_limit_terms_t ccl_terms;
    bms_limit_terms_t dcl_terms;
    /* state of power (sop.h): the largest constant current (A, >= 0) for 2, 10, 30 s and
     * that current times the pack's terminal voltage at the horizon's end (W, >= 0) */
    float sop_chg_a[BMS_SOP_N_HORIZONS];
    float sop_dis_a[BMS_SOP_N_HORIZONS];
    float sop_chg_w[BMS_SOP_N_HORIZONS];
    float sop_dis_w[BMS_SOP_N_HORIZONS];
    /* safety */
    uint32_t faults;                         /* latched trips, bit = bms_fault_id_t */
    uint32_t warnings;                       /* bit = bms_quantity_t */
    uint32_t derates;                        /* bit = bms_quantity_t */
    uint32_t contactor_state;                /* bms_contactor_state_t */
    bms_contactor_relays_t relays;
    uint32_t contactor_counts;               /* the contactor's counters since power-up, each
                                                saturating: breaks under load << 16 | refused
                                                << 8 | illegal requests (contactor.h) */
    uint8_t charge_complete;
    uint8_t heater_request;
    uint8_t cooling_request;
    uint8_t bal_test;                        /* 1: take the coming conversion with discharge
                                                permitted (a balancing-switch test) */
    uint32_t bal_cells;                      /* balancing switches commanded on */
    uint32_t time_ms;
    uint32_t status;
} bms_out_t;

typedef struct {
    bms_config_t cfg;
    bms_thermal_model_t thermal_model;
    bms_thermal_disc_t thermal_disc;
    bms_ekf_cell_t ekf[BMS_MAX_CELLS];
    bms_thermal_cell_t thermal[BMS_MAX_CELLS];
    bms_plaus_state_t plaus;
    bms_plaus_result_t plaus_res;                /* this step's plausibility (scratch) */
    bms_safety_state_t safety;
    bms_contactor_t contactor;
    bms_limit_state_t limit;
    bms_chgmon_t chgmon;    /* charger compliance: the CCL as a compliant charger follows it */
    bms_soh_t soh;          /* each cell's capacity and resistance */
    bms_bal_t bal;          /* cell balancing */
    bms_hyst_t hyst;        /* the OCV's hysteresis state (one for the pack: hysteresis.h) */
    float ambient_degc;
    uint32_t time_ms;
    uint32_t initialised;   /* estimators seeded from a sample */
    uint32_t configured;    /* bms_init succeeded */
} bms_t;

/* Check a configuration; returns BMS_CFG_OK or the first rule broken. */
bms_cfg_err_t bms_config_check(const bms_config_t *cfg);
/* Copy cfg into the instance and reset. Returns BMS_OK or BMS_E_CONFIG.
 * cfg may be &inst->cfg (a configuration written in place): nothing is copied. */
int32_t bms_init(bms_t *inst, const bms_config_t *cfg);
/* Forget the estimators' state and the safety state (power-on reset). */
void bms_reset(bms_t *inst);
/* A cell's estimates as the last step left them (NaN for a cell outside the pack). */
float bms_cell_soc(const bms_t *inst, uint32_t cell);
float bms_cell_core_temp_degc(const bms_t *inst, uint32_t cell);
/* One firmware step. meas holds the latest sample; dt_ms is the time since the
 * previous step. */
int32_t bms_step(bms_t *inst, const bms_meas_t *meas, uint32_t dt_ms, bms_out_t *out);
/* Contactor request or fault reset. Returns BMS_CMD_R_ACCEPTED, BMS_CMD_R_ILLEGAL or
 * BMS_CMD_R_REFUSED (contactor.h). A fault reset clears the latched faults whose
 * condition is gone. */
int32_t bms_command(bms_t *inst, bms_command_t cmd);

/* Run n samples of a log in one call (replay/bench). Arrays are row-major:
 * cell_v[n][n_cells], temp_degc[n][n_temp_sensors]; outputs [n][n_cells].
 * ambient_degc may be NULL (not measured). status_out may be NULL. The
 * sample time stamps advance by dt_ms. */
int32_t bms_step_batch(bms_t *inst, uint32_t n, const uint32_t *dt_ms,
                       const float *current_a, const float *cell_v, const float *temp_degc,
                       const float *ambient_degc, float *soc_out, float *core_temp_out,
                       float *v_pred_out, uint32_t *status_out);

#endif /* BMS_BMS_H */
