"""The one interface every firmware target implements: in-process (cffi, bms.firmware),
serial over any pyserial URL, QEMU, CAN (hil). The closed-loop simulator and the tests only
talk to this."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from bms.errors import BmsError

NAN = float("nan")

# state of power (native/include/bms/sop.h): the horizons (s) and the State fields, per
# horizon the charge and discharge current (A) and power (W), in the STATE frame's order
SOP_HORIZONS_S = (2, 10, 30)
SOP_FIELDS = tuple(
    f"sop_{d}_{h}s_{u}"
    for h in SOP_HORIZONS_S
    for d, u in (("chg", "a"), ("dis", "a"), ("chg", "w"), ("dis", "w"))
)


def sop_slot(name: str) -> tuple[str, int]:
    """A SOP_FIELDS name as its bms_out_t array and index: 'sop_chg_10s_a' -> ('sop_chg_a', 1)."""
    _, d, h, u = name.split("_")
    return f"sop_{d}_{u}", SOP_HORIZONS_S.index(int(h.removesuffix("s")))


@dataclass
class Measurement:
    """One sample as the firmware sees it (units in the names; current > 0 discharge)."""

    current_a: float
    cell_v: np.ndarray
    temp_degc: np.ndarray
    ambient_degc: float = NAN
    pack_v: float = NAN
    bus_v: float = NAN
    charger_max_a: float = NAN
    coolant_flow_lpm: float = NAN
    sample_time_ms: int = 0
    comm_lost: int = 0  # bus partners past their message timeout (CAN_PARTNER_* bits; CAN target)
    # the vehicle announces a fast charge: seconds until it starts (0: now, and through it);
    # NaN: none (the firmware heats to its preconditioning window while one is announced)
    fast_charge_in_s: float = NAN
    # stack pressure per module (MPa; bms.stack_pressure): one load cell per module's fixture;
    # empty: the pack has none (Li-ion cells)
    pressure_mpa: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class State:
    """What the firmware reports after a step (bms_out_t, less the per-cell diagnostics)."""

    soc: np.ndarray
    core_temp_degc: np.ndarray
    soc_min: float
    soc_max: float
    soc_mean: float
    soc_pack: float
    core_temp_max_degc: float
    cell_v_max: float
    cell_v_min: float
    temp_min_degc: float
    temp_max_degc: float
    ccl_a: float
    dcl_a: float
    ccl_limit: int
    dcl_limit: int
    faults: int
    warnings: int
    derates: int
    contactor_state: int
    charge_complete: int
    heater_request: int
    cooling_request: int
    status: int
    time_ms: int
    cycles: int = 0  # cost of the step on the target (0 where not measured)
    # the contactor coils the firmware drives (bms_out_t.relays: RELAY_BITS), where the target
    # reports them (None: the wire's STATE frame does not carry them)
    relays: int | None = None
    # the contactor's counters since power-up (bms_out_t.contactor_counts, each saturating):
    # breaks under load << 16 | refused requests << 8 | illegal requests (None: not reported)
    contactor_counts: int | None = None
    # the SoC filter's innovation monitor (soc_ekf.h): the worst cell's ratio (1: the model
    # explains the voltage as well as it claims) and how many cells are over est.mismatch_nis
    model_nis_max: float = 0.0
    model_mismatch_cells: int = 0
    # state of health (soh.h): the weakest cells' capacity and resistance against the model,
    # their relative 1-sigma, the updates so far (capacity << 16 | resistance); the per-cell
    # scales where the target gives them (in process; a wire carries the extremes only)
    cap_scale_min: float = 1.0
    cap_scale_min_cell: int = 0
    cap_sigma: float = 0.0
    r_scale_max: float = 1.0
    r_scale_max_cell: int = 0
    r_sigma: float = 0.0
    soh_updates: int = 0
    cap_scale: np.ndarray | None = None
    r_scale: np.ndarray | None = None
    # balancing (balancing.h): the switches commanded for the coming interval (bool per
    # cell; None: the target reports none), how many, and whether the coming conversion
    # is a switch test (taken with discharge permitted)
    bal_mask: np.ndarray | None = None
    bal_cells: int = 0
    bal_test: int = 0
    # stack pressure (solid-state packs): the lowest and highest usable module reading (MPa;
    # NaN: none, or the pack has no pressure sensor) and the module of the lowest
    pressure_min_mpa: float = NAN
    pressure_max_mpa: float = NAN
    pressure_min_sensor: int = 0
    # state of power (sop.h): the largest constant current for 2, 10, 30 s, charge and
    # discharge (A, >= 0), and that current times the pack voltage at the horizon's end (W)
    sop_chg_2s_a: float = 0.0
    sop_dis_2s_a: float = 0.0
    sop_chg_2s_w: float = 0.0
    sop_dis_2s_w: float = 0.0
    sop_chg_10s_a: float = 0.0
    sop_dis_10s_a: float = 0.0
    sop_chg_10s_w: float = 0.0
    sop_dis_10s_w: float = 0.0
    sop_chg_30s_a: float = 0.0
    sop_dis_30s_a: float = 0.0
    sop_chg_30s_w: float = 0.0
    sop_dis_30s_w: float = 0.0
    # (CCL, DCL) as the partners received them over a bus, where the target has one (can:):
    # the charger and the drive obey these; ccl_a / dcl_a stay the firmware's own values
    limits_bus: tuple[float, float] | None = None
    extra: dict[str, float] = field(default_factory=dict)


# State.relays: one bit per contactor coil
RELAY_BITS = {"main_neg": 1, "precharge": 2, "main_pos": 4}


@dataclass
class TargetInfo:
    name: str
    fw_version: str
    build_hash: str  # hash of the firmware sources it was built from (native/tools/source_hash.py)
    config_hash: str  # CRC-32C of the bms_config_t bytes in use
    max_cells: int
    board: str = "host"
    cycle_unit: str = ""  # what State.cycles counts: "instructions", "cycles" or "" (not measured)


class TargetError(BmsError, RuntimeError):
    """The target did not answer, answered garbage, or refused (a RuntimeError too, as it
    has always been for callers that catch that)."""


class Target(ABC):
    """A firmware instance somewhere. configure() before step()."""

    name = "target"
    # the resolution of the CCL/DCL the charger and the drive receive (State.limits_bus),
    # where the target quantises them on a bus; 0: they get the firmware's float32 values
    limit_step_a: float = 0.0
    # command() returns the firmware's own answer (the wire's COMMAND reply, the in-process
    # call); False where the request only goes out with the next step (a bus: can:)
    answers_commands: bool = True

    @abstractmethod
    def configure(self, config: bytes) -> None:
        """Load a bms_config_t (its raw bytes, as built by bms.firmware.fill_config)."""

    @abstractmethod
    def step(self, dt_ms: int, meas: Measurement) -> State:
        """One firmware step with this sample."""

    @abstractmethod
    def command(self, cmd: str) -> int:
        """'close', 'open' or 'reset'. Returns 0 accepted, -1 illegal, -2 refused."""

    @abstractmethod
    def reset(self) -> None:
        """Power-on reset of the firmware state (configuration kept)."""

    @abstractmethod
    def info(self) -> TargetInfo:
        """Firmware version, build and configuration hashes."""

    def fault_records(self) -> dict[int, int]:
        """Cell index of each latched fault's record, where the target can tell ({} if not)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional for targets without resources
        """Release the target (processes, ports)."""

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
