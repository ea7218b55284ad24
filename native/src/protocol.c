/* Wire protocol: CRC-32C, COBS framing, header checks and the message
 * layouts (see protocol.h). Little-endian byte by byte: no struct is sent
 * as memory, so host and target agree whatever their padding. */
#include "bms/protocol.h"

#include <stddef.h>

_Static_assert(BMS_PROTO_MAX_FRAME == (BMS_PROTO_HDR_LEN + BMS_PROTO_MAX_PAYLOAD + BMS_PROTO_CRC_LEN), "frame size");
_Static_assert(BMS_PROTO_MAX_WIRE >= (BMS_PROTO_TX_OFFSET + BMS_PROTO_MAX_FRAME + 2), "wire buffer");
/* a decoded frame fits where a reply frame is built */
_Static_assert((BMS_PROTO_TX_OFFSET + BMS_PROTO_MAX_FRAME) <= BMS_PROTO_MAX_WIRE, "rx in place");
/* in-place COBS: the write position runs ahead of the read position by at
 * most 1 (leading delimiter) + 2 + one code byte per 254 data bytes */
_Static_assert(BMS_PROTO_TX_OFFSET >= (3 + (BMS_PROTO_MAX_FRAME / 254) + 1), "COBS in place");
_Static_assert((BMS_PROTO_STATE_FIXED_LEN + (8 * BMS_MAX_CELLS) + BMS_BAL_MASK_BYTES) <= BMS_PROTO_MAX_PAYLOAD,
               "STATE fits");
_Static_assert((BMS_PROTO_STEP_FIXED_LEN + (4 * (BMS_MAX_CELLS + BMS_MAX_TEMP_SENSORS + BMS_MAX_PRESSURE_SENSORS))) <= BMS_PROTO_MAX_PAYLOAD,
               "STEP fits");
_Static_assert((BMS_PROTO_CONFIG_HDR_LEN + BMS_PROTO_CONFIG_CHUNK_MAX) <= BMS_PROTO_MAX_PAYLOAD, "CONFIG fits");

/* CRC-32C (reflected polynomial 0x82F63B78), four bits at a time. */
static const uint32_t crc32c_nibble[16] = {
    0x00000000u, 0x105EC76Fu, 0x20BD8EDEu, 0x30E349B1u, 0x417B1DBCu, 0x5125DAD3u, 0x61C69362u, 0x7198540Du,
    0x82F63B78u, 0x92A8FC17u, 0xA24BB5A6u, 0xB21572C9u, 0xC38D26C4u, 0xD3D3E1ABu, 0xE330A81Au, 0xF36E6F75u,
};

uint32_t bms_proto_crc32c_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    uint32_t c = crc;
    for (uint32_t i = 0u; i < n; i++) {
        c ^= (uint32_t)p[i];
        c = (c >> 4) ^ crc32c_nibble[c & 0x0Fu];
        c = (c >> 4) ^ crc32c_nibble[c & 0x0Fu];
    }
    return c;
}

uint32_t bms_proto_crc32c(const uint8_t *p, uint32_t n)
{
    return bms_proto_crc32c_update(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
}

/* COBS, the variant of the Python `cobs` package: a block that reaches 254
 * data bytes ends with code 0xFF, and no empty block follows at the very end.
 * Reads src[i] before writing any dst position it could occupy, so dst may
 * start up to BMS_PROTO_TX_OFFSET - 1 bytes before src (bms_proto_tx_finish). */
uint32_t bms_proto_cobs_encode(const uint8_t *src, uint32_t n, uint8_t *dst, uint32_t cap)
{
    if (cap < (n + (n / 254u) + 1u)) {
        return 0u;
    }
    uint32_t code_pos = 0u;
    uint32_t w = 1u;
    uint8_t code = 1u;
    uint32_t open = 1u;
    for (uint32_t i = 0u; i < n; i++) {
        const uint8_t b = src[i];
        if (open == 0u) {
            code_pos = w;
            w++;
            code = 1u;
            open = 1u;
        }
        if (b == 0u) {
            dst[code_pos] = code;
            code_pos = w;
            w++;
            code = 1u;
        } else {
            dst[w] = b;
            w++;
            code++;
            if (code == 0xFFu) {
                dst[code_pos] = code;
                open = 0u;
            }
        }
    }
    if (open != 0u) {
        dst[code_pos] = code;
    }
    return w;
}

/* ---- little-endian access ---- */
typedef union {
    float f;
    uint32_t u;
} f32_u32_t;

static void put_u8(uint8_t *p, uint32_t *at, uint32_t v)
{
    p[*at] = (uint8_t)(v & 0xFFu);
    *at += 1u;
}

static void put_u16(uint8_t *p, uint32_t *at, uint32_t v)
{
    p[*at] = (uint8_t)(v & 0xFFu);
    p[*at + 1u] = (uint8_t)((v >> 8) & 0xFFu);
    *at += 2u;
}

static void put_u32(uint8_t *p, uint32_t *at, uint32_t v)
{
    p[*at] = (uint8_t)(v & 0xFFu);
    p[*at + 1u] = (uint8_t)((v >> 8) & 0xFFu);
    p[*at + 2u] = (uint8_t)((v >> 16) & 0xFFu);
    p[*at + 3u] = (uint8_t)((v >> 24) & 0xFFu);
    *at += 4u;
}

static void put_f32(uint8_t *p, uint32_t *at, float f)
{
    f32_u32_t x;
    x.f = f;
    put_u32(p, at, x.u);
}

static uint32_t get_u8(const uint8_t *p, uint32_t *at)
{
    const uint32_t v = p[*at];
    *at += 1u;
    return v;
}

static uint32_t get_u16(const uint8_t *p, uint32_t *at)
{
    const uint32_t v = (uint32_t)p[*at] | ((uint32_t)p[*at + 1u] << 8);
    *at += 2u;
    return v;
}

static uint32_t get_u32(const uint8_t *p, uint32_t *at)
{
    const uint32_t v = (uint32_t)p[*at] | ((uint32_t)p[*at + 1u] << 8) | ((uint32_t)p[*at + 2u] << 16)
                       | ((uint32_t)p[*at + 3u] << 24);
    *at += 4u;
    return v;
}

static float get_f32(const uint8_t *p, uint32_t *at)
{
    f32_u32_t x;
    x.u = get_u32(p, at);
    return x.f;
}

/* ---- layout hash ---- */
#define OFS(t, m) ((uint32_t)offsetof(t, m))

uint32_t bms_proto_layout_hash(void)
{
    /* every field of bms_config_t (the bytes CONFIG carries), the sizes of the structs
     * whose copies cross the wire and the STATE layout (bms_out_t is encoded field by
     * field: its size, with the caller's pointers in it, differs between host and board) */
    static const uint32_t layout[] = {
        (uint32_t)sizeof(bms_config_t),
        (uint32_t)sizeof(bms_meas_t),
        (uint32_t)BMS_PROTO_STATE_FIXED_LEN,
        (uint32_t)BMS_MAX_CELLS,
        (uint32_t)BMS_MAX_TEMP_SENSORS,
        (uint32_t)BMS_MAX_PRESSURE_SENSORS,
        OFS(bms_config_t, pack.n_cells),
        OFS(bms_config_t, pack.current_range_a),
        OFS(bms_config_t, pack.n_temp_sensors),
        OFS(bms_config_t, pack.temp_sensor_cell),
        OFS(bms_config_t, pack.n_pressure_sensors),
        OFS(bms_config_t, cell.n_soc),
        OFS(bms_config_t, cell.n_temp),
        OFS(bms_config_t, cell.soc_bp),
        OFS(bms_config_t, cell.temp_bp_degc),
        OFS(bms_config_t, cell.ocv_v),
        OFS(bms_config_t, cell.r0_ohm),
        OFS(bms_config_t, cell.r1_ohm),
        OFS(bms_config_t, cell.c1_f),
        OFS(bms_config_t, cell.r2_ohm),
        OFS(bms_config_t, cell.c2_f),
        OFS(bms_config_t, cell.docv_dt_v_per_k),
        OFS(bms_config_t, cell.capacity_ah),
        OFS(bms_config_t, cell.coulombic_eff),
        OFS(bms_config_t, cell.hyst_m_v),
        OFS(bms_config_t, cell.hyst_m0_v),
        OFS(bms_config_t, cell.hyst_gamma),
        OFS(bms_config_t, thermal.c_core_j_per_k),
        OFS(bms_config_t, thermal.c_surf_j_per_k),
        OFS(bms_config_t, thermal.r_core_surf_k_per_w),
        OFS(bms_config_t, thermal.r_surf_amb_k_per_w),
        OFS(bms_config_t, est.soc_init_sigma),
        OFS(bms_config_t, est.v_rc_init_sigma_v),
        OFS(bms_config_t, est.current_noise_a),
        OFS(bms_config_t, est.current_gain_sigma),
        OFS(bms_config_t, est.soc_rw_per_sqrt_s),
        OFS(bms_config_t, est.v_rc_rw_v_per_sqrt_s),
        OFS(bms_config_t, est.voltage_noise_v),
        OFS(bms_config_t, est.model_err_v),
        OFS(bms_config_t, est.r0_rel_sigma),
        OFS(bms_config_t, est.rc_rel_sigma),
        OFS(bms_config_t, est.rc_v_rel_sigma),
        OFS(bms_config_t, est.model_err_corr_s),
        OFS(bms_config_t, est.current_err_corr_s),
        OFS(bms_config_t, est.mismatch_window_s),
        OFS(bms_config_t, est.mismatch_nis),
        OFS(bms_config_t, est.temp_init_sigma_degc),
        OFS(bms_config_t, est.heat_noise_w),
        OFS(bms_config_t, est.temp_noise_degc),
        OFS(bms_config_t, est.temp_spatial_sigma_degc),
        OFS(bms_config_t, est.r_surf_amb_rel_sigma),
        OFS(bms_config_t, est.soh_init_sigma),
        OFS(bms_config_t, est.soh_rw),
        OFS(bms_config_t, est.soh_rest_s),
        OFS(bms_config_t, est.soh_min_dsoc),
        OFS(bms_config_t, est.soh_step_c),
        OFS(bms_config_t, est.soh_r_init_sigma),
        OFS(bms_config_t, limits.q[0].warning.threshold),
        OFS(bms_config_t, limits.q[0].warning.hysteresis),
        OFS(bms_config_t, limits.q[0].warning.debounce_ms),
        OFS(bms_config_t, limits.q[0].derate.threshold),
        OFS(bms_config_t, limits.q[0].trip.threshold),
        OFS(bms_config_t, limits.q[1].warning.threshold),
        OFS(bms_config_t, limits.q[BMS_N_QUANTITIES - 1].trip.threshold),
        OFS(bms_config_t, plaus.cell_v_min_v),
        OFS(bms_config_t, plaus.cell_v_max_v),
        OFS(bms_config_t, plaus.temp_min_degc),
        OFS(bms_config_t, plaus.temp_max_degc),
        OFS(bms_config_t, plaus.ntc_open_below_degc),
        OFS(bms_config_t, plaus.ntc_short_above_degc),
        OFS(bms_config_t, plaus.open_wire_v),
        OFS(bms_config_t, plaus.pack_sum_tol_v),
        OFS(bms_config_t, plaus.stuck_current_delta_a),
        OFS(bms_config_t, plaus.current_offset_max_a),
        OFS(bms_config_t, plaus.sensor_debounce_ms),
        OFS(bms_config_t, plaus.stuck_debounce_ms),
        OFS(bms_config_t, plaus.open_wire_debounce_ms),
        OFS(bms_config_t, plaus.ntc_debounce_ms),
        OFS(bms_config_t, plaus.offset_debounce_ms),
        OFS(bms_config_t, plaus.stale_timeout_ms),
        OFS(bms_config_t, plaus.ccl_excess_frac),
        OFS(bms_config_t, plaus.ccl_excess_a),
        OFS(bms_config_t, plaus.charger_response_ms),
        OFS(bms_config_t, plaus.ccl_excess_debounce_ms),
        OFS(bms_config_t, plaus.ccl_excess_fast_ms),
        OFS(bms_config_t, plaus.coolant_flow_min_lpm),
        OFS(bms_config_t, plaus.cooling_debounce_ms),
        OFS(bms_config_t, plaus.cell_dev_max_v),
        OFS(bms_config_t, plaus.cell_dev_v_per_a),
        OFS(bms_config_t, plaus.cell_dev_debounce_ms),
        OFS(bms_config_t, plaus.pressure_min_mpa),
        OFS(bms_config_t, plaus.pressure_max_mpa),
        OFS(bms_config_t, plaus.pressure_open_below_mpa),
        OFS(bms_config_t, contactor.precharge_ratio),
        OFS(bms_config_t, contactor.precharge_timeout_ms),
        OFS(bms_config_t, contactor.break_current_a),
        OFS(bms_config_t, contactor.opening_timeout_ms),
        OFS(bms_config_t, contactor.emergency_mask),
        OFS(bms_config_t, charge.n_soc),
        OFS(bms_config_t, charge.n_temp),
        OFS(bms_config_t, charge.soc_bp),
        OFS(bms_config_t, charge.temp_bp_degc),
        OFS(bms_config_t, charge.charge_c),
        OFS(bms_config_t, charge.plating_c),
        OFS(bms_config_t, charge.discharge_c),
        OFS(bms_config_t, charge.cell_v_charge_max_v),
        OFS(bms_config_t, charge.cell_v_discharge_min_v),
        OFS(bms_config_t, charge.hw_charge_max_a),
        OFS(bms_config_t, charge.hw_discharge_max_a),
        OFS(bms_config_t, charge.ramp_up_a_per_s),
        OFS(bms_config_t, charge.charge_target_soc),
        OFS(bms_config_t, charge.charge_resume_soc),
        OFS(bms_config_t, charge.charge_detect_a),
        OFS(bms_config_t, charge.heater_on_below_degc),
        OFS(bms_config_t, charge.heater_off_above_degc),
        OFS(bms_config_t, charge.cooling_on_above_degc),
        OFS(bms_config_t, charge.cooling_off_below_degc),
        OFS(bms_config_t, charge.precond_on_below_degc),
        OFS(bms_config_t, charge.precond_off_above_degc),
        OFS(bms_config_t, nvm.soc_sigma),
        OFS(bms_config_t, nvm.valid),
        OFS(bms_config_t, nvm.cap_q),
        OFS(bms_config_t, nvm.r_q),
        OFS(bms_config_t, nvm.soh_sigma),
        OFS(bms_config_t, nvm.soh_valid),
    };
    uint8_t b[4];
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0u; i < (uint32_t)(sizeof(layout) / sizeof(layout[0])); i++) {
        uint32_t at = 0u;
        put_u32(b, &at, layout[i]);
        crc = bms_proto_crc32c_update(crc, b, 4u);
    }
    return crc ^ 0xFFFFFFFFu;
}

/* ---- context ---- */
static void rx_restart(bms_proto_ctx_t *c)
{
    c->rx_len = 0u;
    c->block_left = 0u;
    c->block_code = 0u;
    c->zero_pending = 0u;
    c->in_frame = 0u;
    c->discard = 0u;
}

void bms_proto_clear_stats(bms_proto_ctx_t *c)
{
    c->stats.rx_bytes = 0u;
    c->stats.frames_ok = 0u;
    c->stats.crc_errors = 0u;
    c->stats.framing_errors = 0u;
    c->stats.oversize = 0u;
    c->stats.truncated = 0u;
    c->stats.length_errors = 0u;
    c->stats.bad_version = 0u;
    c->stats.unknown_type = 0u;
    c->stats.bad_payload = 0u;
    c->stats.rx_overruns = 0u;
    c->stats.frames_tx = 0u;
    c->stats.errors_tx = 0u;
    c->stats.steps = 0u;
    c->stats.stack_free = 0xFFFFFFFFu;
}

void bms_proto_init(bms_proto_ctx_t *c)
{
    rx_restart(c);
    c->hdr.version = 0u;
    c->hdr.type = 0u;
    c->hdr.seq = 0u;
    c->hdr.length = 0u;
    c->reject_code = 0u;
    bms_proto_clear_stats(c);
}

static int32_t is_request(uint32_t type)
{
    return ((type == (uint32_t)BMS_PROTO_MSG_HELLO) || (type == (uint32_t)BMS_PROTO_MSG_CONFIG)
            || (type == (uint32_t)BMS_PROTO_MSG_STEP) || (type == (uint32_t)BMS_PROTO_MSG_COMMAND)
            || (type == (uint32_t)BMS_PROTO_MSG_RESET) || (type == (uint32_t)BMS_PROTO_MSG_STATS))
               ? 1
               : 0;
}

/* A whole decoded frame is in buf[BMS_PROTO_TX_OFFSET ..] (rx_len bytes): check it. */
static int32_t frame_end(bms_proto_ctx_t *c)
{
    const uint32_t n = c->rx_len;
    const uint8_t *rx = &c->buf[BMS_PROTO_TX_OFFSET];
    if (n < (uint32_t)(BMS_PROTO_HDR_LEN + BMS_PROTO_CRC_LEN)) {
        c->stats.truncated++;
        return BMS_PROTO_RX_DROPPED;
    }
    uint32_t at = 0u;
    bms_proto_header_t h;
    h.version = (uint8_t)get_u8(rx, &at);
    h.type = (uint8_t)get_u8(rx, &at);
    h.seq = (uint16_t)get_u16(rx, &at);
    h.length = (uint16_t)get_u16(rx, &at);
    const uint32_t expect = (uint32_t)BMS_PROTO_HDR_LEN + (uint32_t)h.length + (uint32_t)BMS_PROTO_CRC_LEN;
    if (n < expect) {
        c->stats.truncated++;
        return BMS_PROTO_RX_DROPPED;
    }
    if ((n > expect) || (h.length > (uint16_t)BMS_PROTO_MAX_PAYLOAD)) {
        c->stats.length_errors++;
        return BMS_PROTO_RX_DROPPED;
    }
    at = n - (uint32_t)BMS_PROTO_CRC_LEN;
    const uint32_t crc_rx = get_u32(rx, &at);
    if (crc_rx != bms_proto_crc32c(rx, n - (uint32_t)BMS_PROTO_CRC_LEN)) {
        c->stats.crc_errors++;
        return BMS_PROTO_RX_DROPPED;
    }
    c->stats.frames_ok++;
    c->hdr = h;
    if (h.version != (uint8_t)BMS_PROTO_VERSION) {
        c->stats.bad_version++;
        c->reject_code = BMS_PROTO_E_BAD_VERSION;
        return BMS_PROTO_RX_REJECT;
    }
    if (is_request(h.type) == 0) {
        c->stats.unknown_type++;
        c->reject_code = BMS_PROTO_E_UNKNOWN_TYPE;
        return BMS_PROTO_RX_REJECT;
    }
    return BMS_PROTO_RX_FRAME;
}

int32_t bms_proto_rx_byte(bms_proto_ctx_t *c, uint8_t b)
{
    c->stats.rx_bytes++;
    if (b == 0u) {
        int32_t r = BMS_PROTO_RX_NONE;
        if (c->discard != 0u) {
            r = BMS_PROTO_RX_DROPPED; /* counted when it overflowed */
        } else if (c->in_frame == 0u) {
            r = BMS_PROTO_RX_NONE; /* empty frame: resynchronisation */
        } else if (c->block_left != 0u) {
            c->stats.framing_errors++;
            r = BMS_PROTO_RX_DROPPED;
        } else {
            r = frame_end(c);
        }
        rx_restart(c);
        return r;
    }
    c->in_frame = 1u;
    if (c->discard != 0u) {
        return BMS_PROTO_RX_NONE;
    }
    if (c->block_left == 0u) {
        /* a code byte: the previous block's implied zero is data after all */
        if (c->zero_pending != 0u) {
            if (c->rx_len >= (uint32_t)BMS_PROTO_MAX_FRAME) {
                c->stats.oversize++;
                c->discard = 1u;
                return BMS_PROTO_RX_NONE;
            }
            c->buf[BMS_PROTO_TX_OFFSET + c->rx_len] = 0u;
            c->rx_len++;
        }
        c->block_code = b;
        c->block_left = (uint32_t)b - 1u;
        c->zero_pending = (uint8_t)((b < 0xFFu) ? 1u : 0u);
        return BMS_PROTO_RX_NONE;
    }
    if (c->rx_len >= (uint32_t)BMS_PROTO_MAX_FRAME) {
        c->stats.oversize++;
        c->discard = 1u;
        return BMS_PROTO_RX_NONE;
    }
    c->buf[BMS_PROTO_TX_OFFSET + c->rx_len] = b;
    c->rx_len++;
    c->block_left--;
    return BMS_PROTO_RX_NONE;
}

const uint8_t *bms_proto_rx_payload(const bms_proto_ctx_t *c)
{
    return &c->buf[BMS_PROTO_TX_OFFSET + BMS_PROTO_HDR_LEN];
}

uint8_t *bms_proto_tx_payload(bms_proto_ctx_t *c)
{
    return &c->buf[BMS_PROTO_TX_OFFSET + BMS_PROTO_HDR_LEN];
}

uint32_t bms_proto_tx_finish(bms_proto_ctx_t *c, uint8_t type, uint16_t seq, uint32_t payload_len)
{
    if (payload_len > (uint32_t)BMS_PROTO_MAX_PAYLOAD) {
        return 0u;
    }
    uint8_t *raw = &c->buf[BMS_PROTO_TX_OFFSET];
    uint32_t at = 0u;
    put_u8(raw, &at, BMS_PROTO_VERSION);
    put_u8(raw, &at, type);
    put_u16(raw, &at, seq);
    put_u16(raw, &at, payload_len);
    at = (uint32_t)BMS_PROTO_HDR_LEN + payload_len;
    const uint32_t crc = bms_proto_crc32c(raw, at);
    put_u32(raw, &at, crc);
    c->buf[0] = 0u;
    const uint32_t enc = bms_proto_cobs_encode(raw, at, &c->buf[1], (uint32_t)BMS_PROTO_MAX_WIRE - 2u);
    if (enc == 0u) {
        return 0u;
    }
    c->buf[enc + 1u] = 0u;
    c->stats.frames_tx++;
    if (type == (uint8_t)BMS_PROTO_MSG_ERROR) {
        c->stats.errors_tx++;
    }
    return enc + 2u;
}

/* ---- messages ---- */
int32_t bms_proto_get_step(const uint8_t *p, uint32_t len, bms_proto_step_t *step, bms_meas_t *meas)
{
    if (len < (uint32_t)BMS_PROTO_STEP_FIXED_LEN) {
        return BMS_PROTO_E_BAD_PAYLOAD;
    }
    uint32_t at = 0u;
    step->dt_ms = get_u32(p, &at);
    step->command = get_u8(p, &at);
    (void)get_u8(p, &at);
    step->n_cells = get_u16(p, &at);
    step->n_sensors = get_u16(p, &at);
    step->n_pressure = get_u16(p, &at);
    if ((step->n_cells > (uint32_t)BMS_MAX_CELLS) || (step->n_sensors > (uint32_t)BMS_MAX_TEMP_SENSORS)
        || (step->n_pressure > (uint32_t)BMS_MAX_PRESSURE_SENSORS)
        || (len != ((uint32_t)BMS_PROTO_STEP_FIXED_LEN
                    + (4u * (step->n_cells + step->n_sensors + step->n_pressure))))) {
        return BMS_PROTO_E_BAD_PAYLOAD;
    }
    meas->pack_current_a = get_f32(p, &at);
    meas->ambient_degc = get_f32(p, &at);
    meas->pack_v = get_f32(p, &at);
    meas->bus_v = get_f32(p, &at);
    meas->charger_max_a = get_f32(p, &at);
    meas->coolant_flow_lpm = get_f32(p, &at);
    meas->fast_charge_in_s = get_f32(p, &at);
    meas->sample_time_ms = get_u32(p, &at);
    meas->comm_lost = 0u; /* a wire STEP carries the sensors only; no bus partners */
    for (uint32_t i = 0u; i < step->n_cells; i++) {
        meas->cell_v[i] = get_f32(p, &at);
    }
    for (uint32_t j = 0u; j < step->n_sensors; j++) {
        meas->temp_degc[j] = get_f32(p, &at);
    }
    for (uint32_t k = 0u; k < step->n_pressure; k++) {
        meas->pressure_mpa[k] = get_f32(p, &at);
    }
    return 0;
}

int32_t bms_proto_get_config(const uint8_t *p, uint32_t len, bms_proto_config_t *cfg)
{
    if (len < (uint32_t)BMS_PROTO_CONFIG_HDR_LEN) {
        return BMS_PROTO_E_BAD_PAYLOAD;
    }
    uint32_t at = 0u;
    cfg->op = get_u8(p, &at);
    (void)get_u8(p, &at);
    cfg->data_len = get_u16(p, &at);
    cfg->value = get_u32(p, &at);
    cfg->crc = get_u32(p, &at);
    cfg->data_offset = at;
    if ((cfg->op > (uint32_t)BMS_PROTO_CFG_COMMIT) || (cfg->data_len > (uint32_t)BMS_PROTO_CONFIG_CHUNK_MAX)
        || (len != ((uint32_t)BMS_PROTO_CONFIG_HDR_LEN + cfg->data_len))
        || ((cfg->op != (uint32_t)BMS_PROTO_CFG_DATA) && (cfg->data_len != 0u))) {
        return BMS_PROTO_E_BAD_PAYLOAD;
    }
    return 0;
}

uint32_t bms_proto_put_hello(uint8_t *p, const bms_proto_hello_t *h)
{
    uint32_t at = 0u;
    put_u8(p, &at, h->fw_major);
    put_u8(p, &at, h->fw_minor);
    put_u16(p, &at, h->max_cells);
    put_u16(p, &at, h->max_sensors);
    put_u16(p, &at, h->max_payload);
    put_u32(p, &at, h->config_size);
    put_u32(p, &at, h->layout_hash);
    put_u32(p, &at, h->source_hash);
    put_u32(p, &at, h->config_hash);
    put_u8(p, &at, h->configured);
    put_u8(p, &at, h->counter_kind);
    put_u16(p, &at, 0u);
    put_u32(p, &at, h->counter_hz);
    put_u32(p, &at, h->cal_insns);
    put_u32(p, &at, h->cal_ticks);
    uint32_t end = 0u;
    for (uint32_t i = 0u; i < 16u; i++) {
        if (h->board[i] == '\0') {
            end = 1u;
        }
        put_u8(p, &at, (end != 0u) ? 0u : (uint32_t)(uint8_t)h->board[i]);
    }
    return at;
}

uint32_t bms_proto_put_state(uint8_t *p, const bms_t *inst, const bms_out_t *out, uint32_t n_cells,
                             uint32_t cycles, int32_t cmd_result, uint32_t flags)
{
    uint32_t n = n_cells;
    if (n > (uint32_t)BMS_MAX_CELLS) {
        n = (uint32_t)BMS_MAX_CELLS;
    }
    uint32_t at = 0u;
    put_u16(p, &at, n);
    put_u8(p, &at, (uint32_t)(uint8_t)(int8_t)cmd_result);
    put_u8(p, &at, flags);
    put_u32(p, &at, cycles);
    put_f32(p, &at, out->soc_min);
    put_f32(p, &at, out->soc_max);
    put_f32(p, &at, out->soc_mean);
    put_f32(p, &at, out->soc_pack);
    put_f32(p, &at, out->core_temp_max_degc);
    put_f32(p, &at, out->cell_v_max);
    put_f32(p, &at, out->cell_v_min);
    put_f32(p, &at, out->temp_min_degc);
    put_f32(p, &at, out->temp_max_degc);
    put_f32(p, &at, out->ccl_a);
    put_f32(p, &at, out->dcl_a);
    put_f32(p, &at, out->model_nis_max);
    put_f32(p, &at, out->cap_scale_min);
    put_f32(p, &at, out->cap_sigma);
    put_f32(p, &at, out->r_scale_max);
    put_f32(p, &at, out->r_sigma);
    put_f32(p, &at, out->pressure_min_mpa);
    put_f32(p, &at, out->pressure_max_mpa);
    for (uint32_t h = 0u; h < BMS_SOP_N_HORIZONS; h++) {
        put_f32(p, &at, out->sop_chg_a[h]);
        put_f32(p, &at, out->sop_dis_a[h]);
        put_f32(p, &at, out->sop_chg_w[h]);
        put_f32(p, &at, out->sop_dis_w[h]);
    }
    put_u32(p, &at, out->ccl_limit);
    put_u32(p, &at, out->dcl_limit);
    put_u32(p, &at, out->faults);
    put_u32(p, &at, out->warnings);
    put_u32(p, &at, out->derates);
    put_u32(p, &at, out->contactor_state);
    put_u32(p, &at, out->status);
    put_u32(p, &at, out->time_ms);
    put_u32(p, &at, out->model_mismatch_cells);
    put_u32(p, &at, out->cap_scale_min_cell);
    put_u32(p, &at, out->r_scale_max_cell);
    put_u32(p, &at, out->soh_updates);
    put_u32(p, &at, out->bal_cells);
    put_u32(p, &at, out->pressure_min_sensor);
    put_u32(p, &at, out->contactor_counts);
    put_u8(p, &at, out->charge_complete);
    put_u8(p, &at, out->heater_request);
    put_u8(p, &at, out->cooling_request);
    put_u8(p, &at, out->bal_test);
    for (uint32_t i = 0u; i < n; i++) {
        put_f32(p, &at, bms_cell_soc(inst, i));
    }
    for (uint32_t i = 0u; i < n; i++) {
        put_f32(p, &at, bms_cell_core_temp_degc(inst, i));
    }
    /* the balancing switches commanded, a bit per cell (the instance's: the node gives no
     * mask array) */
    for (uint32_t k = 0u; k < ((n + 7u) / 8u); k++) {
        put_u8(p, &at, inst->bal.cmd[k]);
    }
    return at;
}

uint32_t bms_proto_put_stats(uint8_t *p, const bms_proto_stats_t *s)
{
    uint32_t at = 0u;
    put_u32(p, &at, s->rx_bytes);
    put_u32(p, &at, s->frames_ok);
    put_u32(p, &at, s->crc_errors);
    put_u32(p, &at, s->framing_errors);
    put_u32(p, &at, s->oversize);
    put_u32(p, &at, s->truncated);
    put_u32(p, &at, s->length_errors);
    put_u32(p, &at, s->bad_version);
    put_u32(p, &at, s->unknown_type);
    put_u32(p, &at, s->bad_payload);
    put_u32(p, &at, s->rx_overruns);
    put_u32(p, &at, s->frames_tx);
    put_u32(p, &at, s->errors_tx);
    put_u32(p, &at, s->steps);
    put_u32(p, &at, s->stack_free);
    return at;
}

uint32_t bms_proto_put_error(uint8_t *p, uint32_t code, uint32_t request_type, int32_t detail)
{
    uint32_t at = 0u;
    put_u8(p, &at, code);
    put_u8(p, &at, request_type);
    put_u16(p, &at, 0u);
    put_u32(p, &at, (uint32_t)detail);
    return at;
}

uint32_t bms_proto_put_config_reply(uint8_t *p, uint32_t op, uint32_t received, uint32_t config_hash)
{
    uint32_t at = 0u;
    put_u8(p, &at, op);
    put_u8(p, &at, 0u);
    put_u16(p, &at, 0u);
    put_u32(p, &at, received);
    put_u32(p, &at, config_hash);
    return at;
}

uint32_t bms_proto_put_command_reply(uint8_t *p, uint32_t cmd, int32_t result)
{
    uint32_t at = 0u;
    put_u8(p, &at, cmd);
    put_u8(p, &at, 0u);
    put_u16(p, &at, 0u);
    put_u32(p, &at, (uint32_t)result);
    return at;
}
