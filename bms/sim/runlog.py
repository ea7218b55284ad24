"""The run log: what the closed loop keeps of every step (LOG_FIELDS, the columns of
`log.csv`) and the firmware State fields among them (STATE_FIELDS)."""

from __future__ import annotations

from operator import attrgetter

import numpy as np

from bms.enums import COMMANDS, CommandResult
from bms.targets.base import State

# the state of power's columns (sop.h): the charge / discharge current per horizon, the 10 s powers
SOP_LOG = (
    "sop_chg_2s_a",
    "sop_chg_10s_a",
    "sop_chg_30s_a",
    "sop_dis_2s_a",
    "sop_dis_10s_a",
    "sop_dis_30s_a",
    "sop_chg_10s_w",
    "sop_dis_10s_w",
)
LOG_FIELDS = (
    "time_s",
    "soc_true_min",
    "soc_true_max",
    "soc_true_mean",
    "soc_est_min",
    "soc_est_max",
    "soc_est_pack",
    "soc_est_mean",
    "cell_v_true_min",
    "cell_v_true_max",
    "core_temp_true_max_c",
    "core_temp_est_max_c",
    "surface_temp_true_max_c",
    "coolant_c",
    "current_a",
    "ccl_a",
    "dcl_a",
    "ccl_limit",
    "contactor_state",
    "faults",
    "warnings",
    "heater_on",
    "cooling_on",
    "charge_complete",
    "cell_v_meas_max",  # the firmware's view (valid readings), for the safety checks
    "cell_v_meas_min",
    "temp_meas_min_c",
    "temp_meas_max_c",
    "charger_max_a",
    "dcl_limit",
    "model_nis_max",  # the SoC filter's innovation monitor: worst cell, and cells flagged
    "model_mismatch_cells",
    "cap_scale_min",  # state of health: the weakest cell's capacity and resistance scales
    "r_scale_max",
    "soh_updates",  # capacity updates since power-up (high 16 bits), resistance updates (low 16)
    *SOP_LOG,
    "resets",  # fault resets commanded so far
    "n_injected",  # faults injected so far
    "commands",  # the contactor requests sent before this step: bit 1 close, 2 open, 3 reset
    # ... and, in the order sent, each with the firmware's answer: one hex digit per request
    # (command_answer), the first lowest, at most ANSWERS_MAX of them
    "command_answers",
    "bus_v",  # the link (DC bus) voltage the firmware got: its precharge criterion
    "pack_v_meas",  # the pack voltage the firmware got
    "bal_cells",  # balancing switches commanded on for the next step
    "bal_test",  # 1: the next conversion is a balancing-switch test
    "fw_time_ms",  # the firmware's own clock (State.time_ms): what it timestamps latches with
    "fw_status",  # the firmware's status bits (State.status, BMS_ST_*: e.g. preconditioning)
    "derates",  # the derate tiers active (State.derates, bit = quantity; warnings: `warnings`)
    "relays",  # the contactor coils driven (State.relays, RELAY_BITS; NaN: not reported)
    "contactor_counts",  # State.contactor_counts (breaks << 16 | refused << 8 | illegal; NaN: none)
    # a pressed solid-state pack (bms.plant.pressure): the lowest true module stack pressure and
    # the lowest reading the firmware got (MPa; NaN: the pack is not pressed)
    "pressure_true_min_mpa",
    "pressure_meas_min_mpa",
    "pressure_fw_min_mpa",  # the lowest / highest reading the firmware took as usable (its State)
    "pressure_fw_max_mpa",
)
# the `commands` column: one bit per request sent, at the firmware's command code
COMMAND_BITS = {name: 1 << int(code) for name, code in COMMANDS.items()}
# the `command_answers` column: per request a digit (code << 2) | answer, answer 0 accepted,
# 1 illegal in that state, 2 refused (a fault latched), 3 not known (a target whose command()
# does not return the firmware's answer: Target.answers_commands); exact in a float64 log
ANSWER_OF_RC = {
    int(CommandResult.ACCEPTED): 0,
    int(CommandResult.ILLEGAL): 1,
    int(CommandResult.REFUSED): 2,
}
ANSWER_UNKNOWN = 3
ANSWERS_MAX = 13


def command_answer(cmd: str, rc: int | None) -> int:
    """One request's digit of the `command_answers` column (rc None: not known)."""
    answer = ANSWER_UNKNOWN if rc is None else ANSWER_OF_RC.get(rc, ANSWER_UNKNOWN)
    return (int(COMMANDS[cmd]) << 2) | answer


def command_answers(packed: int) -> list[tuple[int, int]]:
    """The (command code, answer) pairs of one step's `command_answers`, in the order sent."""
    out = []
    while packed:
        out.append((packed >> 2 & 3, packed & 3))
        packed >>= 4
    return out


# log fields that are the firmware's State of the step: log name -> State attribute
STATE_FIELDS = {
    "soc_est_min": "soc_min",
    "soc_est_max": "soc_max",
    "soc_est_pack": "soc_pack",
    "soc_est_mean": "soc_mean",
    "core_temp_est_max_c": "core_temp_max_degc",
    "ccl_limit": "ccl_limit",
    "contactor_state": "contactor_state",
    "faults": "faults",
    "warnings": "warnings",
    "heater_on": "heater_request",
    "cooling_on": "cooling_request",
    "charge_complete": "charge_complete",
    "cell_v_meas_max": "cell_v_max",
    "cell_v_meas_min": "cell_v_min",
    "temp_meas_min_c": "temp_min_degc",
    "temp_meas_max_c": "temp_max_degc",
    "dcl_limit": "dcl_limit",
    "model_nis_max": "model_nis_max",
    "model_mismatch_cells": "model_mismatch_cells",
    "cap_scale_min": "cap_scale_min",
    "r_scale_max": "r_scale_max",
    "soh_updates": "soh_updates",
    "bal_cells": "bal_cells",
    "bal_test": "bal_test",
    "fw_time_ms": "time_ms",
    "fw_status": "status",
    "derates": "derates",
    "relays": "relays",
    "contactor_counts": "contactor_counts",
    "pressure_fw_min_mpa": "pressure_min_mpa",
    "pressure_fw_max_mpa": "pressure_max_mpa",
    **{name: name for name in SOP_LOG},
}
# log fields the loop itself knows of a step (ccl_a, dcl_a: the limits it obeys), in RunLog.loop's order
LOOP_FIELDS = (
    "current_a",
    "ccl_a",
    "dcl_a",
    "charger_max_a",
    "resets",
    "n_injected",
    "commands",
    "command_answers",
    "bus_v",
    "pack_v_meas",
)
LoopValues = tuple[float, float, float, float, int, int, int, int, float, float]


class RunLog:
    """Everything the loop keeps of each step, kept cheap per step: the firmware's State
    values as one tuple appended to a list, the per-cell arrays as one row each; the log
    arrays are assembled when a result is asked for (the same numbers, at the same float32 /
    float64 precision, as writing each field of each step into its own array)."""

    def __init__(self, n_steps: int, series: int, bal_mode: str = "off", n_modules: int = 0) -> None:
        self.series = series
        self._state_values = attrgetter(*STATE_FIELDS.values())
        self.states: list[tuple[float, ...]] = []
        self.loop: list[LoopValues] = []
        self.est_soc = np.zeros((n_steps, series), dtype=np.float32)
        self.est_core = np.zeros((n_steps, series), dtype=np.float32)
        self.true_soc = np.zeros((n_steps, series))
        self.true_temps = np.zeros((n_steps, 2 * series + 1))  # the thermal network: cores, surfaces, coolant
        self.true_v = np.zeros((n_steps, series), dtype=np.float32)
        self.bal_mask = np.zeros((n_steps, series), dtype=bool)  # balancing switches commanded
        # the cell with the least charge by the firmware's own estimates (its SoC and capacity
        # scales): the one balancing must never bleed; -1 where balancing is off or the target
        # reports no capacity scales (a wire)
        self.bal_mode = bal_mode
        self.bal_ref = np.full(n_steps, -1, dtype=np.int32)
        # a pressed pack's modules (append_pressure): true pressure and contact per module, the
        # lowest reading; no columns (and NaN readings) when the pack is not pressed
        self.true_pressure = np.zeros((n_steps, n_modules))
        self.contact = np.zeros((n_steps, n_modules))
        self.pressure_meas_min = np.full(n_steps, np.nan)

    def append(
        self,
        k: int,
        state: State,
        loop: LoopValues,
        true_soc: np.ndarray,
        true_temps: np.ndarray,
        true_v: np.ndarray,
    ) -> None:
        self.states.append(self._state_values(state))
        self.loop.append(loop)
        self.est_soc[k] = state.soc
        self.est_core[k] = state.core_temp_degc
        self.true_soc[k] = true_soc
        self.true_temps[k] = true_temps
        self.true_v[k] = true_v
        if state.bal_mask is not None and state.bal_cells:
            self.bal_mask[k] = state.bal_mask
        if self.bal_mode != "off" and state.cap_scale is not None:
            soc = state.soc.astype(float)
            charge = (1.0 - soc if self.bal_mode == "top" else -soc) * state.cap_scale  # larger: less
            self.bal_ref[k] = int(np.argmax(charge))

    def append_pressure(self, k: int, p_true: np.ndarray, contact: np.ndarray, p_meas: np.ndarray) -> None:
        """Step k's module pressures (true, MPa), contact fractions and the readings the
        firmware got."""
        self.true_pressure[k] = p_true
        self.contact[k] = contact
        if len(p_meas):
            self.pressure_meas_min[k] = float(np.min(p_meas))

    def arrays(self, n: int, dt_s: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The log of the first n steps (LOG_FIELDS) and the per-cell arrays."""
        s = self.series
        states = np.array(self.states[:n], dtype=float).reshape(n, len(STATE_FIELDS)).T
        loop = np.array(self.loop[:n], dtype=float).reshape(n, len(LOOP_FIELDS)).T
        temps = self.true_temps[:n]
        cells = {
            "true_soc": self.true_soc[:n],
            "est_soc": self.est_soc[:n],
            "true_core": temps[:, :s],
            "true_surf": temps[:, s : 2 * s],
            "est_core": self.est_core[:n],
            "bal_mask": self.bal_mask[:n],
            "true_v": self.true_v[:n],
            "pressure_true": self.true_pressure[:n],
            "pressure_contact": self.contact[:n],
        }
        true_v = self.true_v[:n]
        true_surf = temps[:, s : 2 * s].astype(np.float32)
        cols = {name: np.ascontiguousarray(states[j]) for j, name in enumerate(STATE_FIELDS)}
        cols.update({name: np.ascontiguousarray(loop[j]) for j, name in enumerate(LOOP_FIELDS)})
        for flag in ("heater_on", "cooling_on"):
            cols[flag] = (cols[flag] != 0).astype(float)
        cols["time_s"] = np.arange(1, n + 1) * dt_s
        cols["coolant_c"] = temps[:, -1].copy()
        cols["soc_true_min"] = cells["true_soc"].min(axis=1)
        cols["soc_true_max"] = cells["true_soc"].max(axis=1)
        cols["soc_true_mean"] = cells["true_soc"].mean(axis=1)
        cols["cell_v_true_min"] = true_v.min(axis=1).astype(float)
        cols["cell_v_true_max"] = true_v.max(axis=1).astype(float)
        cols["core_temp_true_max_c"] = cells["true_core"].max(axis=1)
        cols["surface_temp_true_max_c"] = true_surf.max(axis=1).astype(float)
        cols["bal_ref"] = self.bal_ref[:n]
        pressed = self.true_pressure.shape[1] > 0
        cols["pressure_true_min_mpa"] = self.true_pressure[:n].min(axis=1) if pressed else np.full(n, np.nan)
        cols["pressure_meas_min_mpa"] = self.pressure_meas_min[:n].copy()
        return {name: cols[name] for name in (*LOG_FIELDS, "bal_ref")}, cells
