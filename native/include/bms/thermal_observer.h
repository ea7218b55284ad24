/*
 * Core-temperature observer: two-node (core, surface) thermal model per cell,
 * driven by the cell's heat generation and corrected by a Kalman filter from
 * the surface sensors. A cell without a sensor takes its nearest sensed
 * neighbours' readings (interpolated by position) as a noisier measurement.
 */
#ifndef BMS_THERMAL_OBSERVER_H
#define BMS_THERMAL_OBSERVER_H

#include <stdint.h>
#include "bms/bms_config.h"

typedef struct {
    float t_core_degc;
    float t_surf_degc;
    float p[3]; /* p00 (core) p01 p11 (surface) */
} bms_thermal_cell_t;

/* Discretised model for one dt (shared by all cells). */
typedef struct {
    uint32_t dt_ms;
    float ad[4];      /* row-major 2x2 */
    float bq[2];      /* input: heat into core (W) */
    float ba[2];      /* input: ambient temperature */
} bms_thermal_disc_t;

/* Per-pack observer data that does not change between steps. */
typedef struct {
    float lambda1;      /* continuous-time eigenvalues (1/s) */
    float lambda2;
    float a[4];         /* continuous A, row-major */
    float b_q;          /* 1/Cc */
    float b_a;          /* 1/(Cs*Ra) */
    /* for each cell: index into sensors (BMS_THERMAL_NO_SENSOR: none), and the nearest
     * sensors at or below / at or above it (one byte each: 576 B at 192 cells) */
    uint8_t own_sensor[BMS_MAX_CELLS];
    uint8_t nb_lo[BMS_MAX_CELLS];
    uint8_t nb_hi[BMS_MAX_CELLS];
} bms_thermal_model_t;

#define BMS_THERMAL_NO_SENSOR 0xFFu

/* Weight of the upper neighbour for cell i (0: its lower neighbour's reading alone),
 * linear in the cell position between the two sensors. */
float bms_thermal_nb_weight(const bms_thermal_model_t *m, const bms_config_t *cfg, uint32_t i);

/* Precompute eigenvalues, inverse and sensor neighbourhoods. */
void bms_thermal_model_init(bms_thermal_model_t *m, const bms_config_t *cfg);
/* Exact ZOH discretisation for dt (cached by dt_ms). */
void bms_thermal_disc_update(bms_thermal_disc_t *d, const bms_thermal_model_t *m, uint32_t dt_ms);

void bms_thermal_cell_init(bms_thermal_cell_t *c, float temp_degc, const bms_estimator_params_t *ep);
void bms_thermal_cell_predict(bms_thermal_cell_t *c, const bms_thermal_disc_t *d,
                              const bms_thermal_params_t *tp, const bms_estimator_params_t *ep,
                              float heat_w, float ambient_degc, float dt_s);
/* Scalar update of the surface temperature with innovation innov_degc and
 * measurement variance r_degc2. */
void bms_thermal_cell_update(bms_thermal_cell_t *c, float innov_degc, float r_degc2);

/* Heat generated in a cell (W): irreversible I*(OCV - V) (>= 0) plus the
 * entropic term -I*T*dOCV/dT (Bernardi, J. Electrochem. Soc. 132 (1985) 5). */
float bms_thermal_heat_w(float current_a, float ocv_v, float cell_v, float docv_dt_v_per_k,
                         float temp_degc);

/* Steady-state core temperature for constant heat and ambient (analytic). */
float bms_thermal_steady_core_degc(const bms_thermal_params_t *tp, float heat_w, float ambient_degc);

#endif /* BMS_THERMAL_OBSERVER_H */
