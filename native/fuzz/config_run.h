/*
 * The config fuzz's property, shared by the host sweep (config_sweep.c, `make fuzz-config`)
 * and the libFuzzer target (fuzz_config.c): a configuration either is refused by
 * bms_config_check, or it runs 600 steps (60 s) of a nominal log -- rest, a 0.5C charge, a
 * 0.5C discharge, readings made from the configuration's own cell model -- with every output
 * of every step finite, or the internal fault BMS_F_ESTIMATOR latched with CCL = DCL = 0.
 * Never a NaN output with no fault.
 */
#ifndef BMS_FUZZ_CONFIG_RUN_H
#define BMS_FUZZ_CONFIG_RUN_H

#include <stdint.h>

#include "bms/bms.h"

#define CFGRUN_STEPS 600u
#define CFGRUN_DT_MS 100u

typedef struct {
    bms_cfg_err_t err;        /* what bms_config_check said */
    bms_cfg_detail_t where;   /* ... and where */
    uint32_t nonfinite_steps; /* steps with a non-finite output */
    uint32_t estimator_fault; /* 1: BMS_F_ESTIMATOR latched during the run */
    uint32_t violation;       /* 1: the property broke (see violation_step / what) */
    uint32_t nan_no_fault;    /* 1: ... by a non-finite output without the fault + zero limits */
    uint32_t violation_step;
    const char *what;         /* which output broke it */
} cfgrun_result_t;

/* Check cfg; if accepted, run the nominal log on inst (a caller-owned bms_t: it is large). */
void cfgrun(bms_t *inst, const bms_config_t *cfg, cfgrun_result_t *r);

#endif /* BMS_FUZZ_CONFIG_RUN_H */
