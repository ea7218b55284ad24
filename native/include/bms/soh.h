/*
 * Online state of health per cell: each cell's capacity and resistance as scales of the
 * configured (new-cell) model, with their variances. The SoC filter counts charge with the
 * cell's capacity and predicts its voltage with its resistance (soc_ekf.h).
 *
 * Capacity. Between two informative points (the current has stayed below C/50 for
 * est.soh_rest_s, so the polarisation the model does not carry has relaxed), each cell's
 * SoC from its relaxed voltage (OCV inversion of v + v_rc1 + v_rc2) moved by dsoc_i while
 * the string passed the charge Ah (discharge > 0, charge weighted by the coulombic
 * efficiency): dsoc_i = x / c_i with x = -Ah / Q_cfg, the change a new cell would show. A
 * scalar Kalman filter on theta_i = 1 / c_i with a random walk (ageing) weighs each
 * interval by its SoC errors (the OCV model error over the local OCV slope at both ends, so
 * a flat OCV teaches nothing) and the current sensor's gain error. The errors are in the
 * SoC difference, the charge is known to the sensor's accuracy: weighted least squares on
 * 1/Q is then unbiased (Plett, J. Power Sources 196 (2011) 2319, sec. 2; the total least
 * squares there is for errors in both). The SoC points come from the voltage, not from the
 * filter, whose SoC was counted with the capacity being estimated.
 *
 * Resistance. A current step dI between two samples moves the terminal voltage by
 * -R0 dI at once (the RC branches by their one-step response, which the model has). The
 * SoC filter had absorbed the earlier current's voltage error into its state, so this
 * step's innovation is -R0_cfg dI (g_true - g): a scalar Kalman update of the scale g, which
 * multiplies R0 and both RC resistances (time constants kept: ageing raises the impedance
 * as one factor, Schmalstieg et al., J. Power Sources 257 (2014) 325).
 *
 * All cells of a series string see the same current, so the regressors (x, R0 dI) and
 * hence the gains and variances are the same for every cell up to the small spread of R0
 * and of the SoC errors: one variance per quantity for the pack (the worst cell's SoC
 * error), a value per cell in 16 bits (RAM: 4 B per cell).
 */
#ifndef BMS_SOH_H
#define BMS_SOH_H

#include <stdint.h>
#include "bms/bms_config.h"

/* a cell without a valid SoC at the open interval's start */
#define BMS_SOH_NO_START 0xFFFFu
/* scales as 16-bit fractions: capacity 0..2, resistance 0..4 */
#define BMS_SOH_CAP_ONE 32768.0f
#define BMS_SOH_R_ONE 16384.0f

typedef struct {
    uint16_t cap_q[BMS_MAX_CELLS];       /* capacity scale x BMS_SOH_CAP_ONE */
    uint16_t r_q[BMS_MAX_CELLS];         /* resistance scale x BMS_SOH_R_ONE */
    uint16_t soc_start_q[BMS_MAX_CELLS]; /* relaxed SoC at the interval's start x 65534 */
    float theta_var;     /* variance of 1 / capacity scale (the pack's) */
    float r_var;         /* variance of the resistance scale (the pack's) */
    float seg_ah;        /* charge since the interval's start, discharge > 0 (A h) */
    float seg_soc_var;   /* the worst cell's SoC variance at the start */
    float rest_s;        /* time the current has stayed below the rest threshold */
    float i_prev_a;      /* the last step's current (NaN: none usable) */
    float r_step_k;      /* this step: current step dI (0: no resistance update) */
    float r_noise_v2;    /* this step: the innovation's variance */
    float r_reg_sum;     /* this step: sum of the updated cells' R0 dI (for the variance) */
    uint32_t r_reg_n;
    float pt_var;        /* this point: the worst cell's SoC variance */
    float pt_x;          /* this point: the interval's regressor -Ah / Q_cfg */
    uint32_t pt_update;  /* this point closes an interval that updates the capacities */
    uint32_t seg_open;   /* an interval is open (its start was informative) */
    uint32_t cap_updates;
    uint32_t r_updates;
} bms_soh_t;

/* Power-up: the scales from the NvM block (cfg->nvm.soh_valid) or 1, their variances from
 * est.soh_init_sigma (or nvm.soh_sigma). est.soh_init_sigma == 0 holds the scales. */
void bms_soh_reset(bms_soh_t *s, const bms_config_t *cfg);
int32_t bms_soh_enabled(const bms_config_t *cfg);
float bms_soh_cap_scale(const bms_soh_t *s, uint32_t cell);
float bms_soh_r_scale(const bms_soh_t *s, uint32_t cell);
/* 1-sigma of each, relative (the capacity's: c^2 sigma(1/c)) */
float bms_soh_cap_sigma(const bms_soh_t *s, uint32_t cell);
float bms_soh_r_sigma(const bms_soh_t *s);
/* What a resistance the filter holds may be at most, as a factor on it: 1 + 3 sigma / g (the
 * lowest cell's g, so it covers every cell); 1 while the scales are held. Where being wrong
 * is unsafe (a runaway charger) the firmware judges with this bound. */
float bms_soh_r_upper_factor(const bms_soh_t *s, const bms_config_t *cfg);

/* Resistance: once per step before the cells (returns 1 if this step is a current step
 * worth an update), per cell with its innovation and unscaled R0, once after. */
int32_t bms_soh_r_begin(bms_soh_t *s, const bms_config_t *cfg, float current_a, int32_t current_valid,
                        float dt_s);
void bms_soh_r_cell(bms_soh_t *s, uint32_t cell, float innov_v, float r0_ohm);
void bms_soh_r_end(bms_soh_t *s, const bms_config_t *cfg);

/* Capacity: count the charge and the rest; returns 1 at an informative point (the rest has
 * just lasted est.soh_rest_s). current_valid == 0 voids the open interval. */
int32_t bms_soh_charge(bms_soh_t *s, const bms_config_t *cfg, float current_a, int32_t current_valid, float dt_s);
/* The estimators skipped this step's charge (current unknown, no new sample): the open
 * interval and the rest are void, the next current step has no predecessor. */
void bms_soh_void(bms_soh_t *s);
/* At an informative point, first bms_soh_point_var over every cell with its relaxed SoC's
 * variance (var < 0: unusable), then bms_soh_point_cell over every cell (soc < 0: unusable),
 * then bms_soh_point_end. */
void bms_soh_point_begin(bms_soh_t *s, const bms_config_t *cfg);
void bms_soh_point_var(bms_soh_t *s, float soc_var);
void bms_soh_point_cell(bms_soh_t *s, const bms_config_t *cfg, uint32_t cell, float soc);
void bms_soh_point_end(bms_soh_t *s, const bms_config_t *cfg);

#endif /* BMS_SOH_H */
