/*
 * State of power (SoP): per pack, for the horizons 2, 10 and 30 s, the largest constant
 * charge and discharge current that keeps every cell's predicted terminal voltage within
 * [charge.cell_v_discharge_min_v, charge.cell_v_charge_max_v] over the whole horizon, from
 * each cell's present SoC filter state (soc_ekf.h) by the ECM's closed-form step response:
 *
 *   v(t) = OCV(soc0 - I t / Q) - I R0 - sum_i [ v_i0 e^{-t/tau_i} + I R_i (1 - e^{-t/tau_i}) ]
 *
 * (current > 0 discharge), parameters at their worst over the SoC the step may sweep (sop.c)
 * at the cell's core-temperature estimate, its
 * resistances scaled by its health times the resistance's upper bound (soh.h), its capacity
 * by its capacity scale. The pack figure is the smallest cell's, capped by the current
 * limit's other terms (maps, plating, derates, hardware: current_limit.h) and 0 wherever
 * the CCL / DCL is 0 for a reason that is no term (fault, contactors, no data, temperature
 * window, charge complete). No per-cell state: one pass over the cells per step.
 */
#ifndef BMS_SOP_H
#define BMS_SOP_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/current_limit.h"

#define BMS_SOP_N_HORIZONS 3u
/* the horizons (s): 2, 10, 30; each a whole multiple of the first (sop.c raises the
 * first's decay factor to the power) */
#define BMS_SOP_H0_S 2.0f
#define BMS_SOP_H1_S 10.0f
#define BMS_SOP_H2_S 30.0f

/* index of the direction in the per-cell result */
#define BMS_SOP_CHG 0u
#define BMS_SOP_DIS 1u

/* One cell's present state as the SoP reads it. */
typedef struct {
    float soc;
    float soc_sigma;       /* the SoC filter's 1-sigma (its covariance) */
    float v_rc1_v;
    float v_rc2_v;
    float temp_degc;       /* core-temperature estimate */
    float r_scale;         /* resistances against the model (health x upper-bound factor) */
    float cap_scale;       /* capacity against the model */
    float v_meas_v;        /* its measured voltage this step (NaN: none usable) ... */
    float i_now_a;         /* ... at this pack current (> 0 discharge; NaN: unknown) */
    float cap_a[2];        /* the limit's other terms [BMS_SOP_CHG / _DIS] (bms_sop_cap; NaN: none) */
    float hyst_v;          /* the OCV's hysteresis now (hysteresis.h) */
} bms_sop_cell_in_t;

/* One cell's result per direction [BMS_SOP_CHG / _DIS] and horizon: the largest safe
 * current magnitude (A, >= 0) and the terminal voltage at the horizon's end as a line in
 * the current magnitude I: v_end = a_v + sign * b_ohm * I (sign +1 charge, -1 discharge). */
typedef struct {
    float i_a[2][BMS_SOP_N_HORIZONS];
    float a_v[2][BMS_SOP_N_HORIZONS];
    float b_ohm[2][BMS_SOP_N_HORIZONS];
} bms_sop_cell_out_t;

/* The pack's figures folded as the cells go by (no per-cell RAM). */
typedef struct {
    float i_a[2][BMS_SOP_N_HORIZONS];   /* smallest cell's current */
    float a_v[2][BMS_SOP_N_HORIZONS];   /* sums of the cells' end-voltage lines */
    float b_ohm[2][BMS_SOP_N_HORIZONS];
} bms_sop_acc_t;

/* The extremes bms_sop_cell takes the parameters at over the SoC window [lo_soc, hi_soc] at
 * temp_degc: each resistance's largest (R0, R1, R2; before the cell's scale) and each RC
 * branch's shortest and longest time constant (for its unit test; see sop.c). */
void bms_sop_window(const bms_config_t *cfg, float lo_soc, float hi_soc, float temp_degc, float r_max_ohm[3],
                    float tau_min_s[2], float tau_max_s[2]);

/* Largest safe constant current of one cell from its state (see sop.c for which points of
 * the horizon are checked and why that suffices). */
void bms_sop_cell(const bms_config_t *cfg, const bms_sop_cell_in_t *c, bms_sop_cell_out_t *o);
void bms_sop_acc_init(bms_sop_acc_t *acc);
void bms_sop_acc_cell(bms_sop_acc_t *acc, const bms_sop_cell_out_t *o);
/* bms_sop_cell and bms_sop_acc_cell in one, bit for bit, without the cell's results held:
 * the firmware's step (its deepest call path is this one: the stack, test_qemu) */
void bms_sop_cell_fold(const bms_config_t *cfg, const bms_sop_cell_in_t *c, bms_sop_acc_t *acc);
/* The resistance scale the SoP predicts with: the health filter's upper bound g + 3 sigma
 * (soh.h), not below floor_scale. The caller's floor: the scale kept in non-volatile memory
 * at power-up and the model's (1), or, while the filter learns from nothing kept, its
 * prior's upper bound 1 + 3 est.soh_r_init_sigma. A cell is no better than new beyond the
 * manufacturing spread, its resistance does not fall within one power cycle (ageing takes
 * months; temperature is in the model's tables), and the online filter's bound was found
 * overconfident within a power cycle: an LFP pack at 2-5 C learned 0.5-0.6 (its lower clamp)
 * for a true 1.0 and 1.06 for a true 2.0 with a 3-4 % sigma, an NMC pack aged 20 % learned
 * 1.15 with 1.2 % (tests/properties/test_sop_properties.py). The SoP, a promise for the next
 * 30 s, does not go below what was known at power-up. */
float bms_sop_r_scale(float g, float r_sigma, float floor_scale);
/* 1 if the limit is 0 for a reason that is no term (bms_limiting_t: fault, no data,
 * contactors, temperature window, charge complete): the SoP is 0 then too. */
uint32_t bms_sop_zeroed(uint32_t limiting);
/* The smallest of a limit's other terms (map, derate, plating, hardware; not the one-step
 * voltage headroom, which the SoP replaces, nor the ramp, a rate and no level), >= 0. */
float bms_sop_cap(const bms_limit_terms_t *t);
/* The pack's SoP: the smallest cell's current capped by cap_a[dir] (the limit's other
 * terms; >= 0) and zeroed where zero[dir] != 0; power = the pack's terminal voltage at the
 * horizon's end at that current times the current (W, >= 0). */
void bms_sop_finish(const bms_sop_acc_t *acc, const float cap_a[2], const uint32_t zero[2],
                    float chg_a[BMS_SOP_N_HORIZONS], float dis_a[BMS_SOP_N_HORIZONS],
                    float chg_w[BMS_SOP_N_HORIZONS], float dis_w[BMS_SOP_N_HORIZONS]);

#endif /* BMS_SOP_H */
