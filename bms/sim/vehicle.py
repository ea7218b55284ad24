"""The vehicle around the pack: its contactor requests, the drive's power trace, the
current it draws (within the firmware's limits) and the link capacitor behind the
contactors (precharge RC, discharge resistor)."""

from __future__ import annotations

import math

import numpy as np

from bms.enums import FAULT_ID, ContactorState
from bms.sim.scenario import Scenario
from bms.targets.base import State

CLOSED, OPENING, OPEN = ContactorState.CLOSED, ContactorState.OPENING, ContactorState.OPEN
PRECHARGE = ContactorState.PRECHARGE
PRECHARGE_TAU_S = 0.05  # the link capacitor through the precharge resistor
DISCHARGE_TAU_S = 1.0  # the link capacitor through the discharge resistor


# A precharge that fails is tried again, PRECHARGE_ATTEMPTS in all, then the vehicle gives up
# (and would set a trouble code). An assumption, as VCUs do: a failed precharge may be a slow
# link (a cold capacitor, a weak resistor), and each attempt heats the precharge resistor, so
# the attempts are few.
PRECHARGE_ATTEMPTS = 3
PRECHARGE_FAULT = 1 << FAULT_ID["precharge"]


def vehicle_request(
    scn: Scenario,
    state: State,
    t_s: float,
    contactor: int,
    closed_once: bool,
    closes: int,
    was_closed: bool,
    retrying: bool,
    current_prev_a: float,
) -> str | None:
    """What the vehicle asks the firmware before a step, from its last state (closed_once: a
    close was requested, by it or a test; closes: the close requests it sent itself;
    was_closed: the contactors have been CLOSED; retrying: its last request acknowledged a
    failed precharge): "close" once (at close_at_s, contactors open, no fault); after a failed
    precharge (the contactors open, never closed, the precharge fault the only one latched) a
    fault reset that acknowledges it, and once the fault is gone a close, while attempts are
    left (PRECHARGE_ATTEMPTS); "open" when the charge is complete and the current has
    stopped; else None."""
    if not closed_once and t_s >= scn.close_at_s and contactor == OPEN and state.faults == 0:
        return "close"
    if 0 < closes < PRECHARGE_ATTEMPTS and not was_closed and contactor == OPEN:
        if int(state.faults) == PRECHARGE_FAULT:
            return "reset"
        if retrying and state.faults == 0:
            return "close"
    if (
        scn.stop_when_complete
        and state.charge_complete
        and contactor == CLOSED
        and abs(current_prev_a) < 1.0
        and (scn.mode == "charge" or t_s > scn.drive_s)
    ):
        return "open"
    return None


def drive_current_a(power_w: float, pack_v: float, ccl_a: float, dcl_a: float, circuit: bool) -> float:
    """The drive's current (> 0 discharge) for its power demand, within the firmware's limits;
    0 with the circuit open."""
    i_dem = power_w / max(pack_v, 1.0)
    i_mean = min(i_dem, dcl_a) if i_dem > 0 else max(i_dem, -ccl_a)
    return i_mean if circuit else 0.0


def bus_voltage(
    bus_v: float,
    pack_v: float,
    contactor: int,
    fw_contactor_state: int | None,
    dt_s: float,
    precharge_path: bool = True,
) -> float:
    """The link voltage after a step: the pack's with the contactors closed (or opening),
    charging through the precharge resistor while the firmware precharges (where the path is
    not open: precharge_path), else decaying through the discharge resistor."""
    if contactor in (CLOSED, OPENING):
        return pack_v
    if fw_contactor_state == PRECHARGE and precharge_path:
        return pack_v + (bus_v - pack_v) * math.exp(-dt_s / PRECHARGE_TAU_S)
    return bus_v * math.exp(-dt_s / DISCHARGE_TAU_S)


def drive_power_w(t_s: np.ndarray, mean_kw: float, peak_kw: float, seed: int) -> np.ndarray:
    """A WLTC-like battery power trace: accelerations, cruising, regen, stops (seeded)."""
    rng = np.random.default_rng(seed + 7919)
    p = np.zeros_like(t_s)
    k = 0
    while k < len(t_s):
        n = int(rng.integers(20, 120))
        kind = rng.choice(["stop", "cruise", "accel", "regen"], p=[0.15, 0.45, 0.25, 0.15])
        level = {
            "stop": 0.02,
            "cruise": rng.uniform(0.5, 1.5),
            "accel": rng.uniform(1.5, 5.0),
            "regen": -rng.uniform(0.3, 1.5),
        }[kind]
        p[k : k + n] = level * mean_kw * 1e3
        k += n
    return np.clip(p, -0.5 * peak_kw * 1e3, peak_kw * 1e3)
