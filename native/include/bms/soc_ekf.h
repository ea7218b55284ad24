/*
 * Per-cell extended Kalman filter for state of charge.
 * States: soc, v_rc1_v, v_rc2_v. Measurement: terminal voltage.
 * Joseph-form covariance update; covariance kept symmetric positive-definite.
 */
#ifndef BMS_SOC_EKF_H
#define BMS_SOC_EKF_H

#include <stdint.h>
#include "bms/bms_config.h"

typedef struct {
    float soc;
    float v_rc1_v;
    float v_rc2_v;
    /* covariance, upper triangle: p00 p01 p02 p11 p12 p22 */
    float p[6];
    /* innovation monitor: innovation^2 over its stated variance, averaged over
     * est.mismatch_window_s (1 while the model explains the voltage as it claims) */
    float nis_mean;
} bms_ekf_cell_t;

/* The voltage hysteresis the model adds to the OCV table (hysteresis.h) and its variance:
 * an offset the filter knows and an error it weighs like the model error. */
typedef struct {
    float v;
    float var_v2;
} bms_ekf_hyst_in_t;

/* Initialise from one sample: OCV inversion of the measured voltage
 * corrected by R0*I and the hysteresis; covariance from the estimator config. */
void bms_ekf_init(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                  const bms_estimator_params_t *ep, float r_scale, float cell_v, float current_a,
                  float temp_degc, const bms_ekf_hyst_in_t *hy);
/* Fuse a stored SoC (from non-volatile memory, 1-sigma soc_sigma) with the voltage-based
 * first guess of bms_ekf_init. The guess's uncertainty is its voltage error (model, noise;
 * the pack has rested) over the OCV's local slope: where the OCV is flat the stored
 * value wins, where it is steep the voltage does. */
void bms_ekf_fuse_prior(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                        const bms_estimator_params_t *ep, float temp_degc, float soc_stored,
                        float soc_sigma, const bms_ekf_hyst_in_t *hy);

/* What one step learned besides the state (for heat and diagnostics). */
typedef struct {
    float v_pred_v;          /* a-priori predicted terminal voltage */
    float ocv_v;             /* OCV at the posterior SoC (the table's: the hysteresis not in it) */
    float docv_dt_v_per_k;   /* entropic coefficient there */
    float innov_v;           /* measurement - prediction (0 without update) */
    float v_rc_next_v;       /* v_rc1 + v_rc2 one more step ahead at zero current */
    float r_step_ohm;        /* R0 + the RC branches' response over one step */
    float r0_model_ohm;      /* the model's R0 here, before the cell's resistance scale */
    uint32_t mismatch;       /* 1: the innovation monitor is over est.mismatch_nis (the model
                                does not explain this cell's voltage; the filter leans on
                                coulomb counting) */
    uint32_t diverged;       /* 1: this step's state or covariance was non-finite, the SoC
                                left [-1, 2] before its clamp, or a covariance diagonal went
                                negative beyond round-off (the filter has diverged) */
} bms_ekf_step_out_t;

/* One predict (+ update if voltage_valid) step. current_a is the current that
 * flowed over the last dt_s; cell_v the voltage at the end of the step. cap_scale and
 * r_scale: this cell's capacity and resistances against the model (soh.h; 1: new), and
 * the capacity's relative 1-sigma (0: known). */
void bms_ekf_step(bms_ekf_cell_t *c, const bms_cell_params_t *cp,
                  const bms_estimator_params_t *ep, float cap_scale, float cap_rel_sigma, float r_scale,
                  float current_a, float dt_s, float cell_v, int32_t voltage_valid, float temp_degc,
                  const bms_ekf_hyst_in_t *hy, bms_ekf_step_out_t *out);

/* Model terminal voltage for the current state at current_a, with the hysteresis hyst_v. */
float bms_ekf_terminal_v(const bms_ekf_cell_t *c, const bms_cell_params_t *cp, float r_scale,
                         float current_a, float temp_degc, float hyst_v);

#endif /* BMS_SOC_EKF_H */
