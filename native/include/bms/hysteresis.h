/*
 * Voltage hysteresis of the open-circuit voltage (Plett, J. Power Sources 134 (2004) 277,
 * sec. 3.3; Battery Management Systems Vol. I, 2015, sec. 2.7: the enhanced self-correcting
 * cell model's one-state hysteresis plus an instantaneous term). The rested voltage after a
 * charge sits above the one after a discharge; the cell's voltage is
 *
 *     v = ocv(soc, T) + m0(T) s + m(T) h - (the polarisation and R0 drops)
 *
 * h in [-1, 1] moves towards +1 while charging and towards -1 while discharging, the faster
 * the more charge flows: h' = a h + (1 - a) sgn, a = exp(-gamma eta |i| dt / Q); s is +1
 * after a charge and -1 after a discharge (Plett's sgn(i) with this project's sign of
 * current: > 0 discharges; here m0 >= 0). The OCV table is the mean of the two branches.
 *
 * One state for the pack, not one per cell: every series element carries the pack current,
 * and h depends on the charge moved over the capacity. A cell whose capacity is 20 % below
 * the model's turns h over 20 % sooner; the difference is transient (h saturates) and stays
 * inside the uncertainty reported here (an assumption that saves 4 bytes per cell of RAM).
 * At power-up h and s are unknown: h = s = 0 with the whole band as their uncertainty,
 * which shrinks as charge moves h (the start forgotten by the factor a per step).
 */
#ifndef BMS_HYSTERESIS_H
#define BMS_HYSTERESIS_H

#include <stdint.h>
#include "bms/bms_config.h"

typedef struct {
    float h;        /* dynamic state, -1 (after a discharge) .. +1 (after a charge) */
    float h_sigma;  /* its 1-sigma from the unknown start (1 at power-up) */
    float s;        /* instantaneous term's sign: +1 after a charge, -1 after a discharge, 0 unknown */
} bms_hyst_t;

/* A power-up: nothing known. */
void bms_hyst_init(bms_hyst_t *hy);
/* The current that flowed over the last dt_s (> 0 discharge). A current within
 * i_threshold_a of zero (the sensor's noise and offset) moves nothing, and neither does NaN. */
void bms_hyst_step(bms_hyst_t *hy, const bms_cell_params_t *cp, float current_a, float dt_s, float i_threshold_a);
/* The hysteresis voltage m0 s + m h at temp_degc, and its variance (V^2): the unknown start,
 * an unknown instantaneous sign and the one-state model's own error. */
float bms_hyst_v(const bms_hyst_t *hy, const bms_cell_params_t *cp, float temp_degc, float *var_v2);
/* The two branches' offsets from the OCV table at temp_degc: m + m0 (>= 0; the charge branch
 * is ocv + this, the discharge branch ocv - this). */
float bms_hyst_band_v(const bms_cell_params_t *cp, float temp_degc);

#endif /* BMS_HYSTERESIS_H */
