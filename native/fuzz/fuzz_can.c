/*
 * libFuzzer target for the CAN layer (`make fuzz-can`): arbitrary frames into
 * bms_canl_rx, arbitrary time steps into bms_canl_inputs, and arbitrary firmware
 * outputs (any float bit pattern: NaN, inf, huge) into bms_canl_tx, under
 * AddressSanitizer and UndefinedBehaviorSanitizer (float-to-integer casts included).
 *
 * Input: byte 0 = the pack's cell count (0..255, beyond BMS_MAX_CELLS on purpose), then
 * records of 14 bytes: id (2, masked to 11 bits), length (1, any value), data (8),
 * dt_ms (2), out-perturbation (1: which bms_out_t float gets the next 4 input bytes).
 *
 * Checked: every result is one of the documented codes; refusals are counted exactly;
 * the charger limit and the vehicle's fast-charge announcement handed to the firmware are NaN
 * or a value within the DBC's range;
 * every sent frame has an identifier of a BMS message and its DBC length.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bms/can_layer.h"
#include "bms_can.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bms_canl_t layer;
static bms_config_t cfg;
static bms_meas_t meas;
static bms_out_t out;

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

static float *out_float(uint8_t which)
{
    float *fields[] = {&out.ccl_a, &out.dcl_a, &out.soc_pack, &out.soc_min, &out.soc_max, &out.cell_v_max,
                       &out.cell_v_min, &out.temp_max_degc, &out.temp_min_degc, &out.core_temp_min_degc,
                       &out.core_temp_max_degc, &out.model_nis_max,
                       &out.sop_chg_a[1], &out.sop_dis_a[1], &out.sop_chg_w[1], &out.sop_dis_w[1],
                       &out.pressure_min_mpa, &out.pressure_max_mpa,
                       &meas.pack_v, &meas.pack_current_a,
                       &cfg.charge.cell_v_charge_max_v};
    return fields[which % (sizeof(fields) / sizeof(fields[0]))];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u) {
        return 0;
    }
    memset(&cfg, 0, sizeof(cfg));
    memset(&meas, 0, sizeof(meas));
    memset(&out, 0, sizeof(out));
    cfg.pack.n_cells = data[0];
    cfg.charge.cell_v_charge_max_v = 4.2f;
    bms_canl_cfg_t lc;
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_RX; k++) {
        lc.rx_timeout_ms[k] = 500u;
    }
    for (uint32_t k = 0u; k < (uint32_t)BMS_CANL_N_TX; k++) {
        lc.tx_cycle_ms[k] = 100u * (k + 1u);
    }
    check(bms_canl_init(&layer, &lc) == BMS_CANL_OK);
    size_t at = 1u;
    while (at + 14u <= size) {
        const uint8_t *r = &data[at];
        at += 14u;
        bms_canl_frame_t f;
        f.id = ((uint32_t)r[0] | ((uint32_t)r[1] << 8)) & 0x7FFu;
        f.len = r[2];
        memcpy(f.data, &r[3], 8u);
        const uint32_t refused_before = bms_canl_refused_total(&layer);
        const int32_t rc = bms_canl_rx(&layer, &f);
        check((rc == BMS_CANL_RX_OK) || (rc == BMS_CANL_RX_NOT_OURS) || (rc == BMS_CANL_RX_E_LENGTH) || (rc == BMS_CANL_RX_E_CHECKSUM)
              || (rc == BMS_CANL_RX_E_COUNTER) || (rc == BMS_CANL_RX_E_RANGE));
        check(bms_canl_refused_total(&layer) == refused_before + ((rc < 0) ? 1u : 0u));
        uint32_t cmds[BMS_CANL_MAX_COMMANDS];
        const uint32_t dt = (uint32_t)r[11] | ((uint32_t)r[12] << 8);
        const uint32_t n = bms_canl_inputs(&layer, dt, &meas, cmds);
        check(n <= BMS_CANL_MAX_COMMANDS);
        check(isnan(meas.charger_max_a) || ((meas.charger_max_a >= 0.0f) && (meas.charger_max_a <= 6000.0f)));
        check(isnan(meas.fast_charge_in_s) || ((meas.fast_charge_in_s >= 0.0f) && (meas.fast_charge_in_s <= 2540.0f)));
        float *target = out_float(r[13]);
        if (at + 4u <= size) {
            memcpy(target, &data[at], sizeof(float));
            at += 4u;
        }
        bms_canl_frame_t tx[BMS_CANL_N_TX];
        const uint32_t m = bms_canl_tx(&layer, &cfg, &meas, &out, tx, BMS_CANL_N_TX);
        check(m <= (uint32_t)BMS_CANL_N_TX);
        for (uint32_t i = 0u; i < m; i++) {
            check((tx[i].id >= BMS_CAN_BMS_PACK_STATUS_FRAME_ID) && (tx[i].id <= BMS_CAN_BMS_PRESSURE_FRAME_ID));
            check((tx[i].len > 0u) && (tx[i].len <= 8u));
        }
    }
    return 0;
}
