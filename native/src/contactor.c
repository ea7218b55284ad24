/* Contactor / precharge state machine (see contactor.h for the diagram). */
#include "bms/contactor.h"
#include "bms/bms_math.h"

void bms_contactor_reset(bms_contactor_t *c)
{
    c->state = BMS_CONTACTOR_OPEN;
    c->state_ms = 0u;
    c->illegal_cmds = 0u;
    c->refused_cmds = 0u;
    c->breaks_under_load = 0u;
    c->precharge_failed = 0u;
}

static void enter(bms_contactor_t *c, bms_contactor_state_t s)
{
    c->state = s;
    c->state_ms = 0u;
}

int32_t bms_contactor_command(bms_contactor_t *c, bms_command_t cmd, uint32_t faults_latched)
{
    int32_t rc = BMS_CMD_R_ILLEGAL;
    switch (cmd) {
    case BMS_CMD_CLOSE:
        if (c->state == BMS_CONTACTOR_OPEN) {
            if (faults_latched != 0u) {
                rc = BMS_CMD_R_REFUSED;
            } else {
                c->precharge_failed = 0u;
                enter(c, BMS_CONTACTOR_PRECHARGE);
                rc = BMS_CMD_R_ACCEPTED;
            }
        }
        break;
    case BMS_CMD_OPEN:
        if (c->state == BMS_CONTACTOR_PRECHARGE) {
            enter(c, BMS_CONTACTOR_OPEN);
            rc = BMS_CMD_R_ACCEPTED;
        } else if (c->state == BMS_CONTACTOR_CLOSED) {
            enter(c, BMS_CONTACTOR_OPENING);
            rc = BMS_CMD_R_ACCEPTED;
        } else {
            /* already open or opening */
        }
        break;
    case BMS_CMD_FAULT_RESET:
        if (c->state == BMS_CONTACTOR_OPEN) {
            c->precharge_failed = 0u;
            rc = BMS_CMD_R_ACCEPTED;
        }
        break;
    case BMS_CMD_NONE:
    default:
        break;
    }
    if (rc == BMS_CMD_R_ILLEGAL) {
        c->illegal_cmds++;
    } else if (rc == BMS_CMD_R_REFUSED) {
        c->refused_cmds++;
    } else {
        /* accepted */
    }
    return rc;
}

void bms_contactor_step(bms_contactor_t *c, const bms_contactor_params_t *p, uint32_t dt_ms, float pack_v,
                        float bus_v, float current_a, uint32_t faults_latched)
{
    c->state_ms = (c->state_ms > (0xFFFFFFFFu - dt_ms)) ? 0xFFFFFFFFu : (c->state_ms + dt_ms);
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    const int32_t emergency = ((faults_latched & p->emergency_mask) != 0u) ? 1 : 0;
    switch (c->state) {
    case BMS_CONTACTOR_PRECHARGE:
        if (faults_latched != 0u) {
            enter(c, BMS_CONTACTOR_OPEN);
        } else if ((bms_isfinitef(pack_v) != 0) && (bms_isfinitef(bus_v) != 0) && (pack_v > 0.0f)
                   && (bus_v >= (p->precharge_ratio * pack_v))) {
            enter(c, BMS_CONTACTOR_CLOSED);
        } else if (c->state_ms >= p->precharge_timeout_ms) {
            c->precharge_failed = 1u;
            enter(c, BMS_CONTACTOR_OPEN);
        } else {
            /* charging the link capacitor */
        }
        break;
    case BMS_CONTACTOR_CLOSED:
        if (emergency != 0) {
            if (!(abs_i < p->break_current_a)) {
                c->breaks_under_load++;
            }
            enter(c, BMS_CONTACTOR_OPEN);
        } else if (faults_latched != 0u) {
            enter(c, BMS_CONTACTOR_OPENING);
        } else {
            /* closed */
        }
        break;
    case BMS_CONTACTOR_OPENING:
        if (abs_i < p->break_current_a) {
            enter(c, BMS_CONTACTOR_OPEN);
        } else if ((emergency != 0) || (c->state_ms >= p->opening_timeout_ms)) {
            c->breaks_under_load++;
            enter(c, BMS_CONTACTOR_OPEN);
        } else {
            /* waiting for the current to fall */
        }
        break;
    case BMS_CONTACTOR_OPEN:
    default:
        break;
    }
}

bms_contactor_relays_t bms_contactor_relays(bms_contactor_state_t s)
{
    bms_contactor_relays_t r;
    r.main_neg = (s != BMS_CONTACTOR_OPEN) ? 1u : 0u;
    r.precharge = (s == BMS_CONTACTOR_PRECHARGE) ? 1u : 0u;
    r.main_pos = ((s == BMS_CONTACTOR_CLOSED) || (s == BMS_CONTACTOR_OPENING)) ? 1u : 0u;
    return r;
}
