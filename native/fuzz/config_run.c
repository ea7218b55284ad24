/* The config fuzz's property: see config_run.h. */
#include "config_run.h"

#include <math.h>
#include <string.h>

#include "bms/cell_model.h"

static bms_meas_t meas;
static bms_out_t out;
static float cell_soc[BMS_MAX_CELLS];
static float cell_core_degc[BMS_MAX_CELLS];
static float cell_surf_degc[BMS_MAX_CELLS];
static float cell_v_pred_v[BMS_MAX_CELLS];

/* deterministic dither: a real ADC's readings never repeat bit-exactly (the stuck check) */
static uint32_t lcg(uint32_t *s)
{
    *s = (*s * 1664525u) + 1013904223u;
    return *s >> 8;
}

static float dither(uint32_t *s, float amplitude)
{
    return amplitude * (((float)(lcg(s) & 0xFFFFu) / 32767.5f) - 1.0f);
}

static int finite(float x)
{
    return isfinite(x) ? 1 : 0;
}

/* The first non-finite output of this step, or NULL. */
static const char *nonfinite_output(const bms_out_t *o, uint32_t n)
{
    for (uint32_t i = 0u; i < n; i++) {
        if (!finite(o->cells.soc[i])) {
            return "soc[]";
        }
        if (!finite(o->cells.core_temp_degc[i])) {
            return "core_temp_degc[]";
        }
        if (!finite(o->cells.surf_temp_degc[i])) {
            return "surf_temp_degc[]";
        }
        if (!finite(o->cells.v_pred_v[i])) {
            return "v_pred_v[]";
        }
    }
    const struct {
        float v;
        const char *name;
    } scalars[] = {
        {o->soc_min, "soc_min"},
        {o->soc_max, "soc_max"},
        {o->soc_mean, "soc_mean"},
        {o->soc_pack, "soc_pack"},
        {o->core_temp_max_degc, "core_temp_max_degc"},
        {o->temp_min_degc, "temp_min_degc"},
        {o->temp_max_degc, "temp_max_degc"},
        {o->ccl_a, "ccl_a"},
        {o->dcl_a, "dcl_a"},
        {o->ccl_terms.map_a, "ccl_terms.map_a"},
        {o->ccl_terms.headroom_a, "ccl_terms.headroom_a"},
        {o->ccl_terms.derate_a, "ccl_terms.derate_a"},
        {o->ccl_terms.plating_a, "ccl_terms.plating_a"},
        {o->ccl_terms.hardware_a, "ccl_terms.hardware_a"},
        {o->dcl_terms.map_a, "dcl_terms.map_a"},
        {o->dcl_terms.headroom_a, "dcl_terms.headroom_a"},
        {o->dcl_terms.derate_a, "dcl_terms.derate_a"},
        {o->dcl_terms.plating_a, "dcl_terms.plating_a"},
        {o->dcl_terms.hardware_a, "dcl_terms.hardware_a"},
    };
    for (uint32_t k = 0u; k < sizeof(scalars) / sizeof(scalars[0]); k++) {
        if (!finite(scalars[k].v)) {
            return scalars[k].name;
        }
    }
    /* NaN by design when no cell reading is usable ("none"): judged only when all are */
    if ((o->status & BMS_ST_VOLTAGE_INVALID) == 0u) {
        if (!finite(o->cell_v_max) || !finite(o->cell_v_min)) {
            return "cell_v_max/min";
        }
    }
    return 0;
}

void cfgrun(bms_t *inst, const bms_config_t *cfg, cfgrun_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->err = bms_config_check_detail(cfg, &r->where);
    if (r->err != BMS_CFG_OK) {
        return;
    }
    if (bms_init(inst, cfg) != BMS_OK) {
        r->violation = 1u;
        r->what = "bms_init refused a configuration bms_config_check accepted";
        return;
    }
    const uint32_t n = cfg->pack.n_cells;
    const uint32_t ns = cfg->pack.n_temp_sensors;
    const float cap_ah = cfg->cell.capacity_ah;
    /* 0.5C, a plausible reading within the sensor's range */
    float i_mag = 0.5f * cap_ah;
    if (i_mag > 0.5f * cfg->pack.current_range_a) {
        i_mag = 0.5f * cfg->pack.current_range_a;
    }
    const float t_degc = 25.0f;
    float soc = 0.5f;
    uint32_t seed = 12345u;
    memset(&meas, 0, sizeof(meas));
    memset(&out, 0, sizeof(out));
    out.cells.soc = cell_soc;
    out.cells.core_temp_degc = cell_core_degc;
    out.cells.surf_temp_degc = cell_surf_degc;
    out.cells.v_pred_v = cell_v_pred_v;
    meas.charger_max_a = NAN;
    meas.coolant_flow_lpm = NAN;
    meas.fast_charge_in_s = NAN;
    uint32_t fault_seen = 0u;
    for (uint32_t k = 0u; k < CFGRUN_STEPS; k++) {
        /* rest, then charge, then discharge (current > 0 is discharge) */
        const float i_a = (k < 200u) ? 0.0f : ((k < 400u) ? -i_mag : i_mag);
        soc -= i_a * ((float)CFGRUN_DT_MS * 0.001f) / (3600.0f * cap_ah);
        soc = (soc < 0.0f) ? 0.0f : ((soc > 1.0f) ? 1.0f : soc);
        const float ocv = bms_cell_ocv(&cfg->cell, soc, t_degc);
        const float r0 = bms_cell_table(&cfg->cell, cfg->cell.r0_ohm, soc, t_degc);
        float pack_v = 0.0f;
        for (uint32_t i = 0u; i < n; i++) {
            meas.cell_v[i] = ocv - (i_a * r0) + dither(&seed, 3.0e-4f);
            pack_v += meas.cell_v[i];
        }
        for (uint32_t j = 0u; j < ns; j++) {
            meas.temp_degc[j] = t_degc + dither(&seed, 0.05f);
        }
        meas.pack_current_a = i_a + dither(&seed, 1.0e-3f * i_mag);
        meas.ambient_degc = t_degc;
        meas.pack_v = pack_v;
        meas.bus_v = pack_v;
        meas.sample_time_ms += CFGRUN_DT_MS;
        if (bms_step(inst, &meas, CFGRUN_DT_MS, &out) != BMS_OK) {
            r->violation = 1u;
            r->violation_step = k;
            r->what = "bms_step failed";
            return;
        }
        if ((out.contactor_state == (uint32_t)BMS_CONTACTOR_OPEN) && (out.faults == 0u)) {
            (void)bms_command(inst, BMS_CMD_CLOSE);
        }
        const uint32_t est = (out.faults >> (uint32_t)BMS_F_ESTIMATOR) & 1u;
        fault_seen |= est;
        const char *bad = nonfinite_output(&out, n);
        if (bad != 0) {
            r->nonfinite_steps++;
        }
        const int limits_zero = ((out.ccl_a == 0.0f) && (out.dcl_a == 0.0f)) ? 1 : 0;
        if ((bad != 0) && ((est == 0u) || (limits_zero == 0)) && (r->violation == 0u)) {
            r->violation = 1u;
            r->nan_no_fault = 1u;
            r->violation_step = k;
            r->what = bad;
        }
        if ((est != 0u) && (limits_zero == 0) && (r->violation == 0u)) {
            r->violation = 1u;
            r->violation_step = k;
            r->what = "estimator fault latched but CCL/DCL not 0";
        }
    }
    r->estimator_fault = fault_seen;
}
