/*
 * Equivalent-circuit cell model: OCV(soc, T) + R0 + R1||C1 + R2||C2.
 * Bilinear table interpolation (clamped) and exact zero-order-hold
 * discretisation of the RC branches.
 */
#ifndef BMS_CELL_MODEL_H
#define BMS_CELL_MODEL_H

#include <stdint.h>
#include "bms/bms_config.h"

/* All table values at one (soc, temperature) point. */
typedef struct {
    float ocv_v;
    float docv_dsoc_v;      /* slope of the OCV segment */
    float docv_dt_v_per_k;  /* entropic coefficient */
    float r0_ohm;
    float r1_ohm;
    float tau1_s;
    float r2_ohm;
    float tau2_s;
} bms_cell_eval_t;

/* ZOH discretisation of one RC branch over dt: v' = a*v + b*i. */
typedef struct {
    float a;
    float b_ohm;
} bms_cell_rc_disc_t;

/* Where a (soc, temperature) point lies in the tables: segment and weight per axis
 * (bms_interp_locate's). Located once, a point serves every table and evaluation at it: the
 * state of power evaluates many SoCs at one temperature (sop.c). */
typedef struct {
    uint32_t i_soc;
    uint32_t i_temp;
    float w_soc;
    float w_temp;
} bms_cell_pt_t;

void bms_cell_locate_soc(const bms_cell_params_t *cp, float soc, bms_cell_pt_t *p);
/* The same, walking from the segment p holds (p->i_soc: any value) */
void bms_cell_locate_soc_near(const bms_cell_params_t *cp, float soc, bms_cell_pt_t *p);
void bms_cell_locate_temp(const bms_cell_params_t *cp, float temp_degc, bms_cell_pt_t *p);
/* The SoC part for soc = soc_bp[k] without a search: what bms_cell_locate_soc gives there. */
void bms_cell_locate_soc_bp(const bms_cell_params_t *cp, uint32_t k, bms_cell_pt_t *p);

void bms_cell_eval(const bms_cell_params_t *cp, float soc, float temp_degc, bms_cell_eval_t *out);
/* The same at a located point: bms_cell_eval(cp, soc, T) == bms_cell_eval_at(cp, located(soc, T)). */
void bms_cell_eval_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p, bms_cell_eval_t *out);
/* Only the resistances and time constants (r0, r1, tau1, r2, tau2) at a located point, as
 * bms_cell_eval_at computes them; the other fields are left as they were. */
void bms_cell_eval_rc_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p, bms_cell_eval_t *out);
/* Bilinear lookup of one [temp][soc] table. */
float bms_cell_table(const bms_cell_params_t *cp,
                     const float table[BMS_MAX_TEMP_PTS][BMS_MAX_SOC_PTS],
                     float soc, float temp_degc);
/* OCV only. */
float bms_cell_ocv(const bms_cell_params_t *cp, float soc, float temp_degc);
float bms_cell_ocv_at(const bms_cell_params_t *cp, const bms_cell_pt_t *p);
/* SoC whose OCV at temp_degc equals ocv_v (clamped to [soc_bp[0], soc_bp[n-1]]). */
float bms_cell_soc_from_ocv(const bms_cell_params_t *cp, float ocv_v, float temp_degc);
bms_cell_rc_disc_t bms_cell_rc_disc(float r_ohm, float tau_s, float dt_s);
/* The OCV's slope around soc (2 % SoC each side, clamped to [0, 1]), V per unit SoC. */
float bms_cell_ocv_slope(const bms_cell_params_t *cp, float soc, float temp_degc);
/* SoC change over dt for current (discharge > 0), with coulombic efficiency on charge. */
float bms_cell_dsoc(const bms_cell_params_t *cp, float current_a, float dt_s);

#endif /* BMS_CELL_MODEL_H */
