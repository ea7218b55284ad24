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
/* one stack-pressure sensor per module of a solid-state pack */
#define BMS_MAX_PRESSURE_SENSORS 16

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
    /* Voltage hysteresis (hysteresis.h): the rested voltage after a charge sits above the one
     * after a discharge. Plett's one-state model plus an instantaneous term (Plett, J. Power
     * Sources 134 (2004) 277, sec. 3.3; Battery Management Systems Vol. I, 2015, sec. 2.7):
     * v = ocv + m0 s + m h. Per temperature breakpoint, V (0: none); gamma, dimensionless,
     * is how fast h moves per unit of charge over the capacity. */
    float hyst_m_v[BMS_MAX_TEMP_PTS];
    float hyst_m0_v[BMS_MAX_TEMP_PTS];
    float hyst_gamma;
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
    float rc_v_rel_sigma;           /* relative error of the predicted polarisation |v1|+|v2| */
    float model_err_corr_s;         /* correlation time of the model error (0: white) */
    float current_err_corr_s;       /* correlation time of the current error (offset, gain) */
    float mismatch_window_s;        /* averaging window of the innovation monitor */
    float mismatch_nis;             /* mean normalised innovation^2 over which the model is
                                       flagged as not explaining the voltage */
    float temp_init_sigma_degc;
    float heat_noise_w;             /* uncertainty of the core heat input */
    float temp_noise_degc;          /* surface thermistor noise */
    float temp_spatial_sigma_degc;  /* unsensed cell vs its sensed neighbours */
    float r_surf_amb_rel_sigma;     /* relative uncertainty of the surface-to-ambient path
                                       (thermal.r_surf_amb_k_per_w: cold plate, coolant flow) */
    /* online state of health (soh.h) */
    float soh_init_sigma;           /* relative 1-sigma of a cell's capacity against the model
                                       when nothing is stored (0: capacity and resistance held) */
    float soh_r_init_sigma;         /* ... of its resistance (an aged cell's may have doubled) */
    float soh_rw;                   /* relative 1-sigma drift (ageing) per update */
    float soh_rest_s;               /* rest after which a cell's voltage gives its SoC */
    float soh_min_dsoc;             /* smallest SoC swing between two rests that updates the
                                       capacity */
    float soh_step_c;               /* smallest current step (C-rate) that updates the
                                       resistance */
} bms_estimator_params_t;

/* Pack topology and sensor placement. One "cell" is one series element
 * (a parallel group is one lumped element with aggregate parameters). */
typedef struct {
    uint32_t n_cells;
    float current_range_a;          /* current sensor full scale: beyond it a reading is invalid */
    uint32_t n_temp_sensors;
    uint16_t temp_sensor_cell[BMS_MAX_TEMP_SENSORS];
    /* Stack-pressure sensors (a load cell on each module's fixture), 0..BMS_MAX_PRESSURE_SENSORS
     * and at most n_cells; 0: the pack is not pressed and the pressure limits are never
     * evaluated. Sensor k of m watches the module of cells [k n / m, (k + 1) n / m). */
    uint32_t n_pressure_sensors;
} bms_pack_params_t;

/* ---- safety limits ---------------------------------------------------- */

/* The monitored quantities. Maxima: warning < derate < trip; minima reversed. */
typedef enum {
    BMS_Q_CELL_V_MAX = 0,       /* highest cell voltage (V) */
    BMS_Q_CELL_V_MIN = 1,       /* lowest cell voltage (V) */
    BMS_Q_CORE_T_MAX_CHG = 2,   /* hottest estimated core while charging (degC) */
    BMS_Q_CORE_T_MAX_DIS = 3,   /* ... while discharging / at rest */
    BMS_Q_SURF_T_MAX_CHG = 4,   /* hottest surface sensor while charging */
    BMS_Q_SURF_T_MAX_DIS = 5,
    BMS_Q_T_MIN_CHG = 6,        /* coldest cell (surface sensors) while charging */
    BMS_Q_T_MIN_DIS = 7,        /* ... while discharging / at rest */
    BMS_Q_I_CHG_MAX = 8,        /* charge current magnitude (A) */
    BMS_Q_I_DIS_MAX = 9,        /* discharge current (A) */
    BMS_Q_CELL_V_SPREAD = 10,   /* highest minus lowest live cell voltage, less what a healthy SoC
                                   imbalance explains: plaus.cell_dev_soc_spread * |dOCV/dSoC| (V) */
    BMS_Q_P_MIN_CHG = 11,       /* lowest stack pressure while charging (MPa); the charge-side CCD
                                   cap (plating map) scales with its derate factor */
    BMS_Q_P_MIN_DIS = 12,       /* ... while discharging / at rest */
    BMS_Q_P_MAX = 13,           /* highest stack pressure (MPa) */
    BMS_N_QUANTITIES = 14
} bms_quantity_t;

/* One tier of a limit. The condition must persist for debounce_ms (see
 * safety.h for the counting rule); it is released when the value is back by
 * hysteresis past the threshold. */
typedef struct {
    float threshold;
    float hysteresis;
    uint32_t debounce_ms;
} bms_tier_t;

typedef struct {
    bms_tier_t warning;
    bms_tier_t derate;   /* current limits fall linearly from here to the trip */
    bms_tier_t trip;     /* latched fault */
} bms_limit_t;

typedef struct {
    bms_limit_t q[BMS_N_QUANTITIES];
} bms_limits_t;

/* Sensor plausibility. */
typedef struct {
    float cell_v_min_v;            /* a reading outside [min, max] is not a cell voltage */
    float cell_v_max_v;
    float temp_min_degc;           /* plausible thermistor range */
    float temp_max_degc;
    float ntc_open_below_degc;     /* reading at or below: thermistor open (reads cold) */
    float ntc_short_above_degc;    /* reading at or above: thermistor shorted (reads hot) */
    float open_wire_v;             /* a cell reading below this: open sense wire */
    float pack_sum_tol_v;          /* |sum of cells - pack voltage| above this: open wire */
    float stuck_current_delta_a;   /* a reading frozen while the current moved this much: stuck */
    uint32_t stuck_needs_current;  /* 0: a dithered ADC (noise >= 1 LSB) rarely repeats a reading,
                                    * so stuck_repeats_min identical samples in a row are frozen;
                                    * 1: only once the current has moved (noiseless converters) */
    uint32_t stuck_repeats_min;
    float current_offset_max_a;    /* |current| with contactors open above this: offset */
    uint32_t sensor_debounce_ms;   /* NaN / inf / out of range */
    uint32_t stuck_debounce_ms;
    uint32_t open_wire_debounce_ms;
    uint32_t ntc_debounce_ms;
    uint32_t offset_debounce_ms;
    uint32_t stale_timeout_ms;     /* no new sample for this long: stale */
    /* charger compliance: the charge current may exceed a lagged copy of the CCL
     * (time constant charger_response_ms, the response allowed to a compliant
     * charger) by ccl_excess_frac of it plus ccl_excess_a */
    float ccl_excess_frac;
    float ccl_excess_a;
    uint32_t charger_response_ms;
    uint32_t ccl_excess_debounce_ms;
    /* an excess that alone could lift a cell from the charge voltage limit past the
     * overvoltage trip through its step resistance (a charger running away) trips after
     * this shorter time (<= ccl_excess_debounce_ms) */
    uint32_t ccl_excess_fast_ms;
    /* coolant flow below this (measured, contactors closed): cooling lost */
    float coolant_flow_min_lpm;
    uint32_t cooling_debounce_ms;
    /* a cell further than cell_dev_max_v + cell_dev_v_per_a * |I|
     * + cell_dev_soc_spread * dOCV/dSoC from the mean of the others (the per-ampere part
     * covers the resistance spread under load, the last a healthy SoC imbalance where the
     * OCV is steep); the cell-voltage spread limit discounts the same SoC imbalance */
    float cell_dev_max_v;
    float cell_dev_v_per_a;
    float cell_dev_soc_spread;
    uint32_t cell_dev_debounce_ms;
    /* stack-pressure sensors: a reading outside [pressure_min_mpa, pressure_max_mpa], NaN or
     * inf is no pressure (sensor_debounce_ms); at or below pressure_open_below_mpa the
     * transmitter's loop is open (same fault); stuck_repeats_min identical readings in a
     * row: frozen (stuck_debounce_ms). All three: BMS_F_PRESSURE_SENSOR. */
    float pressure_min_mpa;
    float pressure_max_mpa;
    float pressure_open_below_mpa;
} bms_plaus_params_t;

/* Contactors and precharge. */
typedef struct {
    float precharge_ratio;         /* bus voltage must reach this fraction of the pack's */
    uint32_t precharge_timeout_ms;
    float break_current_a;         /* open only below this current ... */
    uint32_t opening_timeout_ms;   /* ... or after this long (then counted as a hard break) */
    uint32_t emergency_mask;       /* fault ids (bit = id) that open at once, under load */
} bms_contactor_params_t;

#define BMS_MAX_MAP_SOC 12
#define BMS_MAX_MAP_TEMP 8

/* Charge / discharge current limits. Maps are C-rates over [temp][soc]. */
typedef struct {
    uint32_t n_soc;
    uint32_t n_temp;
    float soc_bp[BMS_MAX_MAP_SOC];
    float temp_bp_degc[BMS_MAX_MAP_TEMP];
    float charge_c[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC];    /* fast-charge map */
    float plating_c[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC];   /* plating / critical-current-density cap */
    float discharge_c[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC]; /* discharge map */
    float cell_v_charge_max_v;     /* the charge voltage the headroom term holds (CV level) */
    float cell_v_discharge_min_v;  /* the discharge voltage floor for the DCL headroom */
    float hw_charge_max_a;         /* pack hardware: contactors, fuse, busbars */
    float hw_discharge_max_a;
    float ramp_up_a_per_s;         /* increases at most this fast; decreases at once */
    float charge_target_soc;       /* charge complete at this pack SoC ... */
    float charge_resume_soc;       /* ... and possible again below this one */
    float charge_detect_a;         /* current below -this: charging (selects the limit set) */
    float heater_on_below_degc;    /* heater request below, off again above off_above */
    float heater_off_above_degc;
    float cooling_on_above_degc;   /* cooling request above, off again below off_below */
    float cooling_off_below_degc;
    /* Preconditioning: while the vehicle announces a fast charge (bms_meas_t.fast_charge_in_s)
     * the heater request uses these instead of heater_on/off: the pack is brought to the
     * temperature where the charge maps allow the most current before the charge starts and
     * held there through it (at or above heater_on_below, below cooling_on_above). */
    float precond_on_below_degc;
    float precond_off_above_degc;
} bms_charge_params_t;

/* Passive cell balancing (balancing.h). Decided by each cell's charge from the SoC and
 * capacity estimates, not by voltage, so that a flat OCV (LFP) balances on what the
 * estimators know rather than on the plateau's noise. */
typedef struct {
    uint32_t mode;                 /* bms_bal_mode_t: 0 off, 1 top (equal charge to full),
                                      2 bottom (equal charge above empty) */
    float bleed_ohm;               /* bleed resistor per series element */
    float sense_wire_ohm;          /* one sense line's resistance, which the bleed current
                                      also passes (harness, connector, tap fuse) */
    float start_dsoc;              /* a cell starts bleeding when its excess charge, as a
                                      fraction of the capacity, exceeds this ... */
    float stop_dsoc;               /* ... and stops below this one */
    float soc_sigma_max;           /* a cell takes part only with its SoC 1-sigma below this */
    float rest_current_a;          /* |current| below: at rest */
    float charge_current_max_a;    /* balancing while charging only below this current */
    float temp_max_degc;           /* no balancing while the hottest sensor is above */
    float rest_budget_s;           /* longest balancing time in one rest / charge */
    float test_di_max_a;           /* a switch test is judged only if the current moved less */
    uint32_t cells_per_module;     /* cells on one balancing board (module) */
    uint32_t max_per_module;       /* at most this many of them bleed at once (board heat) */
    uint32_t test_interval_ms;     /* between two switch-test sweeps */
    uint32_t switch_debounce_ms;   /* a failed switch confirmed after (BMS_F_BALANCING) */
} bms_balance_params_t;

/* What the BMS kept in non-volatile memory at its last shutdown, handed back at
 * power-up (as an ECU's NvM block). A flat-OCV cell (LFP's plateau) cannot be located
 * from its voltage: the stored SoC is then the better prior. */
typedef struct {
    uint16_t soc_q16[BMS_MAX_CELLS]; /* each cell's SoC at the last shutdown, x 65535 (an NvM
                                      * block holds it as 16 bits: 0.0015 % resolution) */
    float soc_sigma;               /* 1-sigma since: coulomb-count drift, self-discharge */
    uint32_t valid;                /* 0: nothing stored (first power-up) */
    /* each cell's health as the last run left it (soh.h): capacity and resistance scales */
    uint16_t cap_q[BMS_MAX_CELLS]; /* x 32768 (BMS_SOH_CAP_ONE), within [0.5, 1.5] */
    uint16_t r_q[BMS_MAX_CELLS];   /* x 16384 (BMS_SOH_R_ONE), within [0.5, 4) */
    float soh_sigma;               /* their relative 1-sigma */
    uint32_t soh_valid;            /* 0: nothing stored (the model's values, est.soh_init_sigma) */
} bms_nvm_t;

typedef struct {
    bms_pack_params_t pack;
    bms_cell_params_t cell;
    bms_thermal_params_t thermal;
    bms_estimator_params_t est;
    bms_limits_t limits;
    bms_plaus_params_t plaus;
    bms_contactor_params_t contactor;
    bms_charge_params_t charge;
    bms_balance_params_t bal;
    bms_nvm_t nvm;
} bms_config_t;

/* Result of bms_config_check(): which field broke which rule. */
typedef enum {
    BMS_CFG_OK = 0,
    BMS_CFG_E_N_CELLS = 1,          /* pack.n_cells not in [1, BMS_MAX_CELLS] */
    BMS_CFG_E_N_SENSORS = 2,        /* pack.n_temp_sensors > BMS_MAX_TEMP_SENSORS, or
                                       pack.n_pressure_sensors > BMS_MAX_PRESSURE_SENSORS or n_cells */
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
    BMS_CFG_E_CURRENT_RANGE = 15,   /* pack.current_range_a not positive */
    BMS_CFG_E_LIMIT_ORDER = 16,     /* tiers misordered (warning < derate < trip for maxima) */
    BMS_CFG_E_LIMIT_VALUE = 17,     /* threshold not finite, hysteresis negative */
    BMS_CFG_E_PLAUS = 18,           /* plausibility parameters inconsistent */
    BMS_CFG_E_CONTACTOR = 19,       /* contactor parameters out of range */
    BMS_CFG_E_MAP_SHAPE = 20,       /* current-limit map breakpoints / size */
    BMS_CFG_E_MAP_VALUE = 21,       /* map value negative or not finite */
    BMS_CFG_E_CHARGE = 22,          /* charge parameters inconsistent */
    BMS_CFG_E_NVM = 23,             /* stored SoC outside [0, 1] or its sigma not > 0 */
    BMS_CFG_E_BALANCE = 24,         /* balancing parameters out of range or inconsistent */
    BMS_CFG_E_HYSTERESIS = 25       /* hysteresis parameters out of range */
} bms_cfg_err_t;

/* ---- which field broke which rule (bms_config_check_detail) -------------------------
 * Every field of bms_config_t has an id. Every float field has a physically bounded range
 * in one table (native/src/config_check.c, each bound justified there); the Python side
 * reads the same table through bms_config_field_info() so a cell file is judged by the
 * same numbers. The limit tiers are 2 ids per quantity: BMS_CFG_F_LIMITS + 2 * q is the
 * threshold (index = tier: 0 warning, 1 derate, 2 trip), + 1 the hysteresis. */
typedef enum {
    BMS_CFG_F_N_CELLS = 0,
    BMS_CFG_F_CURRENT_RANGE = 1,
    BMS_CFG_F_N_TEMP_SENSORS = 2,
    BMS_CFG_F_TEMP_SENSOR_CELL = 3,
    BMS_CFG_F_CELL_N_SOC = 4,
    BMS_CFG_F_CELL_N_TEMP = 5,
    BMS_CFG_F_SOC_BP = 6,
    BMS_CFG_F_TEMP_BP = 7,
    BMS_CFG_F_OCV = 8,
    BMS_CFG_F_R0 = 9,
    BMS_CFG_F_R1 = 10,
    BMS_CFG_F_C1 = 11,
    BMS_CFG_F_R2 = 12,
    BMS_CFG_F_C2 = 13,
    BMS_CFG_F_DOCV_DT = 14,
    BMS_CFG_F_CAPACITY = 15,
    BMS_CFG_F_COULOMBIC = 16,
    BMS_CFG_F_C_CORE = 17,
    BMS_CFG_F_C_SURF = 18,
    BMS_CFG_F_R_CORE_SURF = 19,
    BMS_CFG_F_R_SURF_AMB = 20,
    BMS_CFG_F_EST_SOC_INIT = 21,
    BMS_CFG_F_EST_V_RC_INIT = 22,
    BMS_CFG_F_EST_CURRENT_NOISE = 23,
    BMS_CFG_F_EST_CURRENT_GAIN = 24,
    BMS_CFG_F_EST_SOC_RW = 25,
    BMS_CFG_F_EST_V_RC_RW = 26,
    BMS_CFG_F_EST_VOLTAGE_NOISE = 27,
    BMS_CFG_F_EST_MODEL_ERR = 28,
    BMS_CFG_F_EST_R0_REL = 29,
    BMS_CFG_F_EST_RC_REL = 30,
    BMS_CFG_F_EST_RC_V_REL = 31,
    BMS_CFG_F_EST_MODEL_ERR_CORR = 32,
    BMS_CFG_F_EST_CURRENT_ERR_CORR = 33,
    BMS_CFG_F_EST_MISMATCH_WINDOW = 34,
    BMS_CFG_F_EST_MISMATCH_NIS = 35,
    BMS_CFG_F_EST_TEMP_INIT = 36,
    BMS_CFG_F_EST_HEAT_NOISE = 37,
    BMS_CFG_F_EST_TEMP_NOISE = 38,
    BMS_CFG_F_EST_TEMP_SPATIAL = 39,
    BMS_CFG_F_LIMITS = 40,           /* 40 .. 67: 14 quantities x (threshold, hysteresis) */
    BMS_CFG_F_PL_CELL_V_MIN = 68,
    BMS_CFG_F_PL_CELL_V_MAX = 69,
    BMS_CFG_F_PL_TEMP_MIN = 70,
    BMS_CFG_F_PL_TEMP_MAX = 71,
    BMS_CFG_F_PL_NTC_OPEN = 72,
    BMS_CFG_F_PL_NTC_SHORT = 73,
    BMS_CFG_F_PL_OPEN_WIRE = 74,
    BMS_CFG_F_PL_PACK_SUM_TOL = 75,
    BMS_CFG_F_PL_STUCK_DELTA = 76,
    BMS_CFG_F_PL_OFFSET_MAX = 77,
    BMS_CFG_F_PL_CCL_EXCESS_FRAC = 78,
    BMS_CFG_F_PL_CCL_EXCESS_A = 79,
    BMS_CFG_F_PL_COOLANT_FLOW_MIN = 80,
    BMS_CFG_F_PL_CELL_DEV_MAX = 81,
    BMS_CFG_F_PL_CELL_DEV_V_PER_A = 82,
    BMS_CFG_F_PL_CELL_DEV_SOC_SPREAD = 83,
    BMS_CFG_F_PL_CCL_EXCESS_FAST = 84,
    BMS_CFG_F_PRECHARGE_RATIO = 85,
    BMS_CFG_F_PRECHARGE_TIMEOUT = 86,
    BMS_CFG_F_BREAK_CURRENT = 87,
    BMS_CFG_F_OPENING_TIMEOUT = 88,
    BMS_CFG_F_EMERGENCY_MASK = 89,
    BMS_CFG_F_MAP_N_SOC = 90,
    BMS_CFG_F_MAP_N_TEMP = 91,
    BMS_CFG_F_MAP_SOC_BP = 92,
    BMS_CFG_F_MAP_TEMP_BP = 93,
    BMS_CFG_F_MAP_CHARGE = 94,
    BMS_CFG_F_MAP_PLATING = 95,
    BMS_CFG_F_MAP_DISCHARGE = 96,
    BMS_CFG_F_V_CHARGE_MAX = 97,
    BMS_CFG_F_V_DISCHARGE_MIN = 98,
    BMS_CFG_F_HW_CHARGE_MAX = 99,
    BMS_CFG_F_HW_DISCHARGE_MAX = 100,
    BMS_CFG_F_RAMP_UP = 101,
    BMS_CFG_F_CHARGE_TARGET = 102,
    BMS_CFG_F_CHARGE_RESUME = 103,
    BMS_CFG_F_CHARGE_DETECT = 104,
    BMS_CFG_F_HEATER_ON = 105,
    BMS_CFG_F_HEATER_OFF = 106,
    BMS_CFG_F_COOLING_ON = 107,
    BMS_CFG_F_COOLING_OFF = 108,
    BMS_CFG_F_NVM_VALID = 109,
    BMS_CFG_F_NVM_SOC_SIGMA = 110,
    BMS_CFG_F_EST_SOH_INIT = 111,
    BMS_CFG_F_EST_SOH_RW = 112,
    BMS_CFG_F_EST_SOH_REST = 113,
    BMS_CFG_F_EST_SOH_MIN_DSOC = 114,
    BMS_CFG_F_EST_SOH_STEP = 115,
    BMS_CFG_F_NVM_SOH_VALID = 116,
    BMS_CFG_F_NVM_SOH_SIGMA = 117,
    BMS_CFG_F_NVM_SOH_CAP = 118,
    BMS_CFG_F_NVM_SOH_R = 119,
    BMS_CFG_F_EST_SOH_R_INIT = 120,
    BMS_CFG_F_BAL_MODE = 121,
    BMS_CFG_F_BAL_BLEED = 122,
    BMS_CFG_F_BAL_SENSE_WIRE = 123,
    BMS_CFG_F_BAL_START = 124,
    BMS_CFG_F_BAL_STOP = 125,
    BMS_CFG_F_BAL_SOC_SIGMA = 126,
    BMS_CFG_F_BAL_REST_CURRENT = 127,
    BMS_CFG_F_BAL_CHARGE_CURRENT = 128,
    BMS_CFG_F_BAL_TEMP_MAX = 129,
    BMS_CFG_F_BAL_BUDGET = 130,
    BMS_CFG_F_BAL_TEST_DI = 131,
    BMS_CFG_F_BAL_MODULE_CELLS = 132,
    BMS_CFG_F_BAL_MODULE_MAX = 133,
    BMS_CFG_F_BAL_TEST_INTERVAL = 134,
    BMS_CFG_F_BAL_DEBOUNCE = 135,
    BMS_CFG_F_HYST_M = 136,
    BMS_CFG_F_HYST_M0 = 137,
    BMS_CFG_F_HYST_GAMMA = 138,
    BMS_CFG_F_PRECOND_ON = 139,
    BMS_CFG_F_PRECOND_OFF = 140,
    BMS_CFG_F_N_PRESSURE_SENSORS = 141,
    BMS_CFG_F_PL_PRESSURE_MIN = 142,
    BMS_CFG_F_PL_PRESSURE_MAX = 143,
    BMS_CFG_F_PL_PRESSURE_OPEN = 144,
    BMS_CFG_F_EST_R_SURF_AMB_SIGMA = 145,
    BMS_CFG_N_FIELDS = 146
} bms_cfg_field_t;

/* How a field's values are laid out (which counts of the config give its extent). */
#define BMS_CFG_SHAPE_INTEGER 0u      /* not a float: no range row (its rules are in code) */
#define BMS_CFG_SHAPE_SCALAR 1u
#define BMS_CFG_SHAPE_CELL_SOC 2u     /* cell.n_soc values */
#define BMS_CFG_SHAPE_CELL_TEMP 3u    /* cell.n_temp values */
#define BMS_CFG_SHAPE_CELL_TABLE 4u   /* [cell.n_temp][cell.n_soc] */
#define BMS_CFG_SHAPE_MAP_SOC 5u      /* charge.n_soc values */
#define BMS_CFG_SHAPE_MAP_TEMP 6u     /* charge.n_temp values */
#define BMS_CFG_SHAPE_MAP_TABLE 7u    /* [charge.n_temp][charge.n_soc] */
#define BMS_CFG_SHAPE_TIERS 8u        /* warning, derate, trip */

/* bms_cfg_field_info_t.flags */
#define BMS_CFG_LO_INCL 0x01u         /* lo itself is allowed (else: strictly above) */
#define BMS_CFG_HI_INCL 0x02u         /* hi itself is allowed (else: strictly below) */

/* One row of the bounds table. lo/hi bound the value the firmware is given: one series
 * element, which may be a parallel group (capacity, capacitances and heat capacities
 * scale up with the parallel count, resistances down). cell_lo/cell_hi bound the same
 * quantity for ONE cell of a cell file (equal to lo/hi where it does not scale). */
typedef struct {
    const char *name;       /* "cell.capacity_ah" (the bms_config_t member path) */
    const char *unit;       /* "Ah"; "" when dimensionless */
    const char *rule;       /* why these bounds, one short phrase */
    uint32_t offset;        /* byte offset of the first value in bms_config_t */
    uint32_t stride;        /* bytes between rows of a 2-D shape (tiers: between tiers) */
    uint8_t shape;          /* BMS_CFG_SHAPE_* */
    uint8_t flags;          /* BMS_CFG_LO_INCL | BMS_CFG_HI_INCL */
    uint8_t err;            /* the bms_cfg_err_t reported when it is out of range */
    uint8_t reserved;
    float lo;
    float hi;
    float cell_lo;
    float cell_hi;
} bms_cfg_field_info_t;

/* Where bms_config_check_detail() found the first broken rule. */
typedef struct {
    uint32_t field;         /* bms_cfg_field_t */
    uint32_t row;           /* table row (temperature index) or tier; 0 for scalars */
    uint32_t col;           /* table column (soc index) or vector index; 0 for scalars */
    float value;            /* the offending value (NaN for an integer field: see rule) */
    uint32_t out_of_range;  /* 1: value outside [lo, hi] of the field's row; 0: a rule between fields */
    const char *rule;       /* the rule broken, one short phrase */
} bms_cfg_detail_t;

/* bms_config_check() with where: which field (and table index) broke which rule. where
 * may be NULL; on BMS_CFG_OK it is left with field = BMS_CFG_N_FIELDS. */
bms_cfg_err_t bms_config_check_detail(const bms_config_t *cfg, bms_cfg_detail_t *where);
/* The bounds-table row of a field (NULL for an id >= BMS_CFG_N_FIELDS). */
const bms_cfg_field_info_t *bms_config_field_info(uint32_t field);

#endif /* BMS_CONFIG_H */
