/* The firmware end of the HIL protocol (see hil_node.h). */
#include "bms/hil_node.h"

#ifndef BMS_SOURCE_HASH
#define BMS_SOURCE_HASH 0u /* set by the build: hash of native/src and native/include/bms */
#endif

uint32_t bms_hil_source_hash(void)
{
    return (uint32_t)BMS_SOURCE_HASH;
}

void bms_hil_init(bms_hil_node_t *n, const bms_hil_board_t *board)
{
    bms_proto_init(&n->proto);
    n->bms.configured = 0u;
    n->dl.active = 0u;
    n->dl.total = 0u;
    n->dl.crc = 0u;
    n->dl.received = 0u;
    n->config_hash = 0u;
    n->board = *board;
    n->board.board[15] = '\0';
}

const uint8_t *bms_hil_tx(const bms_hil_node_t *n)
{
    return n->proto.buf;
}

void bms_hil_count_overruns(bms_hil_node_t *n, uint32_t lost)
{
    n->proto.stats.rx_overruns += lost;
}

static uint32_t reply(bms_hil_node_t *n, uint8_t type, uint32_t len)
{
    return bms_proto_tx_finish(&n->proto, type, n->proto.hdr.seq, len);
}

static uint32_t error(bms_hil_node_t *n, uint32_t code, int32_t detail)
{
    if (code == (uint32_t)BMS_PROTO_E_BAD_PAYLOAD) {
        n->proto.stats.bad_payload++;
    }
    const uint32_t len = bms_proto_put_error(bms_proto_tx_payload(&n->proto), code, n->proto.hdr.type, detail);
    return reply(n, BMS_PROTO_MSG_ERROR, len);
}

static uint32_t hello_payload(bms_hil_node_t *n)
{
    bms_proto_hello_t h;
    h.fw_major = BMS_FW_VERSION_MAJOR;
    h.fw_minor = BMS_FW_VERSION_MINOR;
    h.max_cells = BMS_MAX_CELLS;
    h.max_sensors = BMS_MAX_TEMP_SENSORS;
    h.max_payload = BMS_PROTO_MAX_PAYLOAD;
    h.config_size = (uint32_t)sizeof(bms_config_t);
    h.layout_hash = bms_proto_layout_hash();
    h.source_hash = bms_hil_source_hash();
    h.config_hash = n->config_hash;
    h.configured = n->bms.configured;
    h.counter_kind = n->board.counter_kind;
    h.counter_hz = n->board.counter_hz;
    h.cal_insns = n->board.cal_insns;
    h.cal_ticks = n->board.cal_ticks;
    for (uint32_t i = 0u; i < 16u; i++) {
        h.board[i] = n->board.board[i];
    }
    return bms_proto_put_hello(bms_proto_tx_payload(&n->proto), &h);
}

uint32_t bms_hil_hello(bms_hil_node_t *n)
{
    return bms_proto_tx_finish(&n->proto, BMS_PROTO_MSG_HELLO, 0u, hello_payload(n));
}

uint32_t bms_hil_fault(bms_hil_node_t *n, uint32_t pc)
{
    const uint32_t len =
        bms_proto_put_error(bms_proto_tx_payload(&n->proto), BMS_PROTO_E_FIRMWARE_FAULT, 0u, (int32_t)pc);
    return bms_proto_tx_finish(&n->proto, BMS_PROTO_MSG_ERROR, 0u, len);
}

static uint32_t handle_config(bms_hil_node_t *n, const uint8_t *p, uint32_t len)
{
    bms_proto_config_t m;
    if (bms_proto_get_config(p, len, &m) != 0) {
        return error(n, BMS_PROTO_E_BAD_PAYLOAD, -1);
    }
    /* the download writes into the running instance's configuration */
    uint8_t *cfg = (uint8_t *)&n->bms.cfg;
    const uint32_t size = (uint32_t)sizeof(bms_config_t);
    if (m.op == (uint32_t)BMS_PROTO_CFG_BEGIN) {
        if ((n->bms.configured != 0u) && (n->bms.contactor.state != BMS_CONTACTOR_OPEN)) {
            return error(n, BMS_PROTO_E_CONFIG_BUSY, (int32_t)n->bms.contactor.state);
        }
        if (m.value != size) {
            n->dl.active = 0u;
            return error(n, BMS_PROTO_E_CONFIG_SIZE, (int32_t)size);
        }
        /* from here on the configuration is being overwritten: unconfigured
         * until a COMMIT succeeds */
        n->bms.configured = 0u;
        n->config_hash = 0u;
        n->dl.active = 1u;
        n->dl.total = m.value;
        n->dl.crc = m.crc;
        n->dl.received = 0u;
    } else if (m.op == (uint32_t)BMS_PROTO_CFG_DATA) {
        if (n->dl.active == 0u) {
            return error(n, BMS_PROTO_E_CONFIG_SEQUENCE, (int32_t)n->dl.received);
        }
        if ((m.value > n->dl.received) || (m.data_len > (n->dl.total - m.value))) {
            return error(n, BMS_PROTO_E_CONFIG_SEQUENCE, (int32_t)n->dl.received);
        }
        for (uint32_t i = 0u; i < m.data_len; i++) {
            cfg[m.value + i] = p[m.data_offset + i];
        }
        if ((m.value + m.data_len) > n->dl.received) {
            n->dl.received = m.value + m.data_len;
        }
    } else {
        if (n->dl.active == 0u) {
            return error(n, BMS_PROTO_E_CONFIG_SEQUENCE, (int32_t)n->dl.received);
        }
        if (n->dl.received != n->dl.total) {
            return error(n, BMS_PROTO_E_CONFIG_SEQUENCE, (int32_t)n->dl.received);
        }
        n->dl.active = 0u;
        const uint32_t crc = bms_proto_crc32c(cfg, n->dl.total);
        if (crc != n->dl.crc) {
            return error(n, BMS_PROTO_E_CONFIG_CRC, (int32_t)crc);
        }
        const bms_cfg_err_t err = bms_config_check(&n->bms.cfg);
        if (err != BMS_CFG_OK) {
            return error(n, BMS_PROTO_E_CONFIG_REJECTED, (int32_t)err);
        }
        /* checked above: bms_init cannot refuse it; it initialises the
         * instance from its own configuration (no copy) */
        (void)bms_init(&n->bms, &n->bms.cfg);
        n->config_hash = crc;
    }
    const uint32_t rlen =
        bms_proto_put_config_reply(bms_proto_tx_payload(&n->proto), m.op, n->dl.received, n->config_hash);
    return reply(n, BMS_PROTO_MSG_CONFIG, rlen);
}

static uint32_t elapsed_ticks(const bms_hil_board_t *b, uint32_t t0, uint32_t t1)
{
    uint32_t d = (b->counter_down != 0u) ? (t0 - t1) : (t1 - t0);
    d &= b->counter_mask;
    return (d > b->counter_overhead) ? (d - b->counter_overhead) : 0u;
}

static uint32_t handle_step(bms_hil_node_t *n, const uint8_t *p, uint32_t len)
{
    if (n->bms.configured == 0u) { /* also during a download, which goes on */
        return error(n, BMS_PROTO_E_NOT_CONFIGURED, 0);
    }
    bms_hil_io_t *io = &n->io;
    bms_proto_step_t s;
    if (bms_proto_get_step(p, len, &s, &io->meas) != 0) {
        return error(n, BMS_PROTO_E_BAD_PAYLOAD, -1);
    }
    const bms_pack_params_t *pk = &n->bms.cfg.pack;
    if ((s.n_cells != pk->n_cells) || (s.n_sensors != pk->n_temp_sensors) || (s.n_pressure != pk->n_pressure_sensors)) {
        return error(n, BMS_PROTO_E_MEAS_SHAPE, (int32_t)((pk->n_cells << 16) | pk->n_temp_sensors));
    }
    if (s.command > (uint32_t)BMS_CMD_FAULT_RESET) {
        return error(n, BMS_PROTO_E_BAD_COMMAND, (int32_t)s.command);
    }
    int32_t cmd_result = 0;
    if (s.command != (uint32_t)BMS_CMD_NONE) {
        cmd_result = bms_command(&n->bms, (bms_command_t)s.command);
    }
    const bms_hil_board_t *b = &n->board;
    uint32_t t0 = 0u;
    uint32_t t1 = 0u;
    if (b->counter_now != 0) {
        t0 = b->counter_now();
    }
    const int32_t rc = bms_step(&n->bms, &io->meas, s.dt_ms, &io->out);
    if (b->counter_now != 0) {
        t1 = b->counter_now();
    }
    if (rc != BMS_OK) {
        return error(n, BMS_PROTO_E_STEP_FAILED, rc);
    }
    n->proto.stats.steps++;
    const uint32_t cycles = (b->counter_now != 0) ? elapsed_ticks(b, t0, t1) : 0u;
    const uint32_t flags = (b->counter_now != 0) ? (uint32_t)BMS_PROTO_STATE_CYCLES_VALID : 0u;
    const uint32_t slen = bms_proto_put_state(bms_proto_tx_payload(&n->proto), &n->bms, &io->out, s.n_cells,
                                              cycles, cmd_result, flags);
    return reply(n, BMS_PROTO_MSG_STATE, slen);
}

static uint32_t handle_command(bms_hil_node_t *n, const uint8_t *p, uint32_t len)
{
    if (len != (uint32_t)BMS_PROTO_COMMAND_LEN) {
        return error(n, BMS_PROTO_E_BAD_PAYLOAD, BMS_PROTO_COMMAND_LEN);
    }
    const uint32_t cmd = p[0];
    if ((cmd == (uint32_t)BMS_CMD_NONE) || (cmd > (uint32_t)BMS_CMD_FAULT_RESET)) {
        return error(n, BMS_PROTO_E_BAD_COMMAND, (int32_t)cmd);
    }
    if (n->bms.configured == 0u) {
        return error(n, BMS_PROTO_E_NOT_CONFIGURED, 0);
    }
    const int32_t result = bms_command(&n->bms, (bms_command_t)cmd);
    return reply(n, BMS_PROTO_MSG_COMMAND, bms_proto_put_command_reply(bms_proto_tx_payload(&n->proto), cmd, result));
}

static uint32_t handle_reset(bms_hil_node_t *n, const uint8_t *p, uint32_t len)
{
    if (len != (uint32_t)BMS_PROTO_RESET_LEN) {
        return error(n, BMS_PROTO_E_BAD_PAYLOAD, BMS_PROTO_RESET_LEN);
    }
    const uint32_t flags = p[0];
    if ((flags & (uint32_t)BMS_PROTO_RESET_FIRMWARE) != 0u) {
        if (n->bms.configured == 0u) {
            return error(n, BMS_PROTO_E_NOT_CONFIGURED, 0);
        }
        bms_reset(&n->bms);
    }
    if ((flags & (uint32_t)BMS_PROTO_RESET_STATS) != 0u) {
        bms_proto_clear_stats(&n->proto);
    }
    uint8_t *out = bms_proto_tx_payload(&n->proto);
    out[0] = (uint8_t)flags;
    out[1] = 0u;
    out[2] = 0u;
    out[3] = 0u;
    return reply(n, BMS_PROTO_MSG_RESET, BMS_PROTO_RESET_LEN);
}

static uint32_t dispatch(bms_hil_node_t *n)
{
    const bms_proto_header_t *h = &n->proto.hdr;
    const uint8_t *p = bms_proto_rx_payload(&n->proto);
    const uint32_t len = h->length;
    uint32_t out = 0u;
    switch (h->type) {
    case BMS_PROTO_MSG_HELLO:
        out = (len == 0u) ? reply(n, BMS_PROTO_MSG_HELLO, hello_payload(n)) : error(n, BMS_PROTO_E_BAD_PAYLOAD, 0);
        break;
    case BMS_PROTO_MSG_CONFIG:
        out = handle_config(n, p, len);
        break;
    case BMS_PROTO_MSG_STEP:
        out = handle_step(n, p, len);
        break;
    case BMS_PROTO_MSG_COMMAND:
        out = handle_command(n, p, len);
        break;
    case BMS_PROTO_MSG_RESET:
        out = handle_reset(n, p, len);
        break;
    case BMS_PROTO_MSG_STATS:
        if (len != 0u) {
            out = error(n, BMS_PROTO_E_BAD_PAYLOAD, 0);
        } else {
            if (n->board.stack_free != 0) {
                n->proto.stats.stack_free = n->board.stack_free();
            }
            out = reply(n, BMS_PROTO_MSG_STATS, bms_proto_put_stats(bms_proto_tx_payload(&n->proto), &n->proto.stats));
        }
        break;
    default:
        out = error(n, BMS_PROTO_E_UNKNOWN_TYPE, (int32_t)h->type); /* not reached: the codec filters */
        break;
    }
    return out;
}

uint32_t bms_hil_feed(bms_hil_node_t *n, const uint8_t *in, uint32_t len, uint32_t *used)
{
    for (uint32_t i = 0u; i < len; i++) {
        const int32_t r = bms_proto_rx_byte(&n->proto, in[i]);
        if (r == BMS_PROTO_RX_FRAME) {
            *used = i + 1u;
            return dispatch(n);
        }
        if (r == BMS_PROTO_RX_REJECT) {
            *used = i + 1u;
            const int32_t detail = (n->proto.reject_code == (uint32_t)BMS_PROTO_E_BAD_VERSION)
                                       ? (int32_t)BMS_PROTO_VERSION
                                       : (int32_t)n->proto.hdr.type;
            return error(n, n->proto.reject_code, detail);
        }
    }
    *used = len;
    return 0u;
}
