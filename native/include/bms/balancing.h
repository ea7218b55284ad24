/*
 * Passive cell balancing: which series elements bleed through their resistor, and a
 * periodic test of each balancing switch.
 *
 * Decision. By charge, not voltage: top balancing equalises each cell's charge to full,
 * (1 - soc_i) c_i Q, bottom balancing its charge above empty, soc_i c_i Q, with the SoC and
 * capacity-scale estimates (soh.h). A cell's excess is its distance in charge from the
 * reference cell (top: the one missing most charge to full; bottom: the one with least
 * charge), as a fraction of the model's capacity. A cell starts when its excess exceeds
 * bal.start_dsoc and stops when it falls below bal.stop_dsoc (hysteresis). Only cells whose
 * SoC estimate is known within bal.soc_sigma_max (1-sigma) take part, as a candidate or as
 * the reference: an LFP cell on its plateau with nothing stored bleeds nothing until the
 * estimators know where it is. (The filter's sigma is mostly model error common to all
 * cells of a type; the cell-to-cell differences balancing acts on are known far better, so
 * the sigma gates participation rather than widening the threshold.) Allowed at rest and
 * while charging below bal.charge_current_max_a; never with a latched fault, never on a
 * cell whose reading is implausible or stale or at the discharge floor
 * (charge.cell_v_discharge_min_v), never the reference cell, never above bal.temp_max_degc
 * (hottest sensor: the balancing board sits on the module), at most bal.max_per_module
 * cells of a module at once (the largest excesses first), and for at most
 * bal.rest_budget_s per rest or charge.
 *
 * Measurement. The analogue front end pauses the bleed switches during its conversions
 * (LTC681x: DCP = 0, "discharge not permitted" during cell measurement), so a healthy
 * switch does not shift the reading; a switch that conducts anyway does: its bleed current
 * V / R_b flows through the two sense lines of its cell, which then reads 2 R_w V / R_b
 * low (each neighbour R_w V / R_b high).
 *
 * Switch test. Every bal.test_interval_ms while balancing is configured and no fault is
 * latched, whatever the current (a switch stuck on shifts its reading low: found during a
 * charge too, where it would hide an overvoltage), the firmware sweeps the switches in
 * groups of up to BMS_BAL_TEST_CELLS cells, no two adjacent and at most bal.max_per_module
 * per module: it keeps the group's readings (switches paused), then
 * commands only the group's switches on and asks for the next conversion with discharge
 * permitted (bms_out_t.bal_test). A switch that follows drops its cell's reading by
 * 2 R_w V / R_b; one stuck off does not conduct, one stuck on conducted in both readings:
 * either way no step. A step below half the expected one, with the current steady
 * (bal.test_di_max_a), marks the cell failed until a later test passes; a failed switch
 * that stays failed for bal.switch_debounce_ms latches BMS_F_BALANCING (the next sweep
 * judges it again before that: switch_debounce_ms >= test_interval_ms is a config rule).
 *
 * The bleed current passes through the cell's electrochemistry as a discharge: the SoC
 * filter counts it (bms_bal_bleed_a).
 */
#ifndef BMS_BALANCING_H
#define BMS_BALANCING_H

#include <stdint.h>
#include "bms/bms_config.h"
#include "bms/soc_ekf.h"
#include "bms/soh.h"

/* bytes of a per-cell bit mask: BMS_MAX_CELLS / 8 (balancing.c checks it) */
#define BMS_BAL_MASK_BYTES 24
#define BMS_BAL_TEST_CELLS 8u

typedef enum {
    BMS_BAL_OFF = 0,
    BMS_BAL_TOP = 1,
    BMS_BAL_BOTTOM = 2,
    BMS_BAL_N_MODES = 3
} bms_bal_mode_t;

/* bms_bal_t.test_phase */
#define BMS_BAL_TEST_IDLE 0u
#define BMS_BAL_TEST_ON 1u   /* the group's switches commanded on for a conversion with
                                discharge permitted: judged at the next step */

typedef struct {
    uint8_t on[BMS_BAL_MASK_BYTES];      /* the balancing decision (with its hysteresis) */
    uint8_t cmd[BMS_BAL_MASK_BYTES];     /* the switches commanded for the coming interval */
    uint8_t failed[BMS_BAL_MASK_BYTES];  /* the cell's switch failed its last test */
    float test_v[BMS_BAL_TEST_CELLS];    /* the group's readings with the switches paused */
    float test_i_a;                      /* the current at those readings */
    float test_ref_v;                    /* the untested cells' mean reading then (the
                                            common mode a current change moves every cell
                                            by; NaN: no untested cell) */
    uint32_t test_wait_ms;               /* since the last sweep ended */
    uint32_t budget_ms;                  /* balancing time in this rest / charge */
    uint16_t test_group;                 /* the sweep's next group */
    uint8_t test_phase;                  /* BMS_BAL_TEST_* */
    uint8_t sweeping;                    /* a sweep is under way (paused while the
                                            test may not run) */
    uint16_t n_on;                       /* cells commanded on */
} bms_bal_t;

/* What the decision needs about the pack this step. */
typedef struct {
    float current_a;            /* > 0 discharge; NaN: unknown */
    float temp_max_degc;        /* hottest valid sensor (-inf: none) */
    uint32_t faults_latched;
    uint32_t dt_ms;             /* 0: time not advancing, nothing decided */
    uint32_t fresh;             /* a new sample (the readings are this step's) */
    uint32_t estimates_ok;      /* the estimators are seeded and ran on this sample */
    const float *cell_v;        /* this sample's readings */
    const uint8_t *cell_flags;  /* plausibility flags per cell (0: usable) */
    const bms_ekf_cell_t *ekf;  /* SoC estimates and their covariances */
    const bms_soh_t *soh;       /* capacity scales */
} bms_bal_input_t;

void bms_bal_reset(bms_bal_t *b);
/* The bleed current (A, > 0 = discharge of the cell) its switch carried over the interval
 * that just ended, as commanded, at its reading v (0 for a cell whose switch was off). */
float bms_bal_bleed_a(const bms_bal_t *b, const bms_config_t *cfg, uint32_t cell, float cell_v);
/* One step: judge a switch test, then decide the switches for the next interval. Returns
 * 1 while some cell's switch stands failed (the BMS_F_BALANCING condition), and its index
 * in *failed_cell. */
int32_t bms_bal_step(bms_bal_t *b, const bms_config_t *cfg, const bms_bal_input_t *in, uint32_t *failed_cell);
/* Open every switch now and abandon a switch test under way (a fault latched after the
 * step decided). */
void bms_bal_halt(bms_bal_t *b);
/* 1: the coming conversion is to be taken with discharge permitted (a switch test). */
uint32_t bms_bal_test_pending(const bms_bal_t *b);
/* The expected reading step of a conducting switch at cell voltage v (2 R_w v / R_b). */
float bms_bal_step_v(const bms_config_t *cfg, float cell_v);

#endif /* BMS_BALANCING_H */
