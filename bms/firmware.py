"""The C firmware in this process (bms._native, built by cffi): one instance as a target
(configure(bytes), step(Measurement) -> State) and a numpy API for replay and benchmarks.
Its configuration is built from the cell, pack and protection models in
bms.firmware_config (PackLayout, fill_config, ... importable from here too)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bms._native import ffi, lib
from bms.cells import CellModel
from bms.enums import COMMANDS, CONTACTOR_STATES, FAULT_NAMES, LIMITING_NAMES
from bms.errors import BmsError, ConfigError
from bms.firmware_config import (
    CFG_ERRORS,
    MAX_CELLS,
    MAX_TEMP_SENSORS,
    PackLayout,
    config_problem,
    fill_config,
    fill_nvm,
    generic_protection,
)
from bms.protection import Protection
from bms.targets.base import (
    RELAY_BITS,
    SOP_FIELDS,
    Measurement,
    State,
    Target,
    TargetError,
    TargetInfo,
    sop_slot,
)

__all__ = [  # the configuration's names: bms.firmware_config, imported from here by tests and hil
    "CFG_ERRORS",
    "MAX_CELLS",
    "MAX_TEMP_SENSORS",
    "STATUS_FLAGS",
    "ConfigError",
    "Firmware",
    "PackLayout",
    "config_problem",
    "fill_config",
    "fill_nvm",
    "generic_protection",
    "state_from_out",
]

NAN = float("nan")

STATUS_FLAGS = {
    "initialised": lib.BMS_ST_INITIALISED,
    "current_invalid": lib.BMS_ST_CURRENT_INVALID,
    "voltage_invalid": lib.BMS_ST_VOLTAGE_INVALID,
    "temp_invalid": lib.BMS_ST_TEMP_INVALID,
    "dt_invalid": lib.BMS_ST_DT_INVALID,
    "ambient_estimated": lib.BMS_ST_AMBIENT_ESTIMATED,
    "charging": lib.BMS_ST_CHARGING,
    "model_mismatch": lib.BMS_ST_MODEL_MISMATCH,
}


def _f32(a: np.ndarray | Sequence[float], shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if shape is not None and arr.shape != shape:
        raise BmsError(f"expected an array of shape {shape}, got {arr.shape}")
    return arr


def relay_bits(relays: object) -> int:
    """bms_contactor_relays_t as State.relays (RELAY_BITS)."""
    return sum(bit for name, bit in RELAY_BITS.items() if getattr(relays, name))


def state_from_out(out: object, n_cells: int, cycles: int = 0) -> State:
    """A bms_out_t as the target interface's State (copies of the per-cell arrays the
    caller gave it: out.cells.soc and out.cells.core_temp_degc)."""
    nbytes = 4 * n_cells
    return State(
        soc=np.frombuffer(ffi.buffer(out.cells.soc, nbytes), dtype=np.float32).copy(),
        core_temp_degc=np.frombuffer(ffi.buffer(out.cells.core_temp_degc, nbytes), dtype=np.float32).copy(),
        soc_min=out.soc_min,
        soc_max=out.soc_max,
        soc_mean=out.soc_mean,
        soc_pack=out.soc_pack,
        core_temp_max_degc=out.core_temp_max_degc,
        cell_v_max=out.cell_v_max,
        cell_v_min=out.cell_v_min,
        temp_min_degc=out.temp_min_degc,
        temp_max_degc=out.temp_max_degc,
        ccl_a=out.ccl_a,
        dcl_a=out.dcl_a,
        ccl_limit=out.ccl_limit,
        dcl_limit=out.dcl_limit,
        faults=out.faults,
        warnings=out.warnings,
        derates=out.derates,
        contactor_state=out.contactor_state,
        charge_complete=out.charge_complete,
        heater_request=out.heater_request,
        cooling_request=out.cooling_request,
        status=out.status,
        time_ms=out.time_ms,
        cycles=cycles,
        relays=relay_bits(out.relays),
        contactor_counts=out.contactor_counts,
        model_nis_max=out.model_nis_max,
        model_mismatch_cells=out.model_mismatch_cells,
        cap_scale_min=out.cap_scale_min,
        cap_scale_min_cell=out.cap_scale_min_cell,
        cap_sigma=out.cap_sigma,
        r_scale_max=out.r_scale_max,
        r_scale_max_cell=out.r_scale_max_cell,
        r_sigma=out.r_sigma,
        soh_updates=out.soh_updates,
        cap_scale=np.frombuffer(ffi.buffer(out.cells.cap_scale, nbytes), dtype=np.float32).copy(),
        r_scale=np.frombuffer(ffi.buffer(out.cells.r_scale, nbytes), dtype=np.float32).copy(),
        bal_mask=bal_mask_bits(bytes(ffi.buffer(out.cells.bal_mask, lib.BMS_BAL_MASK_BYTES)), n_cells),
        bal_cells=out.bal_cells,
        bal_test=out.bal_test,
        pressure_min_mpa=out.pressure_min_mpa,
        pressure_max_mpa=out.pressure_max_mpa,
        pressure_min_sensor=out.pressure_min_sensor,
        **sop_from_out(out),
    )


def bal_mask_bits(raw: bytes, n_cells: int) -> np.ndarray:
    """A balancing mask (bit i of byte i // 8 is cell i) as a bool per cell."""
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")[:n_cells].astype(bool)


def sop_from_out(out: object) -> dict[str, float]:
    """The state of power of a bms_out_t as the State's fields (SOP_FIELDS)."""
    return {name: float(getattr(out, arr)[k]) for name in SOP_FIELDS for arr, k in (sop_slot(name),)}


class Firmware(Target):
    """One firmware instance (bms_t) in this process: the `sim` target (configure(bytes),
    step(dt_ms, Measurement) -> State) and a numpy API for replay and benchmarks
    (step_arrays, run_batch, zero-copy views of the outputs: soc, core_temp_degc, ...).

    Firmware(cell, layout, protection) builds the configuration and configures at once;
    Firmware() waits for configure()."""

    name = "sim"

    def __init__(
        self,
        cell: CellModel | None = None,
        layout: PackLayout | None = None,
        protection: Protection | None = None,
    ) -> None:
        self._inst = ffi.new("bms_t *")
        self._meas = ffi.new("bms_meas_t *")
        self._out = ffi.new("bms_out_t *")
        # the per-cell outputs bms_step writes (out.cells: arrays the caller owns)
        self._cells = {
            k: np.zeros(lib.BMS_MAX_CELLS, dtype=np.float32)
            for k in ("soc", "core_temp_degc", "surf_temp_degc", "v_pred_v", "cap_scale", "r_scale")
        }
        for k, arr in self._cells.items():
            setattr(self._out.cells, k, ffi.from_buffer("float[]", arr, require_writable=True))
        self._bal_mask = ffi.new("uint8_t[]", lib.BMS_BAL_MASK_BYTES)
        self._out.cells.bal_mask = self._bal_mask
        self._cfg = ffi.new("bms_config_t *")
        self._cfg_hash = ""
        self._sample_time_ms = 0
        self._cell_v = np.frombuffer(ffi.buffer(self._meas.cell_v), dtype=np.float32)
        self._temp = np.frombuffer(ffi.buffer(self._meas.temp_degc), dtype=np.float32)
        self._views(0, 0)
        self.cell = cell
        self.layout = layout
        self.protection = protection
        if cell is None:
            if layout is not None or protection is not None:
                raise BmsError("Firmware(layout, protection) needs the cell too")
            return
        if layout is None:
            raise BmsError("Firmware(cell) needs the pack layout too")
        self.protection = protection or generic_protection(cell)
        cfg = ffi.new("bms_config_t *")
        fill_config(cfg, cell, layout, self.protection)
        problem = config_problem(cfg)
        if problem is not None:
            raise ConfigError(problem)
        self._init(cfg)

    def _views(self, n_cells: int, n_sensors: int) -> None:
        self.n_cells = n = n_cells
        self.n_sensors = n_sensors
        # zero-copy numpy views of the output struct
        self.soc = self._cells["soc"][:n]
        self.core_temp_degc = self._cells["core_temp_degc"][:n]
        self.surf_temp_degc = self._cells["surf_temp_degc"][:n]
        self.v_pred_v = self._cells["v_pred_v"][:n]
        self.cap_scale = self._cells["cap_scale"][:n]
        self.r_scale = self._cells["r_scale"][:n]

    def _init(self, cfg: object) -> None:
        """bms_init with an accepted configuration (checked by the caller)."""
        rc = lib.bms_init(self._inst, cfg)
        if rc != lib.BMS_OK:
            raise TargetError(f"bms_init failed ({rc})")
        self._cfg = cfg
        self._views(int(cfg.pack.n_cells), int(cfg.pack.n_temp_sensors))
        self._sample_time_ms = 0
        raw = bytes(ffi.buffer(cfg))
        # the same hash a remote firmware reports for these bytes (CRC-32C, see hil/protocol.py)
        self._cfg_hash = f"{lib.bms_proto_crc32c(raw, len(raw)):08x}"

    def _configured(self) -> None:
        if self.n_cells == 0:
            raise TargetError("the target is not configured: configure() first")

    @property
    def out(self) -> object:
        """The raw bms_out_t of the last step."""
        return self._out

    @property
    def instance(self) -> object:
        return self._inst

    @property
    def config(self) -> object:
        """The bms_config_t the firmware was initialised with."""
        return self._cfg

    # ---- the Target interface ----
    def configure(self, config: bytes) -> None:
        """Load a bms_config_t (its raw bytes). A refused one names the field and the rule
        and leaves the running configuration in place. The firmware's CONFIG differs: it writes
        in place, so it refuses a download while the contactors are not open and a refused one
        leaves it unconfigured (hil.targets.remote)."""
        size = ffi.sizeof("bms_config_t")
        if len(config) != size:
            raise TargetError(f"configuration is {len(config)} bytes, bms_config_t is {size}")
        cfg = ffi.new("bms_config_t *")
        ffi.memmove(cfg, config, len(config))
        # checked before bms_init (which de-configures the instance on a refusal)
        problem = config_problem(cfg)
        if problem is not None:
            raise TargetError(f"firmware refused the configuration: {problem}")
        self._init(cfg)

    def step(self, dt_ms: int, meas: Measurement, command: str | None = None) -> State:
        """One step; command ('close', 'open', 'reset') is applied just before it (as a
        remote STEP does) and its result is in State.extra['command_result']."""
        self._configured()
        if len(meas.cell_v) != self.n_cells or len(meas.temp_degc) != self.n_sensors:
            raise TargetError(
                f"measurement has {len(meas.cell_v)} cells / {len(meas.temp_degc)} sensors, "
                f"the configuration {self.n_cells} / {self.n_sensors}"
            )
        n_p = int(self._inst.cfg.pack.n_pressure_sensors)
        if len(meas.pressure_mpa) != n_p:
            raise TargetError(
                f"measurement has {len(meas.pressure_mpa)} pressure readings, the configuration {n_p}"
            )
        if not 0 <= int(dt_ms) <= 0xFFFFFFFF:
            raise TargetError(f"dt_ms must be in [0, 2^32), got {dt_ms}")
        self._load(meas.current_a, meas.cell_v, meas.temp_degc, meas.ambient_degc, meas.pack_v)
        m = self._meas
        for k in range(n_p):
            m.pressure_mpa[k] = float(meas.pressure_mpa[k])
        m.bus_v = meas.bus_v
        m.charger_max_a = meas.charger_max_a
        m.coolant_flow_lpm = meas.coolant_flow_lpm
        m.fast_charge_in_s = meas.fast_charge_in_s
        m.sample_time_ms = meas.sample_time_ms & 0xFFFFFFFF
        m.comm_lost = meas.comm_lost & 0xFFFFFFFF
        cmd_result = self.command(command) if command is not None else 0
        self._step(int(dt_ms))
        state = state_from_out(self._out, self.n_cells)
        state.extra["command_result"] = float(cmd_result)
        return state

    def command(self, cmd: str) -> int:
        """'close', 'open' or 'reset' (fault reset). Returns 0 (accepted), -1 (illegal in
        this state) or -2 (refused: a fault is latched)."""
        if cmd not in COMMANDS:
            raise TargetError(f"unknown command '{cmd}'; use close, open or reset")
        self._configured()
        return int(lib.bms_command(self._inst, COMMANDS[cmd]))

    def reset(self) -> None:
        self._configured()
        lib.bms_reset(self._inst)

    def start_soc_estimate_at(self, soc: float) -> None:
        """Put every cell's SoC estimate at `soc` with the configured initial uncertainty
        (estimator.soc_init_sigma), as if the estimator had started there: `bms replay
        --soc-init` uses it after the first sample to measure convergence from a wrong start.
        A diagnostic on the in-process firmware, no wire command."""
        self._configured()
        if not (math.isfinite(soc) and 0.0 <= soc <= 1.0):
            raise ConfigError(f"--soc-init must be a SoC within 0..1, got {soc:g}")
        if not self._inst.initialised:
            raise BmsError("the estimators start from the first sample: step once before")
        sigma = float(self._cfg.est.soc_init_sigma)
        for i in range(int(self._cfg.pack.n_cells)):
            e = self._inst.ekf[i]
            e.soc = soc
            e.p[1] = e.p[2] = 0.0  # no correlation with the RC states yet
            e.p[0] = sigma * sigma

    def info(self) -> TargetInfo:
        return TargetInfo(
            name=self.name,
            fw_version=f"{lib.BMS_FW_VERSION_MAJOR}.{lib.BMS_FW_VERSION_MINOR}",
            build_hash=f"{lib.bms_hil_source_hash():08x}",
            config_hash=self._cfg_hash,
            max_cells=MAX_CELLS,
        )

    def fault_records(self) -> dict[int, int]:
        s = self._inst.safety
        return {f: int(s.record[f].cell) for f in range(int(lib.BMS_N_FAULTS)) if s.latched >> f & 1}

    def raw(self) -> tuple[object, object, object]:
        """(bms_config_t *, bms_meas_t *, bms_out_t *) of the last step, for a layer beside the
        firmware (the CAN layer reads them to fill its frames)."""
        return ffi.addressof(self._inst.cfg), self._meas, self._out

    # ---- the numpy API ----
    def _load(
        self, current_a: float, cell_v: np.ndarray, temp_degc: np.ndarray, ambient_degc: float, pack_v: float
    ) -> None:
        m = self._meas
        m.pack_current_a = current_a
        self._cell_v[: self.n_cells] = cell_v
        self._temp[: self.n_sensors] = temp_degc
        m.ambient_degc = ambient_degc
        m.pack_v = pack_v

    def _step(self, dt_ms: int) -> None:
        rc = lib.bms_step(self._inst, self._meas, dt_ms, self._out)
        if rc != lib.BMS_OK:
            raise TargetError(f"bms_step failed ({rc}): configure() first")

    def step_arrays(
        self,
        dt_ms: int,
        current_a: float,
        cell_v: np.ndarray,
        temp_degc: np.ndarray,
        ambient_degc: float = NAN,
        pack_v: float = NAN,
        bus_v: float = NAN,
        charger_max_a: float = NAN,
        sample_time_ms: int | None = None,
        coolant_flow_lpm: float = NAN,
        comm_lost: int = 0,
        fast_charge_in_s: float = NAN,
        pressure_mpa: np.ndarray | None = None,
    ) -> object:
        """One firmware step; returns bms_out_t (views: self.soc, self.core_temp_degc, ...).
        Without sample_time_ms every call is a new sample."""
        self._load(current_a, cell_v, temp_degc, ambient_degc, pack_v)
        m = self._meas
        m.bus_v = bus_v
        m.charger_max_a = charger_max_a
        m.coolant_flow_lpm = coolant_flow_lpm
        m.fast_charge_in_s = fast_charge_in_s
        m.comm_lost = comm_lost
        if pressure_mpa is not None:  # one per pack.n_pressure_sensors (else the last ones stay)
            for k, x in enumerate(pressure_mpa):
                m.pressure_mpa[k] = float(x)
        if sample_time_ms is None:
            self._sample_time_ms = (self._sample_time_ms + max(int(dt_ms), 1)) & 0xFFFFFFFF
        else:
            self._sample_time_ms = int(sample_time_ms) & 0xFFFFFFFF
        m.sample_time_ms = self._sample_time_ms
        self._step(int(dt_ms))
        return self._out

    @property
    def faults(self) -> list[str]:
        mask = int(self._out.faults)
        return [n for i, n in enumerate(FAULT_NAMES) if mask >> i & 1]

    @property
    def contactor_state(self) -> str:
        return CONTACTOR_STATES[int(self._out.contactor_state)]

    @property
    def bal_mask(self) -> np.ndarray:
        """The balancing switches the last step commanded, a bool per cell."""
        return bal_mask_bits(bytes(ffi.buffer(self._bal_mask)), self.n_cells)

    @property
    def ccl_limit(self) -> str:
        return LIMITING_NAMES[int(self._out.ccl_limit)]

    def run_batch(
        self,
        dt_ms: np.ndarray,
        current_a: np.ndarray,
        cell_v: np.ndarray,
        temp_degc: np.ndarray,
        ambient_degc: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Run n samples in one C call. cell_v is (n, n_cells), temp_degc (n, n_sensors)."""
        if int(self._inst.cfg.pack.n_pressure_sensors):
            raise BmsError("the batch carries no stack pressure: a pressed pack steps one sample at a time")
        n = len(current_a)
        dt = np.ascontiguousarray(dt_ms, dtype=np.uint32)
        if dt.shape != (n,):
            raise BmsError(f"dt_ms must have {n} entries")
        cur = _f32(current_a, (n,))
        v = _f32(cell_v, (n, self.n_cells))
        t = _f32(temp_degc, (n, self.n_sensors))
        amb = None if ambient_degc is None else _f32(ambient_degc, (n,))
        soc = np.empty((n, self.n_cells), dtype=np.float32)
        core = np.empty((n, self.n_cells), dtype=np.float32)
        vpred = np.empty((n, self.n_cells), dtype=np.float32)
        status = np.empty(n, dtype=np.uint32)
        rc = lib.bms_step_batch(
            self._inst,
            n,
            ffi.from_buffer("uint32_t[]", dt),
            ffi.from_buffer("float[]", cur),
            ffi.from_buffer("float[]", v),
            ffi.from_buffer("float[]", t),
            ffi.NULL if amb is None else ffi.from_buffer("float[]", amb),
            ffi.from_buffer("float[]", soc, require_writable=True),
            ffi.from_buffer("float[]", core, require_writable=True),
            ffi.from_buffer("float[]", vpred, require_writable=True),
            ffi.from_buffer("uint32_t[]", status, require_writable=True),
        )
        if rc != lib.BMS_OK:
            raise BmsError(f"bms_step_batch failed ({rc})")
        return {"soc": soc, "core_temp_degc": core, "v_pred_v": vpred, "status": status}
