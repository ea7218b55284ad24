/* Safety monitor: tiered limits, debounce, latching, fault records. The
 * debounce and release rules are documented in safety.h. */
#include "bms/safety.h"
#include "bms/bms_math.h"

/* Direction of each quantity: 1 = maximum, 0 = minimum (order of bms_quantity_t). */
static const uint8_t k_is_max[] = {
    [BMS_Q_CELL_V_MAX] = 1u,     [BMS_Q_CELL_V_MIN] = 0u,     [BMS_Q_CORE_T_MAX_CHG] = 1u,
    [BMS_Q_CORE_T_MAX_DIS] = 1u, [BMS_Q_SURF_T_MAX_CHG] = 1u, [BMS_Q_SURF_T_MAX_DIS] = 1u,
    [BMS_Q_T_MIN_CHG] = 0u,      [BMS_Q_T_MIN_DIS] = 0u,      [BMS_Q_I_CHG_MAX] = 1u,
    [BMS_Q_I_DIS_MAX] = 1u,      [BMS_Q_CELL_V_SPREAD] = 1u,  [BMS_Q_P_MIN_CHG] = 0u,
    [BMS_Q_P_MIN_DIS] = 0u,      [BMS_Q_P_MAX] = 1u,
};
_Static_assert(BMS_ARRAY_LEN(k_is_max) == BMS_N_QUANTITIES, "one direction per monitored quantity");

int32_t bms_safety_is_max(uint32_t q)
{
    return (q < (uint32_t)BMS_N_QUANTITIES) ? (int32_t)k_is_max[q] : 0;
}

/* The trip fault of each quantity: the first eleven share their index, the stack-pressure
 * quantities came later and their faults follow the balancing fault. */
static const uint8_t k_fault_of[] = {
    [BMS_Q_CELL_V_MAX] = BMS_F_CELL_OV,
    [BMS_Q_CELL_V_MIN] = BMS_F_CELL_UV,
    [BMS_Q_CORE_T_MAX_CHG] = BMS_F_CORE_OT_CHARGE,
    [BMS_Q_CORE_T_MAX_DIS] = BMS_F_CORE_OT_DISCHARGE,
    [BMS_Q_SURF_T_MAX_CHG] = BMS_F_SURFACE_OT_CHARGE,
    [BMS_Q_SURF_T_MAX_DIS] = BMS_F_SURFACE_OT_DISCHARGE,
    [BMS_Q_T_MIN_CHG] = BMS_F_UT_CHARGE,
    [BMS_Q_T_MIN_DIS] = BMS_F_UT_DISCHARGE,
    [BMS_Q_I_CHG_MAX] = BMS_F_OC_CHARGE,
    [BMS_Q_I_DIS_MAX] = BMS_F_OC_DISCHARGE,
    [BMS_Q_CELL_V_SPREAD] = BMS_F_CELL_SPREAD,
    [BMS_Q_P_MIN_CHG] = BMS_F_PRESSURE_LOW_CHARGE,
    [BMS_Q_P_MIN_DIS] = BMS_F_PRESSURE_LOW_DISCHARGE,
    [BMS_Q_P_MAX] = BMS_F_PRESSURE_HIGH,
};
_Static_assert(BMS_ARRAY_LEN(k_fault_of) == BMS_N_QUANTITIES, "one trip fault per monitored quantity");

uint32_t bms_safety_fault_of(uint32_t q)
{
    return (q < (uint32_t)BMS_N_QUANTITIES) ? (uint32_t)k_fault_of[q] : (uint32_t)BMS_N_FAULTS;
}

static uint32_t sat_add(uint32_t a, uint32_t b)
{
    return (a > (0xFFFFFFFFu - b)) ? 0xFFFFFFFFu : (a + b);
}

int32_t bms_safety_debounce(bms_debounce_t *d, int32_t condition, uint32_t dt_ms, uint32_t debounce_ms)
{
    if (condition != 0) {
        if (d->seen == 0u) {
            d->seen = 1u; /* count_ms is 0 whenever seen is 0 */
        } else {
            d->count_ms = sat_add(d->count_ms, dt_ms);
        }
        return (d->count_ms >= debounce_ms) ? 1 : 0;
    }
    if (d->count_ms > dt_ms) {
        d->count_ms -= dt_ms;
    } else if (d->count_ms > 0u) {
        d->count_ms = 0u; /* still armed: the next present step counts on */
    } else {
        d->seen = 0u; /* gone: a later appearance starts afresh */
    }
    return 0;
}

static void debounce_clear(bms_debounce_t *d)
{
    d->count_ms = 0u;
    d->seen = 0u;
}

void bms_safety_reset(bms_safety_state_t *s)
{
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(s->tier_db[q]); k++) {
            debounce_clear(&s->tier_db[q][k]);
        }
        s->tier_active[q][0] = 0u;
        s->tier_active[q][1] = 0u;
    }
    for (uint32_t f = 0u; f < (uint32_t)BMS_N_FAULTS; f++) {
        debounce_clear(&s->fault_db[f]);
        s->record[f].id = (uint8_t)f;
        s->record[f].cell = 0u;
        s->record[f].value = 0.0f;
        s->record[f].time_ms = 0u;
    }
    s->latched = 0u;
    s->present = 0u;
    s->trip_count = 0u;
}

/* value beyond threshold in the quantity's direction (reaching it counts) */
static int32_t beyond(int32_t is_max, float v, float thr)
{
    return (is_max != 0) ? ((v >= thr) ? 1 : 0) : ((v <= thr) ? 1 : 0);
}

/* still within the hysteresis band of a threshold */
static int32_t not_released(int32_t is_max, float v, const bms_tier_t *t)
{
    return (is_max != 0) ? ((v > (t->threshold - t->hysteresis)) ? 1 : 0)
                         : ((v < (t->threshold + t->hysteresis)) ? 1 : 0);
}

static void latch(bms_safety_state_t *s, uint32_t fault_id, uint16_t cell, float value, uint32_t now_ms)
{
    const uint32_t bit = 1u << fault_id;
    if ((s->latched & bit) == 0u) {
        s->latched |= bit; /* record[].id is set once, at reset */
        s->record[fault_id].cell = cell;
        s->record[fault_id].value = value;
        s->record[fault_id].time_ms = now_ms;
        s->trip_count++;
    }
}

void bms_safety_evaluate(bms_safety_state_t *s, const bms_limits_t *lim, const bms_safety_value_t *values,
                         uint32_t dt_ms, uint32_t now_ms)
{
    for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {
        const bms_limit_t *l = &lim->q[q];
        const bms_safety_value_t *sv = &values[q];
        const int32_t is_max = bms_safety_is_max(q);
        const bms_tier_t *tiers[] = {&l->warning, &l->derate, &l->trip};
        for (uint32_t k = 0u; k < (uint32_t)BMS_ARRAY_LEN(s->tier_active[q]); k++) {
            const int32_t cond = (sv->valid != 0u) ? beyond(is_max, sv->value, tiers[k]->threshold) : 0;
            const int32_t hit = bms_safety_debounce(&s->tier_db[q][k], cond, dt_ms, tiers[k]->debounce_ms);
            if (hit != 0) {
                s->tier_active[q][k] = 1u;
            } else if ((s->tier_active[q][k] != 0u)
                       && ((sv->valid == 0u) || (not_released(is_max, sv->value, tiers[k]) == 0))) {
                s->tier_active[q][k] = 0u;
                debounce_clear(&s->tier_db[q][k]);
            } else {
                /* holding inside the hysteresis band, or not reached */
            }
        }
        const uint32_t f = bms_safety_fault_of(q);
        const int32_t cond = (sv->valid != 0u) ? beyond(is_max, sv->value, l->trip.threshold) : 0;
        if (bms_safety_debounce(&s->fault_db[f], cond, dt_ms, l->trip.debounce_ms) != 0) {
            latch(s, f, sv->cell, sv->value, now_ms);
        }
        if ((sv->valid != 0u) && (not_released(is_max, sv->value, &l->trip) != 0)) {
            s->present |= (1u << f);
        } else {
            s->present &= ~(1u << f);
        }
    }
}

void bms_safety_condition(bms_safety_state_t *s, uint32_t fault_id, int32_t present, uint16_t cell,
                          float value, uint32_t dt_ms, uint32_t debounce_ms, uint32_t now_ms)
{
    if (fault_id >= (uint32_t)BMS_N_FAULTS) {
        return;
    }
    if (bms_safety_debounce(&s->fault_db[fault_id], present, dt_ms, debounce_ms) != 0) {
        latch(s, fault_id, cell, value, now_ms);
    }
    if (present != 0) {
        s->present |= (1u << fault_id);
    } else {
        s->present &= ~(1u << fault_id);
    }
}

/* A suspected internal short (one cell's voltage far from the others) is not acknowledged by
 * a command: a short does not heal, and at rest or on a flat OCV its cell may read like the
 * others while it drains. While it is latched, neither are the faults a short also causes
 * (that cell's undervoltage, an open-wire reading). Only a power-on reset (bms_reset, after
 * service) clears them. An assumption of this firmware, as production BMSs lock a pack on a
 * cell fault until it is inspected. */
static uint32_t service_only(uint32_t latched)
{
    const uint32_t dev = 1u << (uint32_t)BMS_F_CELL_DEVIATION;
    const uint32_t caused = (1u << (uint32_t)BMS_F_CELL_UV) | (1u << (uint32_t)BMS_F_OPEN_WIRE);
    return ((latched & dev) != 0u) ? (dev | caused) : dev;
}

static uint32_t acknowledge(bms_safety_state_t *s, uint32_t clear);

uint32_t bms_safety_reset_faults(bms_safety_state_t *s)
{
    /* Blind (no new sample: the stale condition present), no condition judged on the
     * samples is known to be gone -- a plausibility condition is judged on new samples only
     * and reads absent while none comes -- so none is acknowledged: the reset clears
     * nothing until the samples are back and every condition has been judged again. */
    const uint32_t blind = s->present & (1u << (uint32_t)BMS_F_STALE);
    const uint32_t clear = (blind != 0u) ? 0u : (s->latched & ~s->present);
    return acknowledge(s, clear & ~service_only(s->latched));
}

static uint32_t acknowledge(bms_safety_state_t *s, uint32_t clear)
{
    for (uint32_t f = 0u; f < (uint32_t)BMS_N_FAULTS; f++) {
        if ((clear & (1u << f)) != 0u) {
            debounce_clear(&s->fault_db[f]);
        }
    }
    s->latched &= ~clear;
    return clear;
}

float bms_safety_derate_factor(const bms_limit_t *l, uint32_t q, float v)
{
    const float d = l->derate.threshold;
    const float t = l->trip.threshold;
    float f;
    if (bms_safety_is_max(q) != 0) {
        if (v <= d) {
            return 1.0f;
        }
        f = (v >= t) ? 0.0f : ((t - v) / (t - d));
    } else {
        if (v >= d) {
            return 1.0f;
        }
        f = (v <= t) ? 0.0f : ((v - t) / (d - t));
    }
    return f;
}
