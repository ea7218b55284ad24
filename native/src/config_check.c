/* Validation of bms_config_t: the firmware refuses a configuration that
 * breaks a rule, and says which (bms_cfg_err_t) and where (bms_cfg_detail_t).
 *
 * Two kinds of rule:
 *  - every float field has a physically bounded range: one row per field in k_fields
 *    below (data, not code), each bound justified beside it. A configuration inside
 *    these ranges cannot drive the estimators to a non-finite state by its size alone
 *    (proved by the config fuzz, native/fuzz/config_sweep.c); bms.c still latches
 *    BMS_F_ESTIMATOR if a non-finite value ever appears in the state.
 *  - rules between fields (ordering of breakpoints and tiers, windows, shapes), in code,
 *    checked first within each section so the legacy error codes stay what they were.
 *
 * Series element vs cell: the firmware's "cell" is one series element, which may be a
 * parallel group (bms/cells.py CellModel.scaled: capacity, capacitances and heat
 * capacities times the parallel count p, resistances divided by it; scenarios allow
 * p <= 1000). lo/hi bound the element; cell_lo/cell_hi one cell of a cell file. */
#include <stddef.h>

#include "bms/bms.h"
#include "bms/bms_math.h"

#define OFF(m) ((uint32_t)offsetof(bms_config_t, m))
#define LI BMS_CFG_LO_INCL
#define HI BMS_CFG_HI_INCL
#define BOTH (BMS_CFG_LO_INCL | BMS_CFG_HI_INCL)
#define TIER_STRIDE ((uint32_t)sizeof(bms_tier_t))
#define CELL_ROW ((uint32_t)(sizeof(float) * BMS_MAX_SOC_PTS))
#define MAP_ROW ((uint32_t)(sizeof(float) * BMS_MAX_MAP_SOC))

/* A row: name, unit, rule, member, row stride, shape, flags, error, element lo/hi, cell lo/hi. */
#define ROW(nm, un, ru, m, st, sh, fl, er, lo, hi, clo, chi) \
    {nm, un, ru, OFF(m), st, sh, fl, er, 0u, lo, hi, clo, chi}
/* same bounds for the element and for one cell */
#define ROW1(nm, un, ru, m, st, sh, fl, er, lo, hi) ROW(nm, un, ru, m, st, sh, fl, er, lo, hi, lo, hi)
/* a field whose rules are in code (integers, counts, masks) */
#define INT(nm, er, m) ROW1(nm, "", "see rule", m, 0u, BMS_CFG_SHAPE_INTEGER, 0u, er, 0.0f, 0.0f)

/* Limit tiers, per monitored quantity. Cell voltages: no Li/Na-ion cell is used outside
 * 0..6 V (LNMO charges to 4.9-5 V); a hysteresis above 1 V would release nothing.
 * Temperatures: -80..150 degC spans every cell's datasheet window (Li-ion -40..60, sulfide
 * solid-state to ~100 degC) with room; a 50 K hysteresis is already meaningless.
 * Currents: 0 .. 1 MA covers 20000 Ah x 50 C. */
#define LIM_V(qi, nm)                                                                                     \
    ROW1("limits." nm ".threshold", "V", "a cell voltage threshold: 0..6 V", limits.q[qi].warning.threshold, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 6.0f),                     \
    ROW1("limits." nm ".hysteresis", "V", "a voltage hysteresis: 0..1 V", limits.q[qi].warning.hysteresis, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 1.0f)
#define LIM_T(qi, nm)                                                                                       \
    ROW1("limits." nm ".threshold", "degC", "a cell temperature threshold: -80..150 degC",                \
         limits.q[qi].warning.threshold, TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE,     \
         -80.0f, 150.0f),                                                                                  \
    ROW1("limits." nm ".hysteresis", "K", "a temperature hysteresis: 0..50 K", limits.q[qi].warning.hysteresis, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 50.0f)
#define LIM_I(qi, nm)                                                                                      \
    ROW1("limits." nm ".threshold", "A", "a pack current threshold: 0..1e6 A", limits.q[qi].warning.threshold, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 1.0e6f),                    \
    ROW1("limits." nm ".hysteresis", "A", "a current hysteresis: 0..1e6 A", limits.q[qi].warning.hysteresis, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 1.0e6f)

/* Stack pressure (MPa): sulfide solid-state cells are studied from ~0.1 to several hundred MPa
 * (Doux et al., Adv. Energy Mater. 10 (2020) 1903253 cycled at 5-75 MPa); 0..1000 MPa holds every
 * fixture with room, and a hysteresis above 100 MPa would release nothing. */
#define LIM_P(qi, nm)                                                                                       \
    ROW1("limits." nm ".threshold", "MPa", "a stack pressure threshold: 0..1000 MPa",                     \
         limits.q[qi].warning.threshold, TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE,     \
         0.0f, 1000.0f),                                                                                   \
    ROW1("limits." nm ".hysteresis", "MPa", "a pressure hysteresis: 0..100 MPa", limits.q[qi].warning.hysteresis, \
         TIER_STRIDE, BMS_CFG_SHAPE_TIERS, BOTH, BMS_CFG_E_LIMIT_VALUE, 0.0f, 100.0f)

static const bms_cfg_field_info_t k_fields[BMS_CFG_N_FIELDS] = {
    /* ---- pack ---- */
    INT("pack.n_cells", BMS_CFG_E_N_CELLS, pack.n_cells),
    /* current sensors: 1 A full scale (a bench shunt) .. 100 kA (grid storage); automotive
     * shunts are +-1000..2500 A (Isabellenhuette IVT-S) */
    ROW1("pack.current_range_a", "A", "a current sensor's full scale: 1 A..100 kA", pack.current_range_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CURRENT_RANGE, 1.0f, 1.0e5f),
    INT("pack.n_temp_sensors", BMS_CFG_E_N_SENSORS, pack.n_temp_sensors),
    INT("pack.temp_sensor_cell", BMS_CFG_E_SENSOR_CELL, pack.temp_sensor_cell),
    /* ---- cell (series element) ---- */
    INT("cell.n_soc", BMS_CFG_E_TABLE_SHAPE, cell.n_soc),
    INT("cell.n_temp", BMS_CFG_E_TABLE_SHAPE, cell.n_temp),
    ROW1("cell.soc_bp", "", "a state of charge: 0..1", cell.soc_bp, 0u, BMS_CFG_SHAPE_CELL_SOC, BOTH,
         BMS_CFG_E_SOC_BP, 0.0f, 1.0f),
    /* table temperatures: no cell works outside -80..150 degC (Li-ion datasheets -40..60,
     * sulfide solid-state cells to ~100 degC) */
    ROW1("cell.temp_bp_degc", "degC", "a cell temperature: -80..150 degC", cell.temp_bp_degc, 0u,
         BMS_CFG_SHAPE_CELL_TEMP, BOTH, BMS_CFG_E_TEMP_BP, -80.0f, 150.0f),
    /* open-circuit voltage of any Li/Na-ion couple: LTO ~1.5 V, hard carbon Na-ion from
     * ~1 V, LNMO ~4.9 V; 0.5..6 V holds all with room, a kilovolt OCV is a unit error */
    ROW1("cell.ocv_v", "V", "an open-circuit cell voltage: 0.5..6 V", cell.ocv_v, CELL_ROW,
         BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_OCV, 0.5f, 6.0f),
    /* R0 > 0 strictly: a cell has resistance. The lowest cells are large prismatics at
     * ~0.1 mOhm (280 Ah LFP ~0.2 mOhm): one cell 10 uOhm..10 Ohm (a coin cell is ~10 Ohm);
     * a 1000-parallel group of 0.1 mOhm cells is 0.1 uOhm. */
    ROW("cell.r0_ohm", "Ohm", "a cell has resistance: 0.1 uOhm (element)/10 uOhm (cell)..10 Ohm", cell.r0_ohm,
        CELL_ROW, BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_RESISTANCE, 1.0e-7f, 10.0f, 1.0e-5f, 10.0f),
    /* RC branches: a fitted branch may be negligible (the shipped A123 fit has 1 uOhm), so
     * the floor is low but positive (the time constant needs R > 0) */
    ROW("cell.r1_ohm", "Ohm", "a polarisation resistance: 0.1 nOhm (element)/0.1 uOhm (cell)..10 Ohm",
        cell.r1_ohm, CELL_ROW, BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_RESISTANCE, 1.0e-10f, 10.0f, 1.0e-7f,
        10.0f),
    /* polarisation capacitances: tau = R C of 0.1..1000 s with the resistances above; the
     * shipped fits reach 5e7 F (A123, a near-zero branch), a 1000p group 5e10 F */
    ROW("cell.c1_f", "F", "a polarisation capacitance: 1 mF..1e12 F (element)/1e9 F (cell)", cell.c1_f,
        CELL_ROW, BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_CAPACITANCE, 1.0e-3f, 1.0e12f, 1.0e-3f, 1.0e9f),
    ROW("cell.r2_ohm", "Ohm", "a polarisation resistance: 0.1 nOhm (element)/0.1 uOhm (cell)..10 Ohm",
        cell.r2_ohm, CELL_ROW, BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_RESISTANCE, 1.0e-10f, 10.0f, 1.0e-7f,
        10.0f),
    ROW("cell.c2_f", "F", "a polarisation capacitance: 1 mF..1e12 F (element)/1e9 F (cell)", cell.c2_f,
        CELL_ROW, BMS_CFG_SHAPE_CELL_TABLE, BOTH, BMS_CFG_E_CAPACITANCE, 1.0e-3f, 1.0e12f, 1.0e-3f, 1.0e9f),
    /* entropic coefficient: measured values are below 1 mV/K in magnitude for every
     * Li-ion couple (graphite, NMC, LCO, LFP: Viswanathan et al., J. Power Sources 195
     * (2010) 3720); 2 mV/K leaves a factor of two */
    ROW1("cell.docv_dt_v_per_k", "V/K", "an entropic coefficient: |dOCV/dT| <= 2 mV/K", cell.docv_dt_v_per_k, 0u,
         BMS_CFG_SHAPE_CELL_SOC, BOTH, BMS_CFG_E_ENTROPIC, -2.0e-3f, 2.0e-3f),
    /* one cell 1 mAh (a coin cell) .. 2000 Ah (the largest grid prismatics are ~1000 Ah);
     * a series element up to 20 kAh (the 1000-parallel 5.1 kAh group scenarios allow) */
    ROW("cell.capacity_ah", "Ah", "a cell 1 mAh..2000 Ah, a series element up to 20 kAh", cell.capacity_ah, 0u,
        BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CAPACITY, 1.0e-3f, 2.0e4f, 1.0e-3f, 2.0e3f),
    /* Li-ion coulombic efficiency is > 99 %; below 50 % nothing is a working cell */
    ROW1("cell.coulombic_eff", "", "a charge efficiency: 0.5..1", cell.coulombic_eff, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_COULOMBIC, 0.5f, 1.0f),
    /* ---- thermal ---- */
    /* heat capacity ~1 J/(g K): a 0.05 g coin cell's core 0.05 J/K .. a 20 kg prismatic
     * 2e4 J/K (1e5 with room); x1000 parallel for an element */
    ROW("thermal.c_core_j_per_k", "J/K", "a cell's core heat capacity: 0.05 J/K..1e5 J/K (cell)/1e7 (element)",
        thermal.c_core_j_per_k, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_THERMAL, 0.05f, 1.0e7f, 0.05f,
        1.0e5f),
    ROW("thermal.c_surf_j_per_k", "J/K", "a casing's heat capacity: 5 mJ/K..1e5 J/K (cell)/1e7 (element)",
        thermal.c_surf_j_per_k, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_THERMAL, 5.0e-3f, 1.0e7f, 5.0e-3f,
        1.0e5f),
    /* conduction core->surface: 0.05 K/W (shipped pouch) .. a few K/W (cylindrical); 0.1 mK/W
     * .. 100 K/W per cell, /1000 for an element */
    ROW("thermal.r_core_surf_k_per_w", "K/W", "a core-to-surface resistance: 0.1 mK/W (cell)/1 uK/W..100 K/W",
        thermal.r_core_surf_k_per_w, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_THERMAL, 1.0e-6f, 100.0f, 1.0e-4f,
        100.0f),
    /* surface->coolant/ambient: liquid-cooled ~1 K/W, still air ~20 K/W, a coin cell ~100 */
    ROW("thermal.r_surf_amb_k_per_w", "K/W", "a surface-to-ambient resistance: 1 mK/W (cell)/10 uK/W..1000 K/W",
        thermal.r_surf_amb_k_per_w, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_THERMAL, 1.0e-5f, 1000.0f, 1.0e-3f,
        1000.0f),
    /* ---- estimator (1-sigma values: each bounded by what the quantity can mean) ---- */
    ROW1("est.soc_init_sigma", "", "a SoC uncertainty: 1e-4..1 (SoC is within 0..1)", est.soc_init_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 1.0e-4f, 1.0f),
    ROW1("est.v_rc_init_sigma_v", "V", "a polarisation uncertainty: 0..1 V (a cell's polarisation is < 1 V)",
         est.v_rc_init_sigma_v, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 1.0f),
    ROW("est.current_noise_a", "A", "a current sensor's noise: 0..100 A (cell)/1000 A (element)",
        est.current_noise_a, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 1000.0f, 0.0f, 100.0f),
    ROW1("est.current_gain_sigma", "", "a relative gain error: 0..0.5", est.current_gain_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 0.5f),
    /* 0.01/sqrt(s) already spreads the SoC over its whole range in under 3 h */
    ROW1("est.soc_rw_per_sqrt_s", "1/sqrt(s)", "a SoC random walk: 0..0.01/sqrt(s)", est.soc_rw_per_sqrt_s, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 0.01f),
    ROW1("est.v_rc_rw_v_per_sqrt_s", "V/sqrt(s)", "a polarisation random walk: 0..0.1 V/sqrt(s)",
         est.v_rc_rw_v_per_sqrt_s, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 0.1f),
    /* AFE cell-voltage errors are mV (LTC6813: 2.2 mV); 0.5 V would be no measurement */
    ROW1("est.voltage_noise_v", "V", "a cell-voltage noise: 0..0.5 V", est.voltage_noise_v, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 0.5f),
    ROW1("est.model_err_v", "V", "a model voltage error: 0..0.5 V", est.model_err_v, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 0.5f),
    ROW1("est.r0_rel_sigma", "", "a relative uncertainty: 0..10", est.r0_rel_sigma, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 10.0f),
    ROW1("est.rc_rel_sigma", "", "a relative uncertainty: 0..10", est.rc_rel_sigma, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 10.0f),
    ROW1("est.rc_v_rel_sigma", "", "a relative uncertainty: 0..10", est.rc_v_rel_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 10.0f),
    /* a model error that stays for an hour is an offset no filter tuning can describe */
    ROW1("est.model_err_corr_s", "s", "a correlation time: 0..3600 s", est.model_err_corr_s, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 3600.0f),
    /* a current-sensor offset or gain error lasts up to a day (between zero calibrations) */
    ROW1("est.current_err_corr_s", "s", "a correlation time: 0..86400 s", est.current_err_corr_s, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 86400.0f),
    /* the monitor averages over at least a second and at most an hour */
    ROW1("est.mismatch_window_s", "s", "an averaging window: 1..3600 s", est.mismatch_window_s, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 1.0f, 3600.0f),
    /* a model is suspect once its innovations exceed what it states; 1 is what it states */
    ROW1("est.mismatch_nis", "", "a normalised innovation^2 threshold: 1..1e4", est.mismatch_nis, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 1.0f, 1.0e4f),
    ROW1("est.temp_init_sigma_degc", "K", "a temperature uncertainty: 0..50 K", est.temp_init_sigma_degc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 50.0f),
    /* the heat of a cell: R0 I^2 at 1C is ~0.5 W for a 5 Ah cell, ~kW for 1000 Ah at 3C */
    ROW("est.heat_noise_w", "W", "a heat-input uncertainty: 0..1e4 W (cell)/1e6 W (element)", est.heat_noise_w, 0u,
        BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 1.0e6f, 0.0f, 1.0e4f),
    /* > 0: the surface update divides by it (NTC channels ~0.3 K) */
    ROW1("est.temp_noise_degc", "K", "a thermistor noise: 1 mK..20 K", est.temp_noise_degc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 1.0e-3f, 20.0f),
    ROW1("est.temp_spatial_sigma_degc", "K", "a cell-to-neighbour temperature spread: 0..50 K",
         est.temp_spatial_sigma_degc, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 50.0f),
    /* ---- limits (order of bms_quantity_t) ---- */
    LIM_V(BMS_Q_CELL_V_MAX, "cell_v_max"),
    LIM_V(BMS_Q_CELL_V_MIN, "cell_v_min"),
    LIM_T(BMS_Q_CORE_T_MAX_CHG, "core_temp_max_charge"),
    LIM_T(BMS_Q_CORE_T_MAX_DIS, "core_temp_max_discharge"),
    LIM_T(BMS_Q_SURF_T_MAX_CHG, "surface_temp_max_charge"),
    LIM_T(BMS_Q_SURF_T_MAX_DIS, "surface_temp_max_discharge"),
    LIM_T(BMS_Q_T_MIN_CHG, "temp_min_charge"),
    LIM_T(BMS_Q_T_MIN_DIS, "temp_min_discharge"),
    LIM_I(BMS_Q_I_CHG_MAX, "charge_current_max"),
    LIM_I(BMS_Q_I_DIS_MAX, "discharge_current_max"),
    LIM_V(BMS_Q_CELL_V_SPREAD, "cell_v_spread"),
    LIM_P(BMS_Q_P_MIN_CHG, "pressure_min_charge"),
    LIM_P(BMS_Q_P_MIN_DIS, "pressure_min_discharge"),
    LIM_P(BMS_Q_P_MAX, "pressure_max"),
    /* ---- plausibility: AFE and thermistor channel ranges ---- */
    ROW1("plaus.cell_v_min_v", "V", "an AFE input level: -10..10 V", plaus.cell_v_min_v, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_PLAUS, -10.0f, 10.0f),
    ROW1("plaus.cell_v_max_v", "V", "an AFE input level: 0..10 V", plaus.cell_v_max_v, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_PLAUS, 0.0f, 10.0f),
    ROW1("plaus.temp_min_degc", "degC", "a thermistor reading: -273.15..300 degC", plaus.temp_min_degc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -273.15f, 300.0f),
    ROW1("plaus.temp_max_degc", "degC", "a thermistor reading: -273.15..300 degC", plaus.temp_max_degc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -273.15f, 300.0f),
    ROW1("plaus.ntc_open_below_degc", "degC", "a thermistor reading: -273.15..300 degC", plaus.ntc_open_below_degc,
         0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -273.15f, 300.0f),
    ROW1("plaus.ntc_short_above_degc", "degC", "a thermistor reading: -273.15..300 degC",
         plaus.ntc_short_above_degc, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -273.15f, 300.0f),
    ROW1("plaus.open_wire_v", "V", "a cell voltage: 0..6 V", plaus.open_wire_v, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_PLAUS, 0.0f, 6.0f),
    /* 192 cells x 6 V = 1152 V: a tolerance beyond the pack voltage checks nothing */
    ROW1("plaus.pack_sum_tol_v", "V", "a pack-voltage tolerance: 1 mV..2000 V", plaus.pack_sum_tol_v, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 1.0e-3f, 2000.0f),
    ROW1("plaus.stuck_current_delta_a", "A", "a current change: 1 mA..100 kA", plaus.stuck_current_delta_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 1.0e-3f, 1.0e5f),
    ROW1("plaus.current_offset_max_a", "A", "a current offset: 1 mA..100 kA", plaus.current_offset_max_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 1.0e-3f, 1.0e5f),
    ROW1("plaus.ccl_excess_frac", "", "a fraction of the CCL: 0..1", plaus.ccl_excess_frac, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 0.0f, 1.0f),
    ROW1("plaus.ccl_excess_a", "A", "a current: 0..100 kA", plaus.ccl_excess_a, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_PLAUS, 0.0f, 1.0e5f),
    ROW1("plaus.coolant_flow_min_lpm", "l/min", "a coolant flow: 0..1000 l/min", plaus.coolant_flow_min_lpm, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 0.0f, 1000.0f),
    ROW1("plaus.cell_dev_max_v", "V", "a cell voltage deviation: 1 mV..6 V", plaus.cell_dev_max_v, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 1.0e-3f, 6.0f),
    ROW1("plaus.cell_dev_v_per_a", "Ohm", "a resistance: 0..10 Ohm", plaus.cell_dev_v_per_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 0.0f, 10.0f),
    ROW1("plaus.cell_dev_soc_spread", "", "a SoC spread: 0..1", plaus.cell_dev_soc_spread, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, 0.0f, 1.0f),
    INT("plaus.ccl_excess_fast_ms", BMS_CFG_E_PLAUS, plaus.ccl_excess_fast_ms),
    /* ---- contactors ---- */
    ROW1("contactor.precharge_ratio", "", "a fraction of the pack voltage: (0, 1]", contactor.precharge_ratio, 0u,
         BMS_CFG_SHAPE_SCALAR, HI, BMS_CFG_E_CONTACTOR, 0.0f, 1.0f),
    INT("contactor.precharge_timeout_ms", BMS_CFG_E_CONTACTOR, contactor.precharge_timeout_ms),
    ROW1("contactor.break_current_a", "A", "a contactor break current: 0..100 kA", contactor.break_current_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CONTACTOR, 0.0f, 1.0e5f),
    INT("contactor.opening_timeout_ms", BMS_CFG_E_CONTACTOR, contactor.opening_timeout_ms),
    INT("contactor.emergency_mask", BMS_CFG_E_CONTACTOR, contactor.emergency_mask),
    /* ---- charge / current limits ---- */
    INT("charge.n_soc", BMS_CFG_E_MAP_SHAPE, charge.n_soc),
    INT("charge.n_temp", BMS_CFG_E_MAP_SHAPE, charge.n_temp),
    ROW1("charge.soc_bp", "", "a state of charge: 0..1", charge.soc_bp, 0u, BMS_CFG_SHAPE_MAP_SOC, BOTH,
         BMS_CFG_E_MAP_SHAPE, 0.0f, 1.0f),
    ROW1("charge.temp_bp_degc", "degC", "a cell temperature: -80..150 degC", charge.temp_bp_degc, 0u,
         BMS_CFG_SHAPE_MAP_TEMP, BOTH, BMS_CFG_E_MAP_SHAPE, -80.0f, 150.0f),
    /* C-rates: the fastest power cells are rated ~30-50 C; 100 C is beyond any cell */
    ROW1("charge.charge_c", "C", "a C-rate: 0..100 C", charge.charge_c, MAP_ROW, BMS_CFG_SHAPE_MAP_TABLE, BOTH,
         BMS_CFG_E_MAP_VALUE, 0.0f, 100.0f),
    ROW1("charge.plating_c", "C", "a C-rate: 0..100 C", charge.plating_c, MAP_ROW, BMS_CFG_SHAPE_MAP_TABLE, BOTH,
         BMS_CFG_E_MAP_VALUE, 0.0f, 100.0f),
    ROW1("charge.discharge_c", "C", "a C-rate: 0..100 C", charge.discharge_c, MAP_ROW, BMS_CFG_SHAPE_MAP_TABLE,
         BOTH, BMS_CFG_E_MAP_VALUE, 0.0f, 100.0f),
    ROW1("charge.cell_v_charge_max_v", "V", "a cell voltage: 0.5..6 V", charge.cell_v_charge_max_v, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, 0.5f, 6.0f),
    ROW1("charge.cell_v_discharge_min_v", "V", "a cell voltage: 0.5..6 V", charge.cell_v_discharge_min_v, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, 0.5f, 6.0f),
    ROW1("charge.hw_charge_max_a", "A", "a pack hardware current: (0, 1e6] A", charge.hw_charge_max_a, 0u,
         BMS_CFG_SHAPE_SCALAR, HI, BMS_CFG_E_CHARGE, 0.0f, 1.0e6f),
    ROW1("charge.hw_discharge_max_a", "A", "a pack hardware current: (0, 1e6] A", charge.hw_discharge_max_a, 0u,
         BMS_CFG_SHAPE_SCALAR, HI, BMS_CFG_E_CHARGE, 0.0f, 1.0e6f),
    ROW1("charge.ramp_up_a_per_s", "A/s", "a current ramp: (0, 1e7] A/s", charge.ramp_up_a_per_s, 0u,
         BMS_CFG_SHAPE_SCALAR, HI, BMS_CFG_E_CHARGE, 0.0f, 1.0e7f),
    ROW1("charge.charge_target_soc", "", "a state of charge: (0, 1]", charge.charge_target_soc, 0u,
         BMS_CFG_SHAPE_SCALAR, HI, BMS_CFG_E_CHARGE, 0.0f, 1.0f),
    ROW1("charge.charge_resume_soc", "", "a state of charge: (0, 1)", charge.charge_resume_soc, 0u,
         BMS_CFG_SHAPE_SCALAR, 0u, BMS_CFG_E_CHARGE, 0.0f, 1.0f),
    ROW1("charge.charge_detect_a", "A", "a current: 0..10 kA", charge.charge_detect_a, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_CHARGE, 0.0f, 1.0e4f),
    ROW1("charge.heater_on_below_degc", "degC", "a cell temperature: -80..150 degC", charge.heater_on_below_degc,
         0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    ROW1("charge.heater_off_above_degc", "degC", "a cell temperature: -80..150 degC", charge.heater_off_above_degc,
         0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    ROW1("charge.cooling_on_above_degc", "degC", "a cell temperature: -80..150 degC", charge.cooling_on_above_degc,
         0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    ROW1("charge.cooling_off_below_degc", "degC", "a cell temperature: -80..150 degC",
         charge.cooling_off_below_degc, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    /* ---- non-volatile memory ---- */
    INT("nvm.valid", BMS_CFG_E_NVM, nvm.valid),
    /* checked only when valid: a SoC's 1-sigma is within (0, 1] */
    ROW1("nvm.soc_sigma", "", "a SoC uncertainty: (0, 1]", nvm.soc_sigma, 0u, BMS_CFG_SHAPE_SCALAR, HI,
         BMS_CFG_E_NVM, 0.0f, 1.0f),
    /* ---- online state of health (soh.h) ---- */
    /* a new cell's capacity and resistance are known to a few %; beyond 100 % nothing is */
    ROW1("est.soh_init_sigma", "", "a relative uncertainty: 0..1 (0: held)", est.soh_init_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 1.0f),
    /* a cell ages by well under 10 % between two rests or two current steps */
    ROW1("est.soh_rw", "", "a relative drift per update: 0..0.1", est.soh_rw, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_ESTIMATOR, 0.0f, 0.1f),
    /* the fast polarisation relaxes in minutes, diffusion in hours (Plett 2015, sec. 2.10) */
    ROW1("est.soh_rest_s", "s", "a rest: 60..86400 s", est.soh_rest_s, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_ESTIMATOR, 60.0f, 86400.0f),
    ROW1("est.soh_min_dsoc", "", "a SoC swing: 0.05..1", est.soh_min_dsoc, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_ESTIMATOR, 0.05f, 1.0f),
    ROW1("est.soh_step_c", "C", "a current step: 0.01..10 C", est.soh_step_c, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_ESTIMATOR, 0.01f, 10.0f),
    INT("nvm.soh_valid", BMS_CFG_E_NVM, nvm.soh_valid),
    /* checked only when valid */
    ROW1("nvm.soh_sigma", "", "a relative uncertainty: (0, 1]", nvm.soh_sigma, 0u, BMS_CFG_SHAPE_SCALAR, HI,
         BMS_CFG_E_NVM, 0.0f, 1.0f),
    INT("nvm.cap_q", BMS_CFG_E_NVM, nvm.cap_q),
    INT("nvm.r_q", BMS_CFG_E_NVM, nvm.r_q),
    /* an end-of-life cell has about doubled its resistance: 1-sigma up to 1 covers it */
    ROW1("est.soh_r_init_sigma", "", "a relative uncertainty: 0..1", est.soh_r_init_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 1.0f),
    /* balancing (balancing.h): a bleed resistor of 1 ohm already bleeds 4 A (a board's
     * limit is ~0.1-0.3 A per channel), one of 10 kohm nothing useful; a sense line of more
     * than 10 ohm is a broken one */
    INT("bal.mode", BMS_CFG_E_BALANCE, bal.mode),
    ROW1("bal.bleed_ohm", "ohm", "a bleed resistor: 1..10000 ohm", bal.bleed_ohm, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_BALANCE, 1.0f, 10000.0f),
    ROW1("bal.sense_wire_ohm", "ohm", "a sense line: 0..10 ohm", bal.sense_wire_ohm, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_BALANCE, 0.0f, 10.0f),
    ROW1("bal.start_dsoc", "", "an imbalance: 0.001..0.5 of the capacity", bal.start_dsoc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_BALANCE, 0.001f, 0.5f),
    ROW1("bal.stop_dsoc", "", "an imbalance: 0..0.5 of the capacity", bal.stop_dsoc, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_BALANCE, 0.0f, 0.5f),
    ROW1("bal.soc_sigma_max", "", "a SoC uncertainty: 0.001..1", bal.soc_sigma_max, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_BALANCE, 0.001f, 1.0f),
    ROW1("bal.rest_current_a", "A", "a pack current: 0..1e6 A", bal.rest_current_a, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_BALANCE, 0.0f, 1.0e6f),
    ROW1("bal.charge_current_max_a", "A", "a pack current: 0..1e6 A", bal.charge_current_max_a, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_BALANCE, 0.0f, 1.0e6f),
    ROW1("bal.temp_max_degc", "degC", "a board temperature: -80..150 degC", bal.temp_max_degc, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_BALANCE, -80.0f, 150.0f),
    ROW1("bal.rest_budget_s", "s", "a balancing time: 0..30 days", bal.rest_budget_s, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_BALANCE, 0.0f, 2592000.0f),
    ROW1("bal.test_di_max_a", "A", "a current change: 0.001..1e6 A", bal.test_di_max_a, 0u, BMS_CFG_SHAPE_SCALAR,
         BOTH, BMS_CFG_E_BALANCE, 0.001f, 1.0e6f),
    INT("bal.cells_per_module", BMS_CFG_E_BALANCE, bal.cells_per_module),
    INT("bal.max_per_module", BMS_CFG_E_BALANCE, bal.max_per_module),
    INT("bal.test_interval_ms", BMS_CFG_E_BALANCE, bal.test_interval_ms),
    INT("bal.switch_debounce_ms", BMS_CFG_E_BALANCE, bal.switch_debounce_ms),
    /* voltage hysteresis (hysteresis.h): LFP keeps 10-30 mV between its charge and discharge
     * branches at rest (Roscher & Sauer, J. Power Sources 196 (2011) 331), NMC/NCA a few mV to
     * ~20 mV (Plett 2004: tens of mV on a LiPB cell), silicon-rich anodes a few hundred mV (Sethuraman
     * et al., J. Electrochem. Soc. 160 (2013) A394): 0.5 V covers them all with room.
     * gamma: Plett's fits are O(1..1000) (a full branch change in 0.1-100 % of the capacity);
     * 1e4 turns h over within 0.05 % SoC, already an instantaneous term */
    ROW1("cell.hyst_m_v", "V", "a hysteresis: 0..0.5 V", cell.hyst_m_v, 0u, BMS_CFG_SHAPE_CELL_TEMP, BOTH,
         BMS_CFG_E_HYSTERESIS, 0.0f, 0.5f),
    ROW1("cell.hyst_m0_v", "V", "a hysteresis: 0..0.5 V", cell.hyst_m0_v, 0u, BMS_CFG_SHAPE_CELL_TEMP, BOTH,
         BMS_CFG_E_HYSTERESIS, 0.0f, 0.5f),
    ROW1("cell.hyst_gamma", "", "a hysteresis rate: 0..1e4", cell.hyst_gamma, 0u, BMS_CFG_SHAPE_SCALAR, BOTH,
         BMS_CFG_E_HYSTERESIS, 0.0f, 1.0e4f),
    ROW1("charge.precond_on_below_degc", "degC", "a cell temperature: -80..150 degC", charge.precond_on_below_degc,
         0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    ROW1("charge.precond_off_above_degc", "degC", "a cell temperature: -80..150 degC",
         charge.precond_off_above_degc, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_CHARGE, -80.0f, 150.0f),
    INT("pack.n_pressure_sensors", BMS_CFG_E_N_SENSORS, pack.n_pressure_sensors),
    /* a pressure transmitter's span (4-20 mA over e.g. 0-20 MPa): an open loop reads below its
     * zero, down to -25 % of the span (0 mA), so the thresholds may sit below 0 */
    ROW1("plaus.pressure_min_mpa", "MPa", "a stack pressure reading: -1000..1000 MPa", plaus.pressure_min_mpa, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -1000.0f, 1000.0f),
    ROW1("plaus.pressure_max_mpa", "MPa", "a stack pressure reading: -1000..1000 MPa", plaus.pressure_max_mpa, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -1000.0f, 1000.0f),
    ROW1("plaus.pressure_open_below_mpa", "MPa", "a stack pressure reading: -1000..1000 MPa",
         plaus.pressure_open_below_mpa, 0u, BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_PLAUS, -1000.0f, 1000.0f),
    ROW1("est.r_surf_amb_rel_sigma", "", "a relative uncertainty: 0..10", est.r_surf_amb_rel_sigma, 0u,
         BMS_CFG_SHAPE_SCALAR, BOTH, BMS_CFG_E_ESTIMATOR, 0.0f, 10.0f),
};

const bms_cfg_field_info_t *bms_config_field_info(uint32_t field)
{
    return (field < (uint32_t)BMS_CFG_N_FIELDS) ? &k_fields[field] : 0;
}

/* Record the first broken rule; returns its error code. */
static bms_cfg_err_t fail(bms_cfg_detail_t *d, uint32_t field, uint32_t row, uint32_t col, float value,
                          const char *rule)
{
    d->field = field;
    d->row = row;
    d->col = col;
    d->value = value;
    d->out_of_range = 0u;
    d->rule = rule;
    return (bms_cfg_err_t)k_fields[field].err;
}

static int32_t in_range(const bms_cfg_field_info_t *f, float v)
{
    if (bms_isfinitef(v) == 0) {
        return 0;
    }
    const int32_t lo_ok = ((f->flags & BMS_CFG_LO_INCL) != 0u) ? (v >= f->lo) : (v > f->lo);
    const int32_t hi_ok = ((f->flags & BMS_CFG_HI_INCL) != 0u) ? (v <= f->hi) : (v < f->hi);
    return ((lo_ok != 0) && (hi_ok != 0)) ? 1 : 0;
}

/* Extent of a field's values in this configuration (the counts are checked before). */
static void extent(const bms_config_t *cfg, uint8_t shape, uint32_t *rows, uint32_t *cols)
{
    *rows = 1u;
    *cols = 1u;
    switch (shape) {
    case BMS_CFG_SHAPE_CELL_SOC:
        *cols = cfg->cell.n_soc;
        break;
    case BMS_CFG_SHAPE_CELL_TEMP:
        *cols = cfg->cell.n_temp;
        break;
    case BMS_CFG_SHAPE_CELL_TABLE:
        *rows = cfg->cell.n_temp;
        *cols = cfg->cell.n_soc;
        break;
    case BMS_CFG_SHAPE_MAP_SOC:
        *cols = cfg->charge.n_soc;
        break;
    case BMS_CFG_SHAPE_MAP_TEMP:
        *cols = cfg->charge.n_temp;
        break;
    case BMS_CFG_SHAPE_MAP_TABLE:
        *rows = cfg->charge.n_temp;
        *cols = cfg->charge.n_soc;
        break;
    case BMS_CFG_SHAPE_TIERS:
        *rows = 3u;
        break;
    case BMS_CFG_SHAPE_INTEGER:
        *rows = 0u;
        break;
    default: /* BMS_CFG_SHAPE_SCALAR */
        break;
    }
}

/* The bounds rows of fields first..last (one section). */
static bms_cfg_err_t check_rows(const bms_config_t *cfg, uint32_t first, uint32_t last, bms_cfg_detail_t *d)
{
    const uint8_t *base = (const uint8_t *)(const void *)cfg;
    for (uint32_t f = first; f <= last; f++) {
        const bms_cfg_field_info_t *info = &k_fields[f];
        uint32_t rows;
        uint32_t cols;
        extent(cfg, info->shape, &rows, &cols);
        for (uint32_t r = 0u; r < rows; r++) {
            const float *v = (const float *)(const void *)(base + info->offset + (r * info->stride));
            for (uint32_t c = 0u; c < cols; c++) {
                if (in_range(info, v[c]) == 0) {
                    (void)fail(d, f, r, c, v[c], info->rule);
                    d->out_of_range = 1u;
                    return (bms_cfg_err_t)info->err;
                }
            }
        }
    }
    return BMS_CFG_OK;
}

/* First index where x is not finite or not above its predecessor; n if none. */
static uint32_t not_increasing_at(const float *x, uint32_t n)
{
    for (uint32_t i = 0u; i < n; i++) {
        if ((bms_isfinitef(x[i]) == 0) || ((i > 0u) && !(x[i] > x[i - 1u]))) {
            return i;
        }
    }
    return n;
}

static bms_cfg_err_t check_pack(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_pack_params_t *pk = &cfg->pack;
    if ((pk->n_cells < 1u) || (pk->n_cells > BMS_MAX_CELLS)) {
        return fail(d, BMS_CFG_F_N_CELLS, 0u, 0u, (float)pk->n_cells, "pack.n_cells must be in [1, BMS_MAX_CELLS]");
    }
    if ((bms_isfinitef(pk->current_range_a) == 0) || !(pk->current_range_a > 0.0f)) {
        return fail(d, BMS_CFG_F_CURRENT_RANGE, 0u, 0u, pk->current_range_a, "must be > 0");
    }
    if (pk->n_temp_sensors > BMS_MAX_TEMP_SENSORS) {
        return fail(d, BMS_CFG_F_N_TEMP_SENSORS, 0u, 0u, (float)pk->n_temp_sensors,
                    "at most BMS_MAX_TEMP_SENSORS sensors");
    }
    for (uint32_t j = 0u; j < pk->n_temp_sensors; j++) {
        if (pk->temp_sensor_cell[j] >= pk->n_cells) {
            return fail(d, BMS_CFG_F_TEMP_SENSOR_CELL, 0u, j, (float)pk->temp_sensor_cell[j],
                        "a sensor's cell must be < pack.n_cells");
        }
        for (uint32_t k = 0u; k < j; k++) {
            if (pk->temp_sensor_cell[k] == pk->temp_sensor_cell[j]) {
                return fail(d, BMS_CFG_F_TEMP_SENSOR_CELL, 0u, j, (float)pk->temp_sensor_cell[j],
                            "two sensors on one cell");
            }
        }
    }
    if ((pk->n_pressure_sensors > BMS_MAX_PRESSURE_SENSORS) || (pk->n_pressure_sensors > pk->n_cells)) {
        return fail(d, BMS_CFG_F_N_PRESSURE_SENSORS, 0u, 0u, (float)pk->n_pressure_sensors,
                    "at most BMS_MAX_PRESSURE_SENSORS pressure sensors, and no more than pack.n_cells");
    }
    return check_rows(cfg, BMS_CFG_F_N_CELLS, BMS_CFG_F_TEMP_SENSOR_CELL, d);
}

static bms_cfg_err_t check_cell(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_cell_params_t *cp = &cfg->cell;
    const uint32_t ns = cp->n_soc;
    const uint32_t nt = cp->n_temp;
    if ((ns < 2u) || (ns > BMS_MAX_SOC_PTS)) {
        return fail(d, BMS_CFG_F_CELL_N_SOC, 0u, 0u, (float)ns, "needs 2..BMS_MAX_SOC_PTS soc breakpoints");
    }
    if ((nt < 1u) || (nt > BMS_MAX_TEMP_PTS)) {
        return fail(d, BMS_CFG_F_CELL_N_TEMP, 0u, 0u, (float)nt, "needs 1..BMS_MAX_TEMP_PTS temperature breakpoints");
    }
    uint32_t at = not_increasing_at(cp->soc_bp, ns);
    if (at < ns) {
        return fail(d, BMS_CFG_F_SOC_BP, 0u, at, cp->soc_bp[at], "must be finite and strictly increasing");
    }
    at = not_increasing_at(cp->temp_bp_degc, nt);
    if (at < nt) {
        return fail(d, BMS_CFG_F_TEMP_BP, 0u, at, cp->temp_bp_degc[at], "must be finite and strictly increasing");
    }
    for (uint32_t i = 0u; i < nt; i++) {
        at = not_increasing_at(cp->ocv_v[i], ns);
        if (at < ns) {
            return fail(d, BMS_CFG_F_OCV, i, at, cp->ocv_v[i][at], "must be finite and strictly increasing in soc");
        }
    }
    const bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_CELL_N_SOC, BMS_CFG_F_COULOMBIC, d);
    return (e != BMS_CFG_OK) ? e : check_rows(cfg, BMS_CFG_F_HYST_M, BMS_CFG_F_HYST_GAMMA, d);
}

static bms_cfg_err_t check_estimator(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_EST_SOC_INIT, BMS_CFG_F_EST_TEMP_SPATIAL, d);
    if (e == BMS_CFG_OK) {
        e = check_rows(cfg, BMS_CFG_F_EST_SOH_INIT, BMS_CFG_F_EST_SOH_STEP, d);
    }
    if (e == BMS_CFG_OK) {
        e = check_rows(cfg, BMS_CFG_F_EST_SOH_R_INIT, BMS_CFG_F_EST_SOH_R_INIT, d);
    }
    if (e == BMS_CFG_OK) {
        e = check_rows(cfg, BMS_CFG_F_EST_R_SURF_AMB_SIGMA, BMS_CFG_F_EST_R_SURF_AMB_SIGMA, d);
    }
    /* the cell-voltage measurement variance must not vanish (division by S) */
    if ((e == BMS_CFG_OK) && !((cfg->est.voltage_noise_v + cfg->est.model_err_v) > 0.0f)) {
        e = fail(d, BMS_CFG_F_EST_VOLTAGE_NOISE, 0u, 0u, cfg->est.voltage_noise_v,
                 "voltage_noise_v + model_err_v must be > 0");
    }
    return e;
}

static bms_cfg_err_t check_limits(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_limits_t *lim = &cfg->limits;
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        const bms_limit_t *l = &lim->q[q];
        const bms_tier_t *t[] = {&l->warning, &l->derate, &l->trip};
        const uint32_t f = (uint32_t)BMS_CFG_F_LIMITS + (2u * q);
        for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(t); k++) {
            if (bms_isfinitef(t[k]->threshold) == 0) {
                return fail(d, f, k, 0u, t[k]->threshold, "must be finite");
            }
            if ((bms_isfinitef(t[k]->hysteresis) == 0) || (t[k]->hysteresis < 0.0f)) {
                return fail(d, f + 1u, k, 0u, t[k]->hysteresis, "must be finite and >= 0");
            }
        }
        const int32_t is_max = bms_safety_is_max(q);
        const int32_t ordered = (is_max != 0)
            ? ((l->warning.threshold < l->derate.threshold) && (l->derate.threshold < l->trip.threshold))
            : ((l->warning.threshold > l->derate.threshold) && (l->derate.threshold > l->trip.threshold));
        if (ordered == 0) {
            (void)fail(d, f, 1u, 0u, l->derate.threshold,
                       (is_max != 0) ? "a maximum needs warning < derate < trip"
                                     : "a minimum needs warning > derate > trip");
            return BMS_CFG_E_LIMIT_ORDER;
        }
    }
    return check_rows(cfg, BMS_CFG_F_LIMITS, BMS_CFG_F_PL_CELL_V_MIN - 1u, d);
}

static bms_cfg_err_t check_plaus(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_plaus_params_t *p = &cfg->plaus;
    bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_PL_CELL_V_MIN, BMS_CFG_F_PL_CCL_EXCESS_FAST, d);
    if (e != BMS_CFG_OK) {
        return e;
    }
    if (!(p->cell_v_min_v < p->open_wire_v) || !(p->open_wire_v < p->cell_v_max_v)) {
        return fail(d, BMS_CFG_F_PL_OPEN_WIRE, 0u, 0u, p->open_wire_v, "needs cell_v_min_v < open_wire_v < cell_v_max_v");
    }
    if (!(p->ntc_open_below_degc < p->temp_min_degc) || !(p->temp_min_degc < p->temp_max_degc)
        || !(p->temp_max_degc < p->ntc_short_above_degc)) {
        return fail(d, BMS_CFG_F_PL_TEMP_MIN, 0u, 0u, p->temp_min_degc,
                    "needs ntc_open_below_degc < temp_min_degc < temp_max_degc < ntc_short_above_degc");
    }
    e = check_rows(cfg, BMS_CFG_F_PL_PRESSURE_MIN, BMS_CFG_F_PL_PRESSURE_OPEN, d);
    if (e != BMS_CFG_OK) {
        return e;
    }
    if (!(p->pressure_open_below_mpa < p->pressure_min_mpa) || !(p->pressure_min_mpa < p->pressure_max_mpa)) {
        return fail(d, BMS_CFG_F_PL_PRESSURE_MIN, 0u, 0u, p->pressure_min_mpa,
                    "needs pressure_open_below_mpa < pressure_min_mpa < pressure_max_mpa");
    }
    if (p->ccl_excess_fast_ms > p->ccl_excess_debounce_ms) {
        return fail(d, BMS_CFG_F_PL_CCL_EXCESS_FAST, 0u, 0u, (float)p->ccl_excess_fast_ms,
                    "ccl_excess_fast_ms must be <= ccl_excess_debounce_ms");
    }
    return BMS_CFG_OK;
}

static bms_cfg_err_t check_contactor(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_contactor_params_t *c = &cfg->contactor;
    if (c->precharge_timeout_ms == 0u) {
        return fail(d, BMS_CFG_F_PRECHARGE_TIMEOUT, 0u, 0u, 0.0f, "must be > 0 ms");
    }
    if (c->opening_timeout_ms == 0u) {
        return fail(d, BMS_CFG_F_OPENING_TIMEOUT, 0u, 0u, 0.0f, "must be > 0 ms");
    }
    if ((c->emergency_mask >> (uint32_t)BMS_N_FAULTS) != 0u) {
        return fail(d, BMS_CFG_F_EMERGENCY_MASK, 0u, 0u, (float)c->emergency_mask, "only fault ids < BMS_N_FAULTS");
    }
    return check_rows(cfg, BMS_CFG_F_PRECHARGE_RATIO, BMS_CFG_F_EMERGENCY_MASK, d);
}

static bms_cfg_err_t check_charge(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_charge_params_t *c = &cfg->charge;
    const bms_limits_t *lim = &cfg->limits;
    if ((c->n_soc < 2u) || (c->n_soc > BMS_MAX_MAP_SOC)) {
        return fail(d, BMS_CFG_F_MAP_N_SOC, 0u, 0u, (float)c->n_soc, "needs 2..BMS_MAX_MAP_SOC soc breakpoints");
    }
    if ((c->n_temp < 1u) || (c->n_temp > BMS_MAX_MAP_TEMP)) {
        return fail(d, BMS_CFG_F_MAP_N_TEMP, 0u, 0u, (float)c->n_temp, "needs 1..BMS_MAX_MAP_TEMP temperature breakpoints");
    }
    uint32_t at = not_increasing_at(c->soc_bp, c->n_soc);
    if (at < c->n_soc) {
        return fail(d, BMS_CFG_F_MAP_SOC_BP, 0u, at, c->soc_bp[at], "must be finite and strictly increasing");
    }
    at = not_increasing_at(c->temp_bp_degc, c->n_temp);
    if (at < c->n_temp) {
        return fail(d, BMS_CFG_F_MAP_TEMP_BP, 0u, at, c->temp_bp_degc[at], "must be finite and strictly increasing");
    }
    bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_MAP_N_SOC, BMS_CFG_F_COOLING_OFF, d);
    if (e == BMS_CFG_OK) {
        e = check_rows(cfg, BMS_CFG_F_PRECOND_ON, BMS_CFG_F_PRECOND_OFF, d);
    }
    if (e != BMS_CFG_OK) {
        return e;
    }
    if (!(c->cell_v_charge_max_v < lim->q[BMS_Q_CELL_V_MAX].warning.threshold)) {
        return fail(d, BMS_CFG_F_V_CHARGE_MAX, 0u, 0u, c->cell_v_charge_max_v,
                    "must be below limits.cell_v_max.warning");
    }
    if (!(c->cell_v_discharge_min_v > lim->q[BMS_Q_CELL_V_MIN].warning.threshold)) {
        return fail(d, BMS_CFG_F_V_DISCHARGE_MIN, 0u, 0u, c->cell_v_discharge_min_v,
                    "must be above limits.cell_v_min.warning");
    }
    if (!(c->cell_v_discharge_min_v < c->cell_v_charge_max_v)) {
        return fail(d, BMS_CFG_F_V_DISCHARGE_MIN, 0u, 0u, c->cell_v_discharge_min_v,
                    "must be below cell_v_charge_max_v");
    }
    if (!(c->charge_resume_soc < c->charge_target_soc)) {
        return fail(d, BMS_CFG_F_CHARGE_RESUME, 0u, 0u, c->charge_resume_soc, "must be below charge_target_soc");
    }
    if (!(c->heater_off_above_degc > c->heater_on_below_degc)) {
        return fail(d, BMS_CFG_F_HEATER_OFF, 0u, 0u, c->heater_off_above_degc, "must be above heater_on_below_degc");
    }
    if (!(c->cooling_on_above_degc > c->cooling_off_below_degc)) {
        return fail(d, BMS_CFG_F_COOLING_ON, 0u, 0u, c->cooling_on_above_degc,
                    "must be above cooling_off_below_degc");
    }
    if (!(c->precond_on_below_degc >= c->heater_on_below_degc)) {
        return fail(d, BMS_CFG_F_PRECOND_ON, 0u, 0u, c->precond_on_below_degc,
                    "must be at or above heater_on_below_degc");
    }
    if (!(c->precond_off_above_degc > c->precond_on_below_degc)) {
        return fail(d, BMS_CFG_F_PRECOND_OFF, 0u, 0u, c->precond_off_above_degc,
                    "must be above precond_on_below_degc");
    }
    if (!(c->precond_off_above_degc < c->cooling_on_above_degc)) {
        return fail(d, BMS_CFG_F_PRECOND_OFF, 0u, 0u, c->precond_off_above_degc,
                    "must be below cooling_on_above_degc");
    }
    return BMS_CFG_OK;
}

/* the stored SoC is 16-bit fixed point: every code is a SoC in [0, 1] */
static bms_cfg_err_t check_nvm(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_nvm_t *n = &cfg->nvm;
    if (n->valid > 1u) {
        return fail(d, BMS_CFG_F_NVM_VALID, 0u, 0u, (float)n->valid, "must be 0 or 1");
    }
    if (n->valid != 0u) {
        const bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_NVM_SOC_SIGMA, BMS_CFG_F_NVM_SOC_SIGMA, d);
        if (e != BMS_CFG_OK) {
            return e;
        }
    }
    if (n->soh_valid > 1u) {
        return fail(d, BMS_CFG_F_NVM_SOH_VALID, 0u, 0u, (float)n->soh_valid, "must be 0 or 1");
    }
    if (n->soh_valid == 0u) {
        return BMS_CFG_OK;
    }
    /* the stored scales are within what the state-of-health filter keeps (soh.c) */
    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {
        if ((n->cap_q[i] < 16384u) || (n->cap_q[i] > 49152u)) {
            return fail(d, BMS_CFG_F_NVM_SOH_CAP, 0u, i, (float)n->cap_q[i] / 32768.0f,
                        "a capacity scale must be within [0.5, 1.5]");
        }
        if (n->r_q[i] < 8192u) {
            return fail(d, BMS_CFG_F_NVM_SOH_R, 0u, i, (float)n->r_q[i] / 16384.0f,
                        "a resistance scale must be within [0.5, 4)");
        }
    }
    return check_rows(cfg, BMS_CFG_F_NVM_SOH_SIGMA, BMS_CFG_F_NVM_SOH_SIGMA, d);
}

/* Balancing: its ranges and the rules between its fields, when it is on. */
static bms_cfg_err_t check_balance(const bms_config_t *cfg, bms_cfg_detail_t *d)
{
    const bms_balance_params_t *b = &cfg->bal;
    if (b->mode >= (uint32_t)BMS_BAL_N_MODES) {
        return fail(d, BMS_CFG_F_BAL_MODE, 0u, 0u, (float)b->mode, "must be 0 (off), 1 (top) or 2 (bottom)");
    }
    if (b->mode == (uint32_t)BMS_BAL_OFF) {
        return BMS_CFG_OK; /* nothing of it is used */
    }
    const bms_cfg_err_t e = check_rows(cfg, BMS_CFG_F_BAL_BLEED, BMS_CFG_F_BAL_TEST_DI, d);
    if (e != BMS_CFG_OK) {
        return e;
    }
    if ((b->cells_per_module < 1u) || (b->cells_per_module > (uint32_t)BMS_MAX_CELLS)) {
        return fail(d, BMS_CFG_F_BAL_MODULE_CELLS, 0u, 0u, (float)b->cells_per_module,
                    "must be within 1..BMS_MAX_CELLS");
    }
    if ((b->max_per_module < 1u) || (b->max_per_module > b->cells_per_module)) {
        return fail(d, BMS_CFG_F_BAL_MODULE_MAX, 0u, 0u, (float)b->max_per_module,
                    "must be within 1..cells_per_module");
    }
    if ((b->test_interval_ms < 1000u) || (b->test_interval_ms > 86400000u)) {
        return fail(d, BMS_CFG_F_BAL_TEST_INTERVAL, 0u, 0u, (float)b->test_interval_ms,
                    "must be within 1 s..1 day");
    }
    if ((b->switch_debounce_ms < b->test_interval_ms) || (b->switch_debounce_ms > 86400000u)) {
        return fail(d, BMS_CFG_F_BAL_DEBOUNCE, 0u, 0u, (float)b->switch_debounce_ms,
                    "must be within test_interval_ms..1 day (a failed switch is tested again before it trips)");
    }
    if (!(b->stop_dsoc < b->start_dsoc)) {
        return fail(d, BMS_CFG_F_BAL_STOP, 0u, 0u, b->stop_dsoc, "must be below start_dsoc");
    }
    /* the switch test must see a conducting switch over the readings' noise at the lowest
     * voltage the cells are used at */
    if (!(bms_bal_step_v(cfg, cfg->charge.cell_v_discharge_min_v) >= (4.0f * cfg->est.voltage_noise_v))) {
        return fail(d, BMS_CFG_F_BAL_SENSE_WIRE, 0u, 0u, b->sense_wire_ohm,
                    "the switch test's step 2 sense_wire_ohm V / bleed_ohm at charge.cell_v_discharge_min_v "
                    "must be at least 4 x est.voltage_noise_v");
    }
    return BMS_CFG_OK;
}

bms_cfg_err_t bms_config_check_detail(const bms_config_t *cfg, bms_cfg_detail_t *where)
{
    bms_cfg_detail_t d;
    d.field = (uint32_t)BMS_CFG_N_FIELDS;
    d.row = 0u;
    d.col = 0u;
    d.value = 0.0f;
    d.out_of_range = 0u;
    d.rule = "";
    bms_cfg_err_t e = check_pack(cfg, &d);
    if (e == BMS_CFG_OK) {
        e = check_cell(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_rows(cfg, BMS_CFG_F_C_CORE, BMS_CFG_F_R_SURF_AMB, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_estimator(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_limits(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_plaus(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_contactor(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_charge(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_balance(cfg, &d);
    }
    if (e == BMS_CFG_OK) {
        e = check_nvm(cfg, &d);
    }
    if (where != 0) {
        *where = d;
    }
    return e;
}

bms_cfg_err_t bms_config_check(const bms_config_t *cfg)
{
    return bms_config_check_detail(cfg, 0);
}
