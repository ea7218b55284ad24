/*
 * CAN layer: firmware quantities <-> DBC signals (see can_layer.h). The bit layout and
 * the scaling are the generated code's (native/gen/bms_can.c); what is written here is
 * which firmware quantity each signal carries, the checks on reception and the timing.
 */
#include "bms/can_layer.h"

#include <math.h>
#include "bms/bms_math.h"
#include "bms_can.h"

/* ---- receive-side protection ---- */

uint8_t bms_canl_crc8(uint32_t id, const uint8_t *data, uint8_t len)
{
    uint8_t buf[10];
    uint32_t n = 0u;
    buf[n++] = (uint8_t)(id & 0xFFu);
    buf[n++] = (uint8_t)((id >> 8) & 0xFFu);
    const uint32_t body = (len > 0u) ? ((uint32_t)len - 1u) : 0u;
    for (uint32_t i = 0u; (i < body) && (i < 8u); i++) {
        buf[n++] = data[i];
    }
    uint8_t crc = 0xFFu;
    for (uint32_t i = 0u; i < n; i++) {
        crc ^= buf[i];
        for (uint32_t b = 0u; b < 8u; b++) {
            crc = ((crc & 0x80u) != 0u) ? (uint8_t)((uint32_t)(crc << 1) ^ 0x1Du) : (uint8_t)(crc << 1);
        }
    }
    return (uint8_t)(crc ^ 0xFFu);
}

static uint32_t add_sat(uint32_t a, uint32_t b)
{
    return (a > (0xFFFFFFFFu - b)) ? 0xFFFFFFFFu : (a + b);
}

int32_t bms_canl_init(bms_canl_t *c, const bms_canl_cfg_t *cfg)
{
    if ((c == 0) || (cfg == 0)) {
        return BMS_CANL_E_ARG;
    }
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_RX; k++) {
        if ((cfg->rx_timeout_ms[k] == 0u) || (cfg->rx_timeout_ms[k] > BMS_CANL_MAX_PERIOD_MS)) {
            return BMS_CANL_E_CONFIG;
        }
    }
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_TX; k++) {
        if ((cfg->tx_cycle_ms[k] == 0u) || (cfg->tx_cycle_ms[k] > BMS_CANL_MAX_PERIOD_MS)) {
            return BMS_CANL_E_CONFIG;
        }
    }
    c->cfg = *cfg;
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_RX; k++) {
        c->rx[k].age_ms = 0u;
        c->rx[k].fresh = 0u;
        c->rx[k].seen = 0u;
        c->rx[k].counter = 0u;
    }
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_TX; k++) {
        c->last_tx_ms[k] = 0u;
    }
    c->tx_due = (1u << (uint32_t)BMS_CANL_N_TX) - 1u; /* everything goes out in the first step */
    c->time_ms = 0u;
    c->charger_out_v = NAN;
    c->charger_out_a = NAN;
    c->charger_max_a = NAN;
    c->charger_max_v = NAN;
    c->charger_state = 0u;
    c->charger_session = 0u;
    c->contactor_request = 0u;
    c->fault_reset = 0u;
    c->fast_charge_in_s = NAN;
    c->pending_contactor = 0u;
    c->pending_reset = 0u;
    c->comm_lost = 0u;
    c->accepted = 0u;
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_REFUSE_REASONS; k++) {
        c->refused[k] = 0u;
    }
    c->not_ours = 0u;
    return BMS_CANL_OK;
}

/* CRC and alive counter of a frame of message k (its length checked, its signals unpacked). */
static int32_t check_frame(const bms_canl_t *c, uint32_t k, const bms_canl_frame_t *f, uint8_t checksum,
                           uint8_t counter)
{
    if (bms_canl_crc8(f->id, f->data, f->len) != checksum) {
        return BMS_CANL_RX_E_CHECKSUM;
    }
    if ((c->rx[k].seen != 0u) && (counter == c->rx[k].counter)) {
        return BMS_CANL_RX_E_COUNTER;
    }
    return BMS_CANL_RX_OK;
}

static void mark_received(bms_canl_t *c, uint32_t k, uint8_t counter)
{
    c->rx[k].fresh = 1u;
    c->rx[k].seen = 1u;
    c->rx[k].counter = counter;
    c->accepted = add_sat(c->accepted, 1u);
}

static int32_t rx_chg_status(bms_canl_t *c, const bms_canl_frame_t *f)
{
    struct bms_can_chg_status_t m;
    if (f->len != (uint8_t)BMS_CAN_CHG_STATUS_LENGTH) {
        return BMS_CANL_RX_E_LENGTH;
    }
    (void)bms_can_chg_status_unpack(&m, f->data, f->len);
    const int32_t rc = check_frame(c, BMS_CANL_RX_CHG_STATUS, f, m.chg_status_checksum, m.chg_status_counter);
    if (rc != BMS_CANL_RX_OK) {
        return rc;
    }
    if (!bms_can_chg_status_charger_output_voltage_is_in_range(m.charger_output_voltage)
        || !bms_can_chg_status_charger_output_current_is_in_range(m.charger_output_current)
        || !bms_can_chg_status_charger_state_is_in_range(m.charger_state)) {
        return BMS_CANL_RX_E_RANGE;
    }
    mark_received(c, BMS_CANL_RX_CHG_STATUS, m.chg_status_counter);
    c->charger_out_v = bms_can_chg_status_charger_output_voltage_decode(m.charger_output_voltage);
    c->charger_out_a = bms_can_chg_status_charger_output_current_decode(m.charger_output_current);
    c->charger_state = m.charger_state;
    if (m.charger_state == 0u) {
        /* the charger ends the session: its silence from now on is not a fault */
        c->charger_session = 0u;
        c->rx[BMS_CANL_RX_CHG_LIMITS].seen = 0u;
        c->rx[BMS_CANL_RX_CHG_LIMITS].fresh = 0u;
        c->charger_max_a = NAN;
        c->charger_max_v = NAN;
    } else if (c->charger_session == 0u) {
        c->charger_session = 1u;
        c->rx[BMS_CANL_RX_CHG_LIMITS].age_ms = 0u; /* its timeout runs from the session's start */
    } else {
        /* session continues */
    }
    return BMS_CANL_RX_OK;
}

static int32_t rx_chg_limits(bms_canl_t *c, const bms_canl_frame_t *f)
{
    struct bms_can_chg_limits_t m;
    if (f->len != (uint8_t)BMS_CAN_CHG_LIMITS_LENGTH) {
        return BMS_CANL_RX_E_LENGTH;
    }
    (void)bms_can_chg_limits_unpack(&m, f->data, f->len);
    const int32_t rc = check_frame(c, BMS_CANL_RX_CHG_LIMITS, f, m.chg_limits_checksum, m.chg_limits_counter);
    if (rc != BMS_CANL_RX_OK) {
        return rc;
    }
    if (!bms_can_chg_limits_charger_max_current_is_in_range(m.charger_max_current)
        || !bms_can_chg_limits_charger_max_voltage_is_in_range(m.charger_max_voltage)) {
        return BMS_CANL_RX_E_RANGE;
    }
    mark_received(c, BMS_CANL_RX_CHG_LIMITS, m.chg_limits_counter);
    c->charger_max_a = bms_can_chg_limits_charger_max_current_decode(m.charger_max_current);
    c->charger_max_v = bms_can_chg_limits_charger_max_voltage_decode(m.charger_max_voltage);
    return BMS_CANL_RX_OK;
}

/* a received 8-bit signal's "not available" (the DBC's SNA value) */
#define SNA_U8_RX 0xFFu

static int32_t rx_vcu_command(bms_canl_t *c, const bms_canl_frame_t *f)
{
    struct bms_can_vcu_command_t m;
    if (f->len != (uint8_t)BMS_CAN_VCU_COMMAND_LENGTH) {
        return BMS_CANL_RX_E_LENGTH;
    }
    (void)bms_can_vcu_command_unpack(&m, f->data, f->len);
    const int32_t rc = check_frame(c, BMS_CANL_RX_VCU_COMMAND, f, m.vcu_command_checksum, m.vcu_command_counter);
    if (rc != BMS_CANL_RX_OK) {
        return rc;
    }
    if (!bms_can_vcu_command_contactor_request_is_in_range(m.contactor_request)
        || !bms_can_vcu_command_fault_reset_is_in_range(m.fault_reset)) {
        return BMS_CANL_RX_E_RANGE;
    }
    mark_received(c, BMS_CANL_RX_VCU_COMMAND, m.vcu_command_counter);
    /* a request acts on a change of value (a held request acts once); a reset on a rising edge */
    if ((m.contactor_request != c->contactor_request) && (m.contactor_request != 0u)) {
        c->pending_contactor = (m.contactor_request == 1u) ? (uint8_t)BMS_CMD_CLOSE : (uint8_t)BMS_CMD_OPEN;
    }
    c->contactor_request = m.contactor_request;
    if ((m.fault_reset != 0u) && (c->fault_reset == 0u)) {
        c->pending_reset = 1u;
    }
    c->fault_reset = m.fault_reset;
    c->fast_charge_in_s = (m.fast_charge_in == (uint8_t)SNA_U8_RX)
                              ? NAN
                              : bms_can_vcu_command_fast_charge_in_decode(m.fast_charge_in);
    return BMS_CANL_RX_OK;
}

int32_t bms_canl_rx(bms_canl_t *c, const bms_canl_frame_t *f)
{
    if ((c == 0) || (f == 0)) {
        return BMS_CANL_RX_E_LENGTH;
    }
    int32_t rc;
    if ((f->len > 8u)) {
        rc = BMS_CANL_RX_E_LENGTH;
    } else if (f->id == BMS_CAN_CHG_STATUS_FRAME_ID) {
        rc = rx_chg_status(c, f);
    } else if (f->id == BMS_CAN_CHG_LIMITS_FRAME_ID) {
        rc = rx_chg_limits(c, f);
    } else if (f->id == BMS_CAN_VCU_COMMAND_FRAME_ID) {
        rc = rx_vcu_command(c, f);
    } else {
        c->not_ours = add_sat(c->not_ours, 1u);
        return BMS_CANL_RX_NOT_OURS;
    }
    if (rc < 0) {
        const uint32_t reason = (uint32_t)(-rc) - 1u;
        c->refused[reason] = add_sat(c->refused[reason], 1u);
    }
    return rc;
}

uint32_t bms_canl_refused_total(const bms_canl_t *c)
{
    uint32_t n = 0u;
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_REFUSE_REASONS; k++) {
        n = add_sat(n, c->refused[k]);
    }
    return n;
}

/* ---- timing and the firmware's inputs ---- */

uint32_t bms_canl_inputs(bms_canl_t *c, uint32_t dt_ms, bms_meas_t *meas, uint32_t *cmds)
{
    if ((c == 0) || (meas == 0) || (cmds == 0)) {
        return 0u;
    }
    /* the clock wraps (unsigned arithmetic, well defined); it is only read as differences */
    c->time_ms += dt_ms;
    if (dt_ms >= BMS_CANL_MAX_PERIOD_MS) {
        /* a step at least as long as any cycle: every message is due, which the wrapping
         * difference could not tell after a step of 2^32 - cycle ms or more */
        c->tx_due = (1u << (uint32_t)BMS_CANL_N_TX) - 1u;
    }
    uint8_t lost[BMS_CANL_N_RX];
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_RX; k++) {
        bms_canl_rx_track_t *t = &c->rx[k];
        if (t->fresh != 0u) {
            t->age_ms = 0u;
            t->fresh = 0u;
        } else {
            t->age_ms = add_sat(t->age_ms, dt_ms);
        }
        lost[k] = (t->age_ms > c->cfg.rx_timeout_ms[k]) ? 1u : 0u;
    }
    uint32_t comm = 0u;
    if ((c->charger_session != 0u) && ((lost[BMS_CANL_RX_CHG_STATUS] != 0u) || (lost[BMS_CANL_RX_CHG_LIMITS] != 0u))) {
        comm |= BMS_CANL_PARTNER_CHARGER;
    }
    if (lost[BMS_CANL_RX_VCU_COMMAND] != 0u) {
        comm |= BMS_CANL_PARTNER_VEHICLE;
    }
    c->comm_lost = comm;
    meas->comm_lost = comm;
    /* the charger's own limit, while it is there to enforce it */
    const int32_t charger_live = ((c->charger_session != 0u) && (c->rx[BMS_CANL_RX_CHG_LIMITS].seen != 0u)
                                  && ((comm & BMS_CANL_PARTNER_CHARGER) == 0u))
                                     ? 1
                                     : 0;
    meas->charger_max_a = (charger_live != 0) ? c->charger_max_a : NAN;
    /* the vehicle's announcement, while the vehicle is there to hold it */
    const int32_t vehicle_live =
        ((c->rx[BMS_CANL_RX_VCU_COMMAND].seen != 0u) && ((comm & BMS_CANL_PARTNER_VEHICLE) == 0u)) ? 1 : 0;
    meas->fast_charge_in_s = (vehicle_live != 0) ? c->fast_charge_in_s : NAN;
    uint32_t n = 0u;
    if (c->pending_contactor != 0u) {
        cmds[n++] = c->pending_contactor;
        c->pending_contactor = 0u;
    }
    if (c->pending_reset != 0u) {
        cmds[n++] = (uint32_t)BMS_CMD_FAULT_RESET;
        c->pending_reset = 0u;
    }
    return n;
}

/* ---- transmit ---- */

/* Into the signal's range [lo, hi]; NaN (which no encoder may cast) becomes lo: a limit
 * nobody can compute is 0, a state of charge nobody knows is 0 %. */
static float clampf(float v, float lo, float hi)
{
    if (bms_isfinitef(v) == 0) {
        return (v > hi) ? hi : lo; /* +inf -> hi; -inf, NaN -> lo */
    }
    return (v < lo) ? lo : ((v > hi) ? hi : v);
}

static uint8_t index_u8(uint32_t i)
{
    return (i > 255u) ? 255u : (uint8_t)i;
}

#define SNA_U16 0xFFFFu
#define SNA_S16 (-32768)
#define SNA_U8 0xFFu

static void frame_done(bms_canl_frame_t *f, uint32_t id, int len)
{
    f->id = id;
    f->len = (len > 0) ? (uint8_t)len : 0u;
}

static void pack_status(const bms_meas_t *meas, const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_pack_status_t m;
    (void)bms_can_bms_pack_status_init(&m);
    m.pack_soc = bms_can_bms_pack_status_pack_soc_encode(clampf(out->soc_pack * 100.0f, 0.0f, 100.0f));
    m.pack_voltage = (bms_isfinitef(meas->pack_v) != 0)
                         ? bms_can_bms_pack_status_pack_voltage_encode(clampf(meas->pack_v, 0.0f, 1300.0f))
                         : (uint16_t)SNA_U16;
    m.pack_current = ((out->status & BMS_ST_CURRENT_INVALID) == 0u) && (bms_isfinitef(meas->pack_current_a) != 0)
                         ? bms_can_bms_pack_status_pack_current_encode(clampf(meas->pack_current_a, -1600.0f, 1600.0f))
                         : (int16_t)SNA_S16;
    m.soc_min = bms_can_bms_pack_status_soc_min_encode(clampf(out->soc_min * 100.0f, 0.0f, 100.0f));
    m.soc_max = bms_can_bms_pack_status_soc_max_encode(clampf(out->soc_max * 100.0f, 0.0f, 100.0f));
    frame_done(f, BMS_CAN_BMS_PACK_STATUS_FRAME_ID, bms_can_bms_pack_status_pack(f->data, &m, 8u));
}

/* A limit goes out rounded down: what the partners read never exceeds the firmware's; a
 * limit that is not a finite number goes out as 0 (fail-safe). */
static uint16_t limit_raw(float limit, float hi, uint16_t (*encode)(float), float (*decode)(uint16_t))
{
    if (bms_isfinitef(limit) == 0) {
        return 0u;
    }
    const float v = clampf(limit, 0.0f, hi);
    uint16_t raw = encode(v);
    if ((raw > 0u) && (decode(raw) > v)) {
        raw--;
    }
    return raw;
}

static void pack_limits(const bms_config_t *cfg, const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_limits_t m;
    (void)bms_can_bms_limits_init(&m);
    m.charge_current_limit =
        limit_raw(out->ccl_a, 6000.0f, bms_can_bms_limits_charge_current_limit_encode,
                  bms_can_bms_limits_charge_current_limit_decode);
    m.discharge_current_limit =
        limit_raw(out->dcl_a, 6000.0f, bms_can_bms_limits_discharge_current_limit_encode,
                  bms_can_bms_limits_discharge_current_limit_decode);
    const float v_max = (float)cfg->pack.n_cells * cfg->charge.cell_v_charge_max_v;
    m.max_charge_voltage = limit_raw(v_max, 1300.0f, bms_can_bms_limits_max_charge_voltage_encode,
                                     bms_can_bms_limits_max_charge_voltage_decode);
    m.charge_limiting_factor = (uint8_t)((out->ccl_limit <= 13u) ? out->ccl_limit : 0u);
    m.discharge_limiting_factor = (uint8_t)((out->dcl_limit <= 13u) ? out->dcl_limit : 0u);
    m.charge_complete = (out->charge_complete != 0u) ? 1u : 0u;
    frame_done(f, BMS_CAN_BMS_LIMITS_FRAME_ID, bms_can_bms_limits_pack(f->data, &m, 8u));
}

static void pack_cell_voltages(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_cell_voltages_t m;
    (void)bms_can_bms_cell_voltages_init(&m);
    const int32_t ok = ((bms_isfinitef(out->cell_v_max) != 0) && (bms_isfinitef(out->cell_v_min) != 0)) ? 1 : 0;
    m.cell_voltage_max = (ok != 0) ? bms_can_bms_cell_voltages_cell_voltage_max_encode(clampf(out->cell_v_max, 0.0f, 6.0f))
                                   : (uint16_t)SNA_U16;
    m.cell_voltage_min = (ok != 0) ? bms_can_bms_cell_voltages_cell_voltage_min_encode(clampf(out->cell_v_min, 0.0f, 6.0f))
                                   : (uint16_t)SNA_U16;
    m.cell_voltage_max_index = index_u8(out->cell_v_max_cell);
    m.cell_voltage_min_index = index_u8(out->cell_v_min_cell);
    frame_done(f, BMS_CAN_BMS_CELL_VOLTAGES_FRAME_ID, bms_can_bms_cell_voltages_pack(f->data, &m, 8u));
}

static uint8_t sensor_temp(float t_degc)
{
    return (bms_isfinitef(t_degc) != 0)
               ? bms_can_bms_cell_temperatures_sensor_temp_max_encode(clampf(t_degc, -60.0f, 194.0f))
               : (uint8_t)SNA_U8;
}

static void pack_cell_temperatures(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_cell_temperatures_t m;
    (void)bms_can_bms_cell_temperatures_init(&m);
    /* the hottest cell as the firmware found it (what its limits used); the coldest here */
    const float t_max = out->core_temp_max_degc;
    const uint32_t i_max = out->core_temp_max_cell;
    const float t_min = out->core_temp_min_degc;
    const uint32_t i_min = out->core_temp_min_cell;
    const int32_t ok = ((bms_isfinitef(t_max) != 0) && (bms_isfinitef(t_min) != 0)) ? 1 : 0;
    m.cell_temp_max = (ok != 0) ? bms_can_bms_cell_temperatures_cell_temp_max_encode(clampf(t_max, -60.0f, 200.0f))
                                : (int16_t)SNA_S16;
    m.cell_temp_min = (ok != 0) ? bms_can_bms_cell_temperatures_cell_temp_min_encode(clampf(t_min, -60.0f, 200.0f))
                                : (int16_t)SNA_S16;
    m.cell_temp_max_index = index_u8(i_max);
    m.cell_temp_min_index = index_u8(i_min);
    m.sensor_temp_max = sensor_temp(out->temp_max_degc);
    m.sensor_temp_min = sensor_temp(out->temp_min_degc);
    frame_done(f, BMS_CAN_BMS_CELL_TEMPERATURES_FRAME_ID, bms_can_bms_cell_temperatures_pack(f->data, &m, 8u));
}

static void pack_faults(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_faults_t m;
    (void)bms_can_bms_faults_init(&m);
    m.fault_mask = out->faults;
    m.warning_mask = (uint16_t)(out->warnings & 0xFFFFu);
    m.derate_mask = (uint16_t)(out->derates & 0xFFFFu);
    frame_done(f, BMS_CAN_BMS_FAULTS_FRAME_ID, bms_can_bms_faults_pack(f->data, &m, 8u));
}

static void pack_state(const bms_canl_t *c, const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_state_t m;
    (void)bms_can_bms_state_init(&m);
    m.contactor_state = (uint8_t)((out->contactor_state <= 3u) ? out->contactor_state : 0u);
    m.precharge_relay = (out->relays.precharge != 0u) ? 1u : 0u;
    m.main_positive_relay = (out->relays.main_pos != 0u) ? 1u : 0u;
    m.main_negative_relay = (out->relays.main_neg != 0u) ? 1u : 0u;
    m.fault_latched = (out->faults != 0u) ? 1u : 0u;
    m.heater_request = (out->heater_request != 0u) ? 1u : 0u;
    m.cooling_request = (out->cooling_request != 0u) ? 1u : 0u;
    m.comm_lost = (uint8_t)(c->comm_lost & 0x3u);
    const uint32_t refused = bms_canl_refused_total(c);
    m.rx_refused_count = (uint16_t)((refused > 0xFFFFu) ? 0xFFFFu : refused);
    /* bms_out_t.contactor_counts: breaks under load << 16 | refused << 8 | illegal */
    m.contactor_breaks = (uint16_t)(out->contactor_counts >> 16u);
    m.contactor_refused = (uint8_t)((out->contactor_counts >> 8u) & 0xFFu);
    m.contactor_illegal = (uint8_t)(out->contactor_counts & 0xFFu);
    frame_done(f, BMS_CAN_BMS_STATE_FRAME_ID, bms_can_bms_state_pack(f->data, &m, 8u));
}

static void pack_estimator(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_estimator_t m;
    (void)bms_can_bms_estimator_init(&m);
    const uint32_t n = out->model_mismatch_cells;
    m.model_mismatch_cells = (uint8_t)((n > 255u) ? 255u : n);
    m.model_mismatch = (n != 0u) ? 1u : 0u;
    m.model_nis_max = bms_can_bms_estimator_model_nis_max_encode(clampf(out->model_nis_max, 0.0f, 655.35f));
    frame_done(f, BMS_CAN_BMS_ESTIMATOR_FRAME_ID, bms_can_bms_estimator_pack(f->data, &m, 8u));
}

static void pack_health(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_health_t m;
    (void)bms_can_bms_health_init(&m);
    m.capacity_min = bms_can_bms_health_capacity_min_encode(clampf(100.0f * out->cap_scale_min, 0.0f, 200.0f));
    m.capacity_min_index = index_u8(out->cap_scale_min_cell);
    m.resistance_max = bms_can_bms_health_resistance_max_encode(clampf(100.0f * out->r_scale_max, 0.0f, 400.0f));
    m.resistance_max_index = index_u8(out->r_scale_max_cell);
    m.capacity_sigma = bms_can_bms_health_capacity_sigma_encode(clampf(100.0f * out->cap_sigma, 0.0f, 25.5f));
    m.resistance_sigma = bms_can_bms_health_resistance_sigma_encode(clampf(100.0f * out->r_sigma, 0.0f, 25.5f));
    frame_done(f, BMS_CAN_BMS_HEALTH_FRAME_ID, bms_can_bms_health_pack(f->data, &m, 8u));
}

/* the state of power for 10 s (sop.h: index 1), rounded down as the limits */
static void pack_sop(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_so_p_t m;
    (void)bms_can_bms_so_p_init(&m);
    m.sop_charge_current10s = limit_raw(out->sop_chg_a[1], 6000.0f, bms_can_bms_so_p_sop_charge_current10s_encode,
                                        bms_can_bms_so_p_sop_charge_current10s_decode);
    m.sop_discharge_current10s =
        limit_raw(out->sop_dis_a[1], 6000.0f, bms_can_bms_so_p_sop_discharge_current10s_encode,
                  bms_can_bms_so_p_sop_discharge_current10s_decode);
    m.sop_charge_power10s = limit_raw(0.001f * out->sop_chg_w[1], 655.35f, bms_can_bms_so_p_sop_charge_power10s_encode,
                                      bms_can_bms_so_p_sop_charge_power10s_decode);
    m.sop_discharge_power10s =
        limit_raw(0.001f * out->sop_dis_w[1], 655.35f, bms_can_bms_so_p_sop_discharge_power10s_encode,
                  bms_can_bms_so_p_sop_discharge_power10s_decode);
    frame_done(f, BMS_CAN_BMS_SO_P_FRAME_ID, bms_can_bms_so_p_pack(f->data, &m, 8u));
}

/* the stack pressure (solid-state packs), the reading rounded to the resolution; SNA when the
 * firmware has no usable reading (or the pack no sensor) */
static void pack_pressure(const bms_out_t *out, bms_canl_frame_t *f)
{
    struct bms_can_bms_pressure_t m;
    (void)bms_can_bms_pressure_init(&m);
    m.pressure_min = (bms_isfinitef(out->pressure_min_mpa) != 0)
                         ? bms_can_bms_pressure_pressure_min_encode(clampf(out->pressure_min_mpa, 0.0f, 65.534f))
                         : (uint16_t)SNA_U16;
    m.pressure_max = (bms_isfinitef(out->pressure_max_mpa) != 0)
                         ? bms_can_bms_pressure_pressure_max_encode(clampf(out->pressure_max_mpa, 0.0f, 65.534f))
                         : (uint16_t)SNA_U16;
    m.pressure_min_module = index_u8(out->pressure_min_sensor);
    frame_done(f, BMS_CAN_BMS_PRESSURE_FRAME_ID, bms_can_bms_pressure_pack(f->data, &m, 8u));
}

uint32_t bms_canl_tx(bms_canl_t *c, const bms_config_t *cfg, const bms_meas_t *meas, const bms_out_t *out,
                     bms_canl_frame_t *frames, uint32_t max_frames)
{
    if ((c == 0) || (cfg == 0) || (meas == 0) || (out == 0) || (frames == 0)) {
        return 0u;
    }
    uint32_t n = 0u;
    for (uint32_t k = 0u; (k < (uint32_t)BMS_CANL_N_TX) && (n < max_frames); k++) {
        const uint32_t bit = 1u << k;
        const uint32_t since_ms = c->time_ms - c->last_tx_ms[k]; /* wrapping elapsed time */
        if (((c->tx_due & bit) == 0u) && (since_ms < c->cfg.tx_cycle_ms[k])) {
            continue;
        }
        /* the next period runs from now: a late step sends once, never a burst */
        c->last_tx_ms[k] = c->time_ms;
        c->tx_due &= ~bit;
        bms_canl_frame_t *f = &frames[n++];
        switch (k) {
        case BMS_CANL_TX_PACK_STATUS:
            pack_status(meas, out, f);
            break;
        case BMS_CANL_TX_LIMITS:
            pack_limits(cfg, out, f);
            break;
        case BMS_CANL_TX_CELL_VOLTAGES:
            pack_cell_voltages(out, f);
            break;
        case BMS_CANL_TX_CELL_TEMPERATURES:
            pack_cell_temperatures(out, f);
            break;
        case BMS_CANL_TX_FAULTS:
            pack_faults(out, f);
            break;
        case BMS_CANL_TX_ESTIMATOR:
            pack_estimator(out, f);
            break;
        case BMS_CANL_TX_HEALTH:
            pack_health(out, f);
            break;
        case BMS_CANL_TX_SOP:
            pack_sop(out, f);
            break;
        case BMS_CANL_TX_PRESSURE:
            pack_pressure(out, f);
            break;
        default:
            pack_state(c, out, f);
            break;
        }
    }
    return n;
}
