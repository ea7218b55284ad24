/*
 * BMS firmware configuration: every number the firmware uses is data in these
 * structs, passed to bms_init(). Nothing here is tuned in code.
 *
 * Units are in the names. Sign convention: current > 0 is discharge.
 * This header is also read by the cffi builder (bms/_native_build.py): keep it
 * to plain typedefs, integer #defines and prototypes.
 */
#ifndef BMS_CONFIG_H
#define BMS_CONFIG_H

#include <stdint.h>

/* Compile-time capacity. RAM scales with BMS_MAX_CELLS. */
#define BMS_MAX_CELLS 192
#define BMS_MAX_TEMP_SENSORS 192
#define BMS_MAX_SOC_PTS 24
#define BMS_MAX_TEMP_PTS 6

/* Equivalent-circuit cell model: OCV + R0 + two RC branches.
 * Tables are [temperature][soc], bilinear, clamped at the edges. */
typedef struct {
    uint32_t n_soc;
    uint32_t n_temp;
    float soc_bp[BMS_MAX_SOC_PTS];
    float temp_bp_degc[BMS_MAX_TEMP_PTS];
    float ocv_v[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    float r0_ohm[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    float r1_ohm[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    float c1_f[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    float r2_ohm[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    float c2_f[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS];
    /* entropic coefficient dOCV/dT over soc (0 = no reversible heat) */
    float docv_dt_v_per_k[BMS_MAX_SOC_PTS];
    float capacity_ah;
    /* charge (current < 0) efficiency, (0, 1]; discharge counts 1:1 */
    float coulombic_eff;
} bms_cell_params_t;

/* Two-node lumped thermal model per cell: core and surface (casing). */
typedef struct {
    float c_core_j_per_k;
    float c_surf_j_per_k;
    float r_core_surf_k_per_w;
    float r_surf_amb_k_per_w;
} bms_thermal_params_t;

/* Estimator tuning (noise covariances as standard deviations). */
typedef struct {
    float soc_init_sigma;           /* 1-sigma of the voltage-based initial SoC */
    float v_rc_init_sigma_v;        /* 1-sigma of the initial RC voltages */
    float current_noise_a;          /* current sensor white noise + offset */
    float current_gain_sigma;       /* relative current gain uncertainty */
    float soc_rw_per_sqrt_s;        /* SoC random walk (capacity/model drift) */
    float v_rc_rw_v_per_sqrt_s;     /* RC-state random walk */
    float voltage_noise_v;          /* cell-voltage sensor noise */
    float model_err_v;              /* ECM voltage error at rest */
    float r0_rel_sigma;             /* relative uncertainty of R0: error R0*|I|*sigma */
    float rc_rel_sigma;             /* relative uncertainty of each RC step response */
    float temp_init_sigma_degc;
    float heat_noise_w;             /* uncertainty of the core heat input */
    float temp_noise_degc;          /* surface thermistor noise */
    float temp_spatial_sigma_degc;  /* unsensed cell vs its sensed neighbours */
} bms_estimator_params_t;

/* Pack topology and sensor placement. One "cell" is one series element
 * (a parallel group is one lumped element with aggregate parameters). */
typedef struct {
    uint32_t n_cells;
    float current_range_a;          /* current sensor full scale: beyond it a reading is invalid */
    uint32_t n_temp_sensors;
    uint16_t temp_sensor_cell[BMS_MAX_TEMP_SENSORS];
} bms_pack_params_t;

typedef struct {
    bms_pack_params_t pack;
    bms_cell_params_t cell;
    bms_thermal_params_t thermal;
    bms_estimator_params_t est;
} bms_config_t;

/* Result of bms_config_check(): which field broke which rule. */
typedef enum {
    BMS_CFG_OK = 0,
    BMS_CFG_E_N_CELLS = 1,          /* pack.n_cells not in [1, BMS_MAX_CELLS] */
    BMS_CFG_E_N_SENSORS = 2,        /* pack.n_temp_sensors > BMS_MAX_TEMP_SENSORS */
    BMS_CFG_E_SENSOR_CELL = 3,      /* temp_sensor_cell out of range or duplicated */
    BMS_CFG_E_TABLE_SHAPE = 4,      /* n_soc not in [2, MAX] or n_temp not in [1, MAX] */
    BMS_CFG_E_SOC_BP = 5,           /* soc breakpoints not strictly increasing in [0, 1] */
    BMS_CFG_E_TEMP_BP = 6,          /* temperature breakpoints not strictly increasing */
    BMS_CFG_E_OCV = 7,              /* OCV not finite or not strictly increasing in soc */
    BMS_CFG_E_RESISTANCE = 8,       /* r0/r1/r2 not finite or negative (r1, r2 > 0) */
    BMS_CFG_E_CAPACITANCE = 9,      /* c1/c2 not finite or not positive */
    BMS_CFG_E_CAPACITY = 10,        /* capacity_ah not positive */
    BMS_CFG_E_COULOMBIC = 11,       /* coulombic_eff not in (0, 1] */
    BMS_CFG_E_THERMAL = 12,         /* thermal parameter not positive */
    BMS_CFG_E_ESTIMATOR = 13,       /* estimator sigma negative / not finite, or zero where a floor is needed */
    BMS_CFG_E_ENTROPIC = 14,        /* dOCV/dT not finite */
    BMS_CFG_E_CURRENT_RANGE = 15    /* pack.current_range_a not positive */
} bms_cfg_err_t;

#endif /* BMS_CONFIG_H */
