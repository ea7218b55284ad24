/*
 * Charge and discharge current limits (CCL / DCL), A, >= 0.
 * CCL = min(fast-charge map, voltage headroom, derates, plating/CCD cap,
 *           hardware) then ramp-limited on increases; 0 when a fault is latched,
 * the contactors are not closed, outside the charge temperature window (which
 * closes at the temperature trips' release bands) or when
 * the charge is complete. DCL alike with the discharge map and floor.
 */
#ifndef BMS_CURRENT_LIMIT_H
#define BMS_CURRENT_LIMIT_H

#include <stdint.h>
#include "bms/bms_config.h"

typedef enum {
    BMS_LIM_NONE = 0,
    BMS_LIM_MAP = 1,           /* fast-charge (or discharge) map */
    BMS_LIM_VOLTAGE = 2,       /* voltage headroom of the highest (lowest) cell */
    BMS_LIM_TEMPERATURE = 3,   /* core / surface temperature derate */
    BMS_LIM_PLATING = 4,       /* plating / critical-current-density cap */
    BMS_LIM_HARDWARE = 5,      /* pack hardware or charger limit */
    BMS_LIM_RAMP = 6,          /* increase limited by the ramp rate */
    BMS_LIM_FAULT = 7,         /* a trip fault is latched */
    BMS_LIM_CONTACTOR = 8,     /* contactors not closed */
    BMS_LIM_TEMP_WINDOW = 9,   /* outside the charge (discharge) temperature window */
    BMS_LIM_COMPLETE = 10,     /* charge complete */
    BMS_LIM_DERATE = 11,       /* another quantity's derate tier (voltage, current, spread) */
    BMS_LIM_COLD = 12,         /* low-temperature derate */
    BMS_LIM_NO_DATA = 13,      /* a reading is unusable or the estimators could not run */
    BMS_LIM_PRESSURE = 14      /* stack pressure: the CCD cap scaled down by a low pressure, or
                                  a pressure derate tier */
} bms_limiting_t;

/* Per-cell inputs of the limits (from the estimators, this step). */
typedef struct {
    float soc;
    float core_temp_degc;
    float ocv_v;
    float v_rc_v;          /* v_rc1 + v_rc2 after one more step at zero current */
    float r_step_ohm;      /* R0 + b1 + b2: voltage per ampere over the next step */
} bms_limit_cell_t;

/* Per-cell terms folded into pack minima as the cells go by (no per-cell RAM). */
typedef struct {
    float map_chg_a;
    float plating_a;
    float headroom_chg_a;
    float map_dis_a;
    float headroom_dis_a;
    float r_step_max_ohm;  /* the stiffest cell's response: for the measured-voltage headroom */
} bms_limit_acc_t;

/* Pack-level inputs. */
typedef struct {
    float capacity_ah;
    float soc_charge;             /* mean cell SoC: what the charge target compares with */
    float t_min_degc;              /* coldest valid temperature (surface sensors) */
    float derate_chg;              /* product of the charge-side derate factors ... */
    uint32_t derate_chg_src;       /* ... and which limiting code caused the smallest */
    float derate_dis;
    uint32_t derate_dis_src;
    float pressure_cut;            /* the share of the CCD cap a low stack pressure takes away:
                                      1 - limits.q[BMS_Q_P_MIN_CHG]'s derate factor at the lowest
                                      reading (0: full contact, or the pack is not pressed) */
    float charger_max_a;           /* charger's own limit, NaN if unknown */
    uint32_t fault_latched;
    uint32_t contactors_closed;
    uint32_t have_data;            /* the estimators ran this step */
    uint32_t precondition;         /* a fast charge is announced: heat to charge.precond_* */
    float cell_v_meas_max;         /* highest / lowest measured cell voltage (NaN: none) */
    float cell_v_meas_min;
    float current_a;               /* measured pack current now (> 0 discharge) */
    uint32_t dt_ms;
} bms_limit_pack_t;

typedef struct {
    float ccl_a;
    float dcl_a;
    uint32_t ccl_limit;            /* bms_limiting_t */
    uint32_t dcl_limit;
    uint8_t charge_complete;
    uint8_t heater_request;
    uint8_t cooling_request;
} bms_limit_state_t;

/* Limit terms before min/ramp (for tests and diagnostics). */
typedef struct {
    float map_a;
    float headroom_a;
    float derate_a;
    float plating_a;
    float hardware_a;
} bms_limit_terms_t;

void bms_limit_reset(bms_limit_state_t *s);
/* Map lookup (C-rate) with clamping, shared by the three maps. */
float bms_limit_map(const bms_charge_params_t *cp, const float t[BMS_MAX_MAP_TEMP][BMS_MAX_MAP_SOC],
                    float soc, float temp_degc);
void bms_limit_acc_init(bms_limit_acc_t *acc);
/* Fold one cell's map, plating and headroom limits (A) into the pack minima. */
void bms_limit_acc_cell(bms_limit_acc_t *acc, const bms_config_t *cfg, const bms_limit_cell_t *c);
/* The two halves: the maps at the cell's final estimates of this step (SoC, core
 * temperature after the thermal correction), the headroom from the EKF's step. */
void bms_limit_acc_maps(bms_limit_acc_t *acc, const bms_config_t *cfg, float soc, float core_temp_degc);
void bms_limit_acc_headroom(bms_limit_acc_t *acc, const bms_config_t *cfg, const bms_limit_cell_t *c);
/* Combine the terms, apply the zero conditions and the ramp. t_max_degc is the
 * hottest temperature for the cooling request. */
void bms_limit_update(bms_limit_state_t *s, const bms_config_t *cfg, const bms_limit_acc_t *acc,
                      const bms_limit_pack_t *pk, float t_max_degc, bms_limit_terms_t *ccl_terms,
                      bms_limit_terms_t *dcl_terms);

#endif /* BMS_CURRENT_LIMIT_H */
