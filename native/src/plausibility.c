/* Sensor plausibility: validity of every reading and the raw conditions of
 * the sensor faults. Debouncing and latching happen in safety.c. */
#include "bms/plausibility.h"
#include "bms/bms_math.h"

void bms_plaus_reset(bms_plaus_state_t *st)
{
    for (uint32_t i = 0u; i < BMS_MAX_CELLS; i++) {
        st->stuck_ref_v[i] = 0.0f;
        st->stuck_ref_i[i] = 0;
        st->stuck_count[i] = 0u;
    }
    for (uint32_t k = 0u; k < BMS_MAX_PRESSURE_SENSORS; k++) {
        st->p_ref_mpa[k] = 0.0f;
        st->p_repeats[k] = 0u;
    }
    st->last_sample_time_ms = 0u;
    st->stale_ms = 0u;
    st->have_sample = 0u;
}

/* index and value are only meaningful while present */
static void cond_clear(bms_plaus_cond_t *c)
{
    c->present = 0u;
}

/* Keep the first offender (lowest index) of a condition. */
static void cond_set(bms_plaus_cond_t *c, uint32_t index, float value)
{
    if (c->present == 0u) {
        c->present = 1u;
        c->index = (uint16_t)index;
        c->value = value;
    }
}

static float absf(float x)
{
    return (x < 0.0f) ? -x : x;
}

/* The current as the stuck check keeps it: a 16-bit fraction of the sensor's range. */
static int16_t current_q15(float current_a, float range_a)
{
    const float x = bms_clampf(current_a / range_a, -1.0f, 1.0f) * 32767.0f;
    return (int16_t)((x >= 0.0f) ? (x + 0.5f) : (x - 0.5f));
}

static float current_of_q15(int16_t q, float range_a)
{
    return ((float)q / 32767.0f) * range_a;
}

static void check_cells(bms_plaus_state_t *st, const bms_config_t *cfg, const bms_plaus_input_t *in,
                        const float *cell_v, bms_plaus_result_t *res)
{
    const bms_plaus_params_t *p = &cfg->plaus;
    const uint32_t n = cfg->pack.n_cells;
    float sum_v = 0.0f;
    uint32_t n_ok = 0u;
    for (uint32_t i = 0u; i < n; i++) {
        const float v = cell_v[i];
        uint8_t f = 0u;
        if ((bms_isfinitef(v) == 0) || (v < p->cell_v_min_v) || (v > p->cell_v_max_v)) {
            f = BMS_PLAUS_CELL_INVALID;
            cond_set(&res->volt_sensor, i, v);
        } else if (v < p->open_wire_v) {
            f = BMS_PLAUS_CELL_OPEN_WIRE;
            cond_set(&res->open_wire, i, v);
        } else {
            sum_v += v;
            n_ok++;
            /* stuck: the very same reading again (dithered ADC), or again although the
             * current has moved, since it froze, enough to change any real cell's voltage */
            if (v == st->stuck_ref_v[i]) {
                if (p->stuck_needs_current == 0u) {
                    if (st->stuck_count[i] < 255u) {
                        st->stuck_count[i]++;
                    }
                } else if ((res->current_valid != 0u)
                           && (absf(in->pack_current_a - current_of_q15(st->stuck_ref_i[i], cfg->pack.current_range_a))
                               >= p->stuck_current_delta_a)) {
                    st->stuck_count[i] = 1u;
                } else {
                    /* the current has not moved (enough) since the reading froze */
                }
                const int32_t frozen = (p->stuck_needs_current == 0u)
                                         ? (((uint32_t)st->stuck_count[i] >= p->stuck_repeats_min) ? 1 : 0)
                                         : (int32_t)st->stuck_count[i];
                if (frozen != 0) {
                    f = BMS_PLAUS_CELL_STUCK;
                    cond_set(&res->volt_stuck, i, v);
                }
            } else {
                st->stuck_ref_v[i] = v;
                st->stuck_ref_i[i] = (res->current_valid != 0u)
                                       ? current_q15(in->pack_current_a, cfg->pack.current_range_a)
                                       : st->stuck_ref_i[i];
                st->stuck_count[i] = 0u;
            }
        }
        res->cell_flags[i] = f;
    }
    /* one cell far from the mean of the others (internal short, failing cell), among
     * the fresh readings; the allowance grows with the current (resistance spread) */
    float sum_fresh = 0.0f;
    uint32_t n_fresh = 0u;
    for (uint32_t i = 0u; i < n; i++) {
        if (res->cell_flags[i] == 0u) {
            sum_fresh += cell_v[i];
            n_fresh++;
        }
    }
    if ((n_fresh >= 2u) && (res->current_valid != 0u)) {
        const float slope = (bms_isfinitef(in->ocv_slope_v) != 0) ? absf(in->ocv_slope_v) : 0.0f;
        const float lim = p->cell_dev_max_v + p->cell_dev_v_per_a * absf(in->pack_current_a)
                        + p->cell_dev_soc_spread * slope;
        for (uint32_t i = 0u; i < n; i++) {
            if (res->cell_flags[i] == 0u) {
                const float others = (sum_fresh - cell_v[i]) / (float)(n_fresh - 1u);
                if (absf(cell_v[i] - others) > lim) {
                    cond_set(&res->cell_dev, i, cell_v[i] - others);
                }
            }
        }
    }
    /* an open wire that keeps every reading plausible still breaks the sum */
    if ((n_ok == n) && (bms_isfinitef(in->pack_v) != 0) && (absf(sum_v - in->pack_v) > p->pack_sum_tol_v)) {
        const float mean = sum_v / (float)n;
        uint32_t worst = 0u;
        float worst_dev = -1.0f;
        for (uint32_t i = 0u; i < n; i++) {
            const float dev = absf(cell_v[i] - mean);
            if (dev > worst_dev) {
                worst_dev = dev;
                worst = i;
            }
        }
        cond_set(&res->open_wire, worst, sum_v - in->pack_v);
    }
}

static void check_temps(const bms_config_t *cfg, const float *temp_degc, bms_plaus_result_t *res)
{
    const bms_plaus_params_t *p = &cfg->plaus;
    for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {
        const float t = temp_degc[j];
        uint8_t f = 0u;
        if (bms_isfinitef(t) == 0) {
            f = BMS_PLAUS_TEMP_INVALID;
            cond_set(&res->temp_sensor, cfg->pack.temp_sensor_cell[j], t);
        } else if (t <= p->ntc_open_below_degc) {
            f = BMS_PLAUS_TEMP_OPEN;
            cond_set(&res->ntc_open, cfg->pack.temp_sensor_cell[j], t);
        } else if (t >= p->ntc_short_above_degc) {
            f = BMS_PLAUS_TEMP_SHORT;
            cond_set(&res->ntc_short, cfg->pack.temp_sensor_cell[j], t);
        } else if ((t < p->temp_min_degc) || (t > p->temp_max_degc)) {
            f = BMS_PLAUS_TEMP_INVALID;
            cond_set(&res->temp_sensor, cfg->pack.temp_sensor_cell[j], t);
        } else {
            /* plausible */
        }
        res->temp_flags[j] = f;
    }
}

/* Stack-pressure sensors: range (NaN, inf, outside the plausible span), an open loop (a 4-20 mA
 * transmitter reads below its zero), and a frozen reading (a live load cell's noise exceeds
 * its code step, so its reading rarely repeats: the cell-voltage rule). */
static void check_pressures(bms_plaus_state_t *st, const bms_config_t *cfg, const bms_plaus_input_t *in,
                            bms_plaus_result_t *res)
{
    const bms_plaus_params_t *p = &cfg->plaus;
    const uint32_t n = (in->pressure_mpa != 0) ? cfg->pack.n_pressure_sensors : 0u;
    for (uint32_t k = 0u; k < n; k++) {
        const float x = in->pressure_mpa[k];
        uint8_t f = 0u;
        if (bms_isfinitef(x) == 0) {
            f = BMS_PLAUS_P_INVALID;
            cond_set(&res->pressure_sensor, k, x);
        } else if (x <= p->pressure_open_below_mpa) {
            f = BMS_PLAUS_P_OPEN;
            cond_set(&res->pressure_sensor, k, x);
        } else if ((x < p->pressure_min_mpa) || (x > p->pressure_max_mpa)) {
            f = BMS_PLAUS_P_INVALID;
            cond_set(&res->pressure_sensor, k, x);
        } else if (x == st->p_ref_mpa[k]) {
            if (st->p_repeats[k] < 255u) {
                st->p_repeats[k]++;
            }
            if ((uint32_t)st->p_repeats[k] >= p->stuck_repeats_min) {
                f = BMS_PLAUS_P_STUCK;
                cond_set(&res->pressure_stuck, k, x);
            }
        } else {
            st->p_ref_mpa[k] = x;
            st->p_repeats[k] = 0u;
        }
        res->pressure_flags[k] = f;
    }
}

void bms_plaus_check(bms_plaus_state_t *st, const bms_config_t *cfg, const bms_plaus_input_t *in,
                     const float *cell_v, const float *temp_degc, bms_plaus_result_t *res)
{
    const bms_plaus_params_t *p = &cfg->plaus;
    cond_clear(&res->volt_sensor);
    cond_clear(&res->temp_sensor);
    cond_clear(&res->current_sensor);
    cond_clear(&res->volt_stuck);
    cond_clear(&res->open_wire);
    cond_clear(&res->ntc_open);
    cond_clear(&res->ntc_short);
    cond_clear(&res->current_offset);
    cond_clear(&res->stale);
    cond_clear(&res->cooling);
    cond_clear(&res->cell_dev);
    cond_clear(&res->pressure_sensor);
    cond_clear(&res->pressure_stuck);
    /* Coolant flow. NaN: no flow sensor fitted (bms_step_batch, targets without one).
     * A reading no flow can give is a failed meter or its wiring: negative (the loop's
     * meter measures the pump's forward flow, a quantity >= 0 -- an assumption about the
     * sensor type, which the simulated meter shares), +-inf, or beyond any pack loop
     * (BMS_PLAUS_FLOW_MAX_LPM). It never counts as flow: it raises the cooling condition at
     * any time (the pack's cooling cannot be shown, so it must not be used, nor closed),
     * with the reading in the record. A plausible reading below the minimum is judged
     * while the pack is in use, and while a cooling fault waits for the flow to come
     * back (so a reset cannot clear it with the pump still failed). */
    const float flow = in->coolant_flow_lpm;
    const int32_t flow_measured = (flow == flow) ? 1 : 0; /* not NaN */
    if ((flow_measured != 0)
        && ((bms_isfinitef(flow) == 0) || (flow < 0.0f) || (flow > (float)BMS_PLAUS_FLOW_MAX_LPM))) {
        cond_set(&res->cooling, 0u, flow);
    } else if ((flow_measured != 0) && ((in->contactors_open == 0u) || (in->cooling_latched != 0u))
               && (flow < p->coolant_flow_min_lpm)) {
        cond_set(&res->cooling, 0u, flow);
    } else {
        /* flow present, not measured, or not judged now */
    }

    const float i_a = in->pack_current_a;
    res->current_valid = ((bms_isfinitef(i_a) != 0) && (absf(i_a) <= cfg->pack.current_range_a)) ? 1u : 0u;
    /* stale: the sample's own time stamp has not moved since the last step. A stale
     * sample is not judged again (its readings were judged when new): only its age. */
    if ((st->have_sample == 0u) || (in->sample_time_ms != st->last_sample_time_ms)) {
        st->have_sample = 1u;
        st->last_sample_time_ms = in->sample_time_ms;
        st->stale_ms = 0u;
        res->fresh = 1u;
        if (res->current_valid == 0u) {
            cond_set(&res->current_sensor, 0u, i_a);
        } else if ((in->contactors_open != 0u) && (absf(i_a) > p->current_offset_max_a)) {
            cond_set(&res->current_offset, 0u, i_a);
        } else {
            /* plausible */
        }
        check_cells(st, cfg, in, cell_v, res);
        check_temps(cfg, temp_degc, res);
        check_pressures(st, cfg, in, res);
    } else {
        res->fresh = 0u;
        st->stale_ms = (st->stale_ms > (0xFFFFFFFFu - in->dt_ms)) ? 0xFFFFFFFFu : (st->stale_ms + in->dt_ms);
        cond_set(&res->stale, 0u, (float)st->stale_ms);
    }
    res->any_unusable = (uint8_t)(res->volt_sensor.present | res->temp_sensor.present
                                  | res->current_sensor.present | res->volt_stuck.present
                                  | res->open_wire.present | res->ntc_open.present | res->ntc_short.present
                                  | res->stale.present | res->pressure_sensor.present
                                  | res->pressure_stuck.present);
}
