"""The firmware in this process through cffi: no framing, no copies beyond the struct."""

from __future__ import annotations

import numpy as np

from bms._native import ffi, lib
from hil.targets.base import Measurement, State, Target, TargetError, TargetInfo

CMD = {"close": lib.BMS_CMD_CLOSE, "open": lib.BMS_CMD_OPEN, "reset": lib.BMS_CMD_FAULT_RESET}


def state_from_out(out: object, n_cells: int, cycles: int = 0) -> State:
    return State(
        soc=np.frombuffer(ffi.buffer(out.soc), dtype=np.float32)[:n_cells].copy(),
        core_temp_degc=np.frombuffer(ffi.buffer(out.core_temp_degc), dtype=np.float32)[:n_cells].copy(),
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
    )


class InProcessTarget(Target):
    name = "sim"

    def __init__(self) -> None:
        self._inst = ffi.new("bms_t *")
        self._meas = ffi.new("bms_meas_t *")
        self._out = ffi.new("bms_out_t *")
        self._cfg_hash = ""
        self._n_cells = 0
        self._n_sensors = 0
        self._cell_v = np.frombuffer(ffi.buffer(self._meas.cell_v), dtype=np.float32)
        self._temp = np.frombuffer(ffi.buffer(self._meas.temp_degc), dtype=np.float32)

    def configure(self, config: bytes) -> None:
        if len(config) != ffi.sizeof("bms_config_t"):
            raise TargetError(
                f"configuration is {len(config)} bytes, bms_config_t is {ffi.sizeof('bms_config_t')}"
            )
        cfg = ffi.new("bms_config_t *")
        ffi.memmove(cfg, config, len(config))
        # checked before bms_init (which de-configures the instance on a refusal): a refused
        # configuration leaves the running one in place, as the firmware's CONFIG does
        err = lib.bms_config_check(cfg)
        if err != lib.BMS_CFG_OK:
            raise TargetError(f"firmware refused the configuration (bms_config_check {err})")
        rc = lib.bms_init(self._inst, cfg)
        if rc != lib.BMS_OK:
            raise TargetError(f"bms_init failed ({rc})")
        self._n_cells = int(cfg.pack.n_cells)
        self._n_sensors = int(cfg.pack.n_temp_sensors)
        # the same hash a remote firmware reports for these bytes (CRC-32C, see hil/protocol.py)
        self._cfg_hash = f"{lib.proto_crc32c(config, len(config)):08x}"

    def step(self, dt_ms: int, meas: Measurement, command: str | None = None) -> State:
        """One step; command ('close', 'open', 'reset') is applied just before it (as a
        remote STEP does) and its result is in State.extra['command_result']."""
        if self._n_cells == 0:
            raise TargetError("the target is not configured: configure() first")
        if len(meas.cell_v) != self._n_cells or len(meas.temp_degc) != self._n_sensors:
            raise TargetError(
                f"measurement has {len(meas.cell_v)} cells / {len(meas.temp_degc)} sensors, "
                f"the configuration {self._n_cells} / {self._n_sensors}"
            )
        m = self._meas
        m.pack_current_a = meas.current_a
        self._cell_v[: self._n_cells] = meas.cell_v
        self._temp[: self._n_sensors] = meas.temp_degc
        m.ambient_degc = meas.ambient_degc
        m.pack_v = meas.pack_v
        m.bus_v = meas.bus_v
        m.charger_max_a = meas.charger_max_a
        m.coolant_flow_lpm = meas.coolant_flow_lpm
        m.sample_time_ms = meas.sample_time_ms & 0xFFFFFFFF
        m.comm_lost = meas.comm_lost & 0xFFFFFFFF
        if not 0 <= int(dt_ms) <= 0xFFFFFFFF:
            raise TargetError(f"dt_ms must be in [0, 2^32), got {dt_ms}")
        cmd_result = self.command(command) if command is not None else 0
        rc = lib.bms_step(self._inst, m, int(dt_ms), self._out)
        if rc != lib.BMS_OK:
            raise TargetError(f"bms_step failed ({rc}): configure() first")
        state = state_from_out(self._out, self._n_cells)
        state.extra["command_result"] = float(cmd_result)
        return state

    def command(self, cmd: str) -> int:
        if cmd not in CMD:
            raise TargetError(f"unknown command '{cmd}'")
        if self._n_cells == 0:
            raise TargetError("the target is not configured: configure() first")
        return int(lib.bms_command(self._inst, CMD[cmd]))

    def reset(self) -> None:
        if self._n_cells == 0:
            raise TargetError("the target is not configured: configure() first")
        lib.bms_reset(self._inst)

    def raw(self) -> tuple[object, object, object]:
        """(bms_config_t *, bms_meas_t *, bms_out_t *) of the last step, for a layer beside the
        firmware (the CAN layer reads them to fill its frames)."""
        return ffi.addressof(self._inst.cfg), self._meas, self._out

    def fault_records(self) -> dict[int, int]:
        s = self._inst.safety
        return {f: int(s.record[f].cell) for f in range(int(lib.BMS_N_FAULTS)) if s.latched >> f & 1}

    def info(self) -> TargetInfo:
        return TargetInfo(
            name=self.name,
            fw_version=f"{lib.BMS_FW_VERSION_MAJOR}.{lib.BMS_FW_VERSION_MINOR}",
            build_hash=f"{lib.hil_source_hash():08x}",
            config_hash=self._cfg_hash,
            max_cells=int(lib.BMS_MAX_CELLS),
        )
