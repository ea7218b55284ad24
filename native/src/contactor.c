/* Contactor / precharge state machine (see contactor.h for the diagram). */
#include "bms/contactor.h"
#include "bms/bms_math.h"

void contactor_reset(contactor_t *c)
{
    c->state = CONTACTOR_OPEN;
    c->state_ms = 0u;
    c->illegal_cmds = 0u;
    c->refused_cmds = 0u;
    c->breaks_under_load = 0u;
    c->precharge_failed = 0u;
}

static void enter(contactor_t *c, contactor_state_t s)
{
    c->state = s;
    c->state_ms = 0u;
}

int32_t contactor_command(contactor_t *c, bms_command_t cmd, uint32_t faults_latched)
{
    int32_t rc = CMD_ILLEGAL;
    switch (cmd) {
    case BMS_CMD_CLOSE:
        if (c->state == CONTACTOR_OPEN) {
            if (faults_latched != 0u) {
                rc = CMD_REFUSED;
            } else {
                c->precharge_failed = 0u;
                enter(c, CONTACTOR_PRECHARGE);
                rc = CMD_ACCEPTED;
            }
        }
        break;
    case BMS_CMD_OPEN:
        if (c->state == CONTACTOR_PRECHARGE) {
            enter(c, CONTACTOR_OPEN);
            rc = CMD_ACCEPTED;
        } else if (c->state == CONTACTOR_CLOSED) {
            enter(c, CONTACTOR_OPENING);
            rc = CMD_ACCEPTED;
        } else {
            /* already open or opening */
        }
        break;
    case BMS_CMD_FAULT_RESET:
        if (c->state == CONTACTOR_OPEN) {
            c->precharge_failed = 0u;
            rc = CMD_ACCEPTED;
        }
        break;
    case BMS_CMD_NONE:
    default:
        break;
    }
    if (rc == CMD_ILLEGAL) {
        c->illegal_cmds++;
    } else if (rc == CMD_REFUSED) {
        c->refused_cmds++;
    } else {
        /* accepted */
    }
    return rc;
}

void contactor_step(contactor_t *c, const bms_contactor_params_t *p, uint32_t dt_ms, float pack_v,
                    float bus_v, float current_a, uint32_t faults_latched)
{
    c->state_ms = (c->state_ms > (0xFFFFFFFFu - dt_ms)) ? 0xFFFFFFFFu : (c->state_ms + dt_ms);
    const float abs_i = (current_a < 0.0f) ? -current_a : current_a;
    const int32_t emergency = ((faults_latched & p->emergency_mask) != 0u) ? 1 : 0;
    switch (c->state) {
    case CONTACTOR_PRECHARGE:
        if (faults_latched != 0u) {
            enter(c, CONTACTOR_OPEN);
        } else if ((bms_isfinitef(pack_v) != 0) && (bms_isfinitef(bus_v) != 0) && (pack_v > 0.0f)
                   && (bus_v >= (p->precharge_ratio * pack_v))) {
            enter(c, CONTACTOR_CLOSED);
        } else if (c->state_ms >= p->precharge_timeout_ms) {
            c->precharge_failed = 1u;
            enter(c, CONTACTOR_OPEN);
        } else {
            /* charging the link capacitor */
        }
        break;
    case CONTACTOR_CLOSED:
        if (emergency != 0) {
            if (!(abs_i < p->break_current_a)) {
                c->breaks_under_load++;
            }
            enter(c, CONTACTOR_OPEN);
        } else if (faults_latched != 0u) {
            enter(c, CONTACTOR_OPENING);
        } else {
            /* closed */
        }
        break;
    case CONTACTOR_OPENING:
        if (abs_i < p->break_current_a) {
            enter(c, CONTACTOR_OPEN);
        } else if ((emergency != 0) || (c->state_ms >= p->opening_timeout_ms)) {
            c->breaks_under_load++;
            enter(c, CONTACTOR_OPEN);
        } else {
            /* waiting for the current to fall */
        }
        break;
    case CONTACTOR_OPEN:
    default:
        break;
    }
}

contactor_relays_t contactor_relays(contactor_state_t s)
{
    contactor_relays_t r;
    r.main_neg = (s != CONTACTOR_OPEN) ? 1u : 0u;
    r.precharge = (s == CONTACTOR_PRECHARGE) ? 1u : 0u;
    r.main_pos = ((s == CONTACTOR_CLOSED) || (s == CONTACTOR_OPENING)) ? 1u : 0u;
    return r;
}
