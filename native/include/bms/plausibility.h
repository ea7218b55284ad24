/*
 * Sensor plausibility: which readings the estimators and limits may use, and
 * the raw conditions of the sensor faults (debounced and latched by safety.c).
 */
#ifndef BMS_PLAUSIBILITY_H
#define BMS_PLAUSIBILITY_H

#include <stdint.h>
#include "bms/bms_config.h"

/* Per-cell flags in bms_plaus_result_t.cell_flags */
#define BMS_PLAUS_CELL_INVALID 0x01u   /* NaN / inf / outside the physical range */
#define BMS_PLAUS_CELL_OPEN_WIRE 0x02u
#define BMS_PLAUS_CELL_STUCK 0x04u
/* Per-sensor flags in bms_plaus_result_t.temp_flags */
#define BMS_PLAUS_TEMP_INVALID 0x01u
#define BMS_PLAUS_TEMP_OPEN 0x02u
#define BMS_PLAUS_TEMP_SHORT 0x04u
/* Per-sensor flags in bms_plaus_result_t.pressure_flags */
#define BMS_PLAUS_P_INVALID 0x01u      /* NaN / inf / outside [pressure_min_mpa, pressure_max_mpa] */
#define BMS_PLAUS_P_OPEN 0x02u         /* at or below pressure_open_below_mpa: the loop is open */
#define BMS_PLAUS_P_STUCK 0x04u        /* the same reading stuck_repeats_min times in a row */

/* A coolant flow reading above this is no flow at all (l/min): the configuration accepts
 * coolant_flow_min_lpm up to the same bound (config_check.c "a coolant flow: 0..1000
 * l/min"), while a pack's loop runs at ~5-15 l/min and automotive electric coolant pumps
 * deliver at most some tens of l/min. */
#define BMS_PLAUS_FLOW_MAX_LPM 1000u

/* What plausibility keeps from step to step (per cell: the stuck detector). */
typedef struct {
    float stuck_ref_v[BMS_MAX_CELLS];   /* reading when it last changed */
    int16_t stuck_ref_i[BMS_MAX_CELLS]; /* current at that moment, in pack.current_range_a / 32767
                                           (a valid current is within the range; the error,
                                           range / 65534, is < 1 % of stuck_current_delta_a
                                           for the shipped sensors) */
    uint8_t stuck_count[BMS_MAX_CELLS]; /* the frozen test's evidence since the reading last
                                           changed: with plaus.stuck_needs_current 0 the
                                           identical samples in a row (saturating at 255),
                                           otherwise 1 once the current has moved (one byte
                                           for the two: the configuration uses one) */
    float p_ref_mpa[BMS_MAX_PRESSURE_SENSORS];     /* pressure reading when it last changed */
    uint8_t p_repeats[BMS_MAX_PRESSURE_SENSORS];   /* identical samples in a row (saturating) */
    uint32_t last_sample_time_ms;
    uint32_t stale_ms;                  /* time since the last new sample */
    uint32_t have_sample;
} bms_plaus_state_t;

/* One raw condition: present now, with the worst cell/sensor and its value. */
typedef struct {
    uint8_t present;
    uint16_t index;
    float value;
} bms_plaus_cond_t;

typedef struct {
    uint8_t fresh;                      /* a new sample (its time stamp moved) */
    uint8_t any_unusable;               /* some reading cannot be used this step */
    uint8_t cell_flags[BMS_MAX_CELLS];
    uint8_t temp_flags[BMS_MAX_TEMP_SENSORS];
    uint8_t pressure_flags[BMS_MAX_PRESSURE_SENSORS];
    uint8_t current_valid;
    bms_plaus_cond_t volt_sensor;
    bms_plaus_cond_t temp_sensor;
    bms_plaus_cond_t current_sensor;
    bms_plaus_cond_t volt_stuck;
    bms_plaus_cond_t open_wire;
    bms_plaus_cond_t ntc_open;
    bms_plaus_cond_t ntc_short;
    bms_plaus_cond_t current_offset;
    bms_plaus_cond_t stale;
    bms_plaus_cond_t cooling;              /* flow below the minimum while in use, or a flow
                                        * reading no flow can give (negative, +-inf,
                                        * beyond BMS_PLAUS_FLOW_MAX_LPM) at any time */
    bms_plaus_cond_t cell_dev;
    bms_plaus_cond_t pressure_sensor;      /* a pressure reading out of range or its loop open */
    bms_plaus_cond_t pressure_stuck;       /* a pressure reading frozen */
} bms_plaus_result_t;

/* Inputs of the check that are not the raw measurement arrays. */
typedef struct {
    float pack_current_a;
    float pack_v;                 /* independent pack voltage; NaN if not measured */
    uint32_t sample_time_ms;      /* time stamp of the sample */
    uint32_t dt_ms;               /* firmware tick since the previous step */
    uint32_t contactors_open;     /* no current can flow: offset check armed */
    float coolant_flow_lpm;       /* NaN if not measured; negative, +-inf or above
                                   * BMS_PLAUS_FLOW_MAX_LPM: an implausible reading */
    uint32_t cooling_latched;     /* a latched cooling fault: keep judging the flow */
    float ocv_slope_v;            /* dOCV/dSoC at the pack's mean SoC estimate (V per unit
                                   * SoC; 0 before the estimators run) */
    const float *pressure_mpa;    /* pack.n_pressure_sensors readings (NULL: none judged) */
} bms_plaus_input_t;

void bms_plaus_reset(bms_plaus_state_t *st);
void bms_plaus_check(bms_plaus_state_t *st, const bms_config_t *cfg, const bms_plaus_input_t *in,
                     const float *cell_v, const float *temp_degc, bms_plaus_result_t *res);

#endif /* BMS_PLAUSIBILITY_H */
