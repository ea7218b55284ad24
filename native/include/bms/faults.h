/*
 * Fault identifiers. Every fault is a trip: latched until an explicit reset
 * finds its condition gone. Bit i of a fault mask is fault id i.
 * A fault's name in files and reports is its identifier after BMS_F_, in lower
 * case (bms/enums.py derives it: rename one here and the files change with it).
 */
#ifndef BMS_FAULTS_H
#define BMS_FAULTS_H

typedef enum {
    /* limit trips, one per monitored quantity (bms_safety_fault_of: quantities 0..10 are fault
     * ids 0..10, the stack-pressure ones 11..13 are the ids after the balancing fault) */
    BMS_F_CELL_OV = 0,
    BMS_F_CELL_UV = 1,
    BMS_F_CORE_OT_CHARGE = 2,
    BMS_F_CORE_OT_DISCHARGE = 3,
    BMS_F_SURFACE_OT_CHARGE = 4,
    BMS_F_SURFACE_OT_DISCHARGE = 5,
    BMS_F_UT_CHARGE = 6,
    BMS_F_UT_DISCHARGE = 7,
    BMS_F_OC_CHARGE = 8,
    BMS_F_OC_DISCHARGE = 9,
    BMS_F_CELL_SPREAD = 10,
    /* sensor plausibility */
    BMS_F_VOLT_SENSOR = 11,     /* cell voltage NaN / inf / outside the physical range */
    BMS_F_TEMP_SENSOR = 12,     /* temperature NaN / inf / outside the plausible range */
    BMS_F_CURRENT_SENSOR = 13,  /* current NaN / inf / beyond the sensor range */
    BMS_F_VOLT_STUCK = 14,      /* a cell reading frozen while the current moved */
    BMS_F_OPEN_WIRE = 15,       /* a cell near 0 V, or the cells disagree with the pack sum */
    BMS_F_NTC_OPEN = 16,
    BMS_F_NTC_SHORT = 17,
    BMS_F_CURRENT_OFFSET = 18,  /* current reads non-zero with the contactors open */
    BMS_F_STALE = 19,           /* no new sample within the timeout, or time not advancing */
    /* contactors */
    BMS_F_PRECHARGE = 20,       /* bus voltage did not follow within the precharge timeout */
    /* consistency of the system around the pack */
    BMS_F_CHARGE_OVERCURRENT = 21, /* charge current above what a charger following the CCL delivers */
    BMS_F_COOLING = 22,         /* coolant flow lost while the pack is in use */
    BMS_F_CELL_DEVIATION = 23,  /* one cell's voltage far from the others (internal short, bad cell) */
    /* bus partners */
    BMS_F_COMM = 24,            /* a charger or vehicle CAN message overdue (bms_meas_t.comm_lost) */
    /* the firmware itself */
    BMS_F_ESTIMATOR = 25,       /* estimator diverged / non-finite state: a SoC, temperature,
                                   polarisation or covariance that is NaN/inf or physically
                                   impossible; trips in the step it appears (no debounce) */
    /* cell balancing */
    BMS_F_BALANCING = 26,       /* a balancing switch does not follow its command (stuck on or
                                   off: no voltage step when it is tested, balancing.h) */
    /* stack pressure (solid-state packs: bms_config.h pack.n_pressure_sensors) */
    BMS_F_PRESSURE_LOW_CHARGE = 27,     /* trip of BMS_Q_P_MIN_CHG */
    BMS_F_PRESSURE_LOW_DISCHARGE = 28,  /* trip of BMS_Q_P_MIN_DIS */
    BMS_F_PRESSURE_HIGH = 29,           /* trip of BMS_Q_P_MAX */
    BMS_F_PRESSURE_SENSOR = 30, /* a pressure reading NaN / out of range, its loop open, or frozen */
    BMS_N_FAULTS = 31
} bms_fault_id_t;

#endif /* BMS_FAULTS_H */
