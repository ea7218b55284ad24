"""A firmware instance at the other end of the wire protocol (serial, QEMU, or the C node
in this process). It checks the firmware's HELLO against this host's build (protocol version,
sizeof(bms_config_t), struct layout hash, optionally the source hash), downloads the
configuration in CRC-checked chunks and steps in lock-step."""

from __future__ import annotations

from typing import Any

import numpy as np

from bms._native import ffi, lib
from bms.enums import COMMANDS
from bms.firmware import bal_mask_bits
from bms.targets.base import SOP_FIELDS, Measurement, State, Target, TargetError, TargetInfo
from hil.link import Link, RemoteError
from hil.protocol import (
    CONFIG_CHUNK,
    E_CONFIG_BUSY,
    E_CONFIG_REJECTED,
    E_NOT_CONFIGURED,
    RESET_FIRMWARE,
    RESET_STATS,
    STATE_CYCLES_VALID,
    STATS_FIELDS,
    ConfigOp,
    Counter,
    Msg,
    crc32c,
)

U32 = 0xFFFFFFFF


def f32(x: float) -> float:
    """The float32 the firmware will see (as cffi's double->float cast in-process)."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def f32_list(a: np.ndarray) -> list[float]:
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.float32).tolist()


def check_hello(hello: Any, expect_source_hash: int | None = None) -> None:
    """Refuse a firmware whose structs or sources differ from this host's build."""
    host_size = ffi.sizeof("bms_config_t")
    if hello.config_size != host_size:
        raise TargetError(
            f"the firmware's bms_config_t is {hello.config_size} bytes, this host's is {host_size}: "
            "build the firmware and the host package from the same sources"
        )
    host_layout = int(lib.bms_proto_layout_hash())
    if hello.layout_hash != host_layout:
        raise TargetError(
            f"struct layout hash differs (firmware 0x{hello.layout_hash:08x}, host 0x{host_layout:08x}): "
            "the target compiler lays out bms_config_t differently"
        )
    if expect_source_hash is not None and hello.source_hash != expect_source_hash:
        raise TargetError(
            f"the firmware was built from other sources (firmware 0x{hello.source_hash:08x}, "
            f"expected 0x{expect_source_hash:08x}): rebuild it (make firmware)"
        )


def reset_for_a_new_run(target: Target) -> None:
    """Before configuring a target for a new run: a remote firmware refuses a configuration
    while its contactors are not open (a previous run may have left them closed), so a
    remote target gets a power-on reset first (contactors open, estimators cleared), which is
    what configure() does in-process (bms_init resets the instance). A firmware that is not
    configured has nothing to reset."""
    if isinstance(target, RemoteTarget):
        try:
            target.reset()
        except RemoteError as exc:
            if exc.code != E_NOT_CONFIGURED:
                raise


def configure_for_a_new_run(target: Target, config: bytes) -> None:
    """configure() as a bench starts a new run on a target it reuses: reset_for_a_new_run
    first (the firmware refuses a configuration while its contactors are not open)."""
    reset_for_a_new_run(target)
    target.configure(config)


class RemoteTarget(Target):
    """Target over a Link. cycle_unit: what State.cycles counts ('instructions' under
    QEMU -icount, 'cycles' on silicon, '' when the board has no counter)."""

    name = "remote"

    def __init__(
        self, link: Link, name: str, hello: Any = None, expect_source_hash: int | None = None
    ) -> None:
        self.link = link
        self.name = name
        self._n_cells = 0
        self._n_sensors = 0
        self._n_pressure = 0
        self._cfg_hash = 0
        self.hello = hello if hello is not None else link.request(Msg.HELLO)
        check_hello(self.hello, expect_source_hash)
        self._cfg_hash = int(self.hello.config_hash)
        self.cycle_unit, self._cycle_scale = self._cycle_units()

    def _cycle_units(self) -> tuple[str, float]:
        h = self.hello
        if h.counter_kind == Counter.DWT:
            return "cycles", 1.0
        if h.counter_kind == Counter.SYSTICK:
            return "cycles", 1.0
        return "", 0.0

    # ---- Target interface ----
    @property
    def configured(self) -> bool:
        """The last configure() succeeded (and nothing has de-configured the firmware since)."""
        return self._n_cells != 0

    def configure(self, config: bytes) -> None:
        """Download a bms_config_t in place. The firmware refuses it while its contactors are
        not open (TargetError; the running configuration is untouched). Once the download has
        begun the firmware is unconfigured until COMMIT succeeds: a configuration refused at
        COMMIT (CRC, bms_config_check) or a download cut short leaves it unconfigured (the
        in-process bms.firmware.Firmware keeps its running configuration instead)."""
        size = ffi.sizeof("bms_config_t")
        if len(config) != size:
            raise TargetError(f"configuration is {len(config)} bytes, bms_config_t is {size}")
        cfg = ffi.new("bms_config_t *")
        ffi.memmove(cfg, config, size)
        crc = crc32c(config)
        try:
            self.link.request(Msg.CONFIG, dict(op=ConfigOp.BEGIN, value=size, crc=crc, data=b""))
        except RemoteError as exc:
            if exc.code == E_CONFIG_BUSY:
                raise TargetError(
                    "the firmware refuses a configuration while its contactors are not open "
                    f"(contactor state {exc.detail}): open the contactors first (command('open'), "
                    "then step until they are open; reset() opens them at once)"
                ) from None
            raise
        # the firmware overwrites its configuration from here on: unconfigured until COMMIT
        self._n_cells = 0
        self._n_sensors = 0
        self._n_pressure = 0
        self._cfg_hash = 0
        try:
            for off in range(0, size, CONFIG_CHUNK):
                chunk = config[off : off + CONFIG_CHUNK]
                self.link.request(Msg.CONFIG, dict(op=ConfigOp.DATA, value=off, crc=0, data=chunk))
            reply = self.link.request(Msg.CONFIG, dict(op=ConfigOp.COMMIT, value=0, crc=0, data=b""))
        except RemoteError as exc:
            if exc.code == E_CONFIG_REJECTED:
                raise TargetError(
                    f"firmware refused the configuration (bms_config_check {exc.detail}); "
                    "the target is now unconfigured"
                ) from None
            raise
        if reply.config_hash != crc:
            raise TargetError(f"configuration hash 0x{reply.config_hash:08x} after COMMIT, sent 0x{crc:08x}")
        self._cfg_hash = crc
        self._n_cells = int(cfg.pack.n_cells)
        self._n_sensors = int(cfg.pack.n_temp_sensors)
        self._n_pressure = int(cfg.pack.n_pressure_sensors)

    def step_fields(self, dt_ms: int, meas: Measurement, command: str | None = None) -> dict[str, Any]:
        if self._n_cells == 0:
            raise TargetError("the target is not configured: configure() first")
        if len(meas.cell_v) != self._n_cells or len(meas.temp_degc) != self._n_sensors:
            raise TargetError(
                f"measurement has {len(meas.cell_v)} cells / {len(meas.temp_degc)} sensors, "
                f"the configuration {self._n_cells} / {self._n_sensors}"
            )
        if len(meas.pressure_mpa) != self._n_pressure:
            raise TargetError(
                f"measurement has {len(meas.pressure_mpa)} pressure readings, "
                f"the configuration {self._n_pressure}"
            )
        if not 0 <= int(dt_ms) <= U32:
            raise TargetError(f"dt_ms must be in [0, 2^32), got {dt_ms}")
        if command is not None and command not in COMMANDS:
            raise TargetError(f"unknown command '{command}'")
        if meas.comm_lost:
            raise TargetError(
                "comm_lost is not carried by the wire STEP (the CAN layer runs in-process: can:...)"
            )
        return dict(
            dt_ms=int(dt_ms),
            command=COMMANDS[command] if command else 0,
            current_a=f32(meas.current_a),
            ambient_degc=f32(meas.ambient_degc),
            pack_v=f32(meas.pack_v),
            bus_v=f32(meas.bus_v),
            charger_max_a=f32(meas.charger_max_a),
            coolant_flow_lpm=f32(meas.coolant_flow_lpm),
            fast_charge_in_s=f32(meas.fast_charge_in_s),
            sample_time_ms=int(meas.sample_time_ms) & U32,
            cell_v=f32_list(meas.cell_v),
            temp_degc=f32_list(meas.temp_degc),
            pressure_mpa=f32_list(meas.pressure_mpa),
        )

    def state_from_reply(self, r: Any) -> State:
        ticks = int(r.cycles) if r.flags & STATE_CYCLES_VALID else 0
        return State(
            soc=np.array(r.soc, dtype=np.float32),
            core_temp_degc=np.array(r.core_temp_degc, dtype=np.float32),
            soc_min=r.soc_min,
            soc_max=r.soc_max,
            soc_mean=r.soc_mean,
            soc_pack=r.soc_pack,
            core_temp_max_degc=r.core_temp_max_degc,
            cell_v_max=r.cell_v_max,
            cell_v_min=r.cell_v_min,
            temp_min_degc=r.temp_min_degc,
            temp_max_degc=r.temp_max_degc,
            ccl_a=r.ccl_a,
            dcl_a=r.dcl_a,
            ccl_limit=r.ccl_limit,
            dcl_limit=r.dcl_limit,
            faults=r.faults,
            warnings=r.warnings,
            derates=r.derates,
            contactor_state=r.contactor_state,
            charge_complete=r.charge_complete,
            heater_request=r.heater_request,
            cooling_request=r.cooling_request,
            status=r.status,
            time_ms=r.time_ms,
            cycles=round(ticks * self._cycle_scale),
            model_nis_max=r.model_nis_max,
            model_mismatch_cells=r.model_mismatch_cells,
            cap_scale_min=r.cap_scale_min,
            cap_scale_min_cell=r.cap_scale_min_cell,
            cap_sigma=r.cap_sigma,
            r_scale_max=r.r_scale_max,
            r_scale_max_cell=r.r_scale_max_cell,
            r_sigma=r.r_sigma,
            soh_updates=r.soh_updates,
            bal_mask=bal_mask_bits(bytes(r.bal_mask), len(r.soc)),
            bal_cells=r.bal_cells,
            bal_test=r.bal_test,
            pressure_min_mpa=r.pressure_min_mpa,
            pressure_max_mpa=r.pressure_max_mpa,
            pressure_min_sensor=r.pressure_min_sensor,
            contactor_counts=r.contactor_counts,
            **{name: getattr(r, name) for name in SOP_FIELDS},
            extra={"counter_ticks": float(ticks), "command_result": float(r.cmd_result)},
        )

    def step(self, dt_ms: int, meas: Measurement, command: str | None = None) -> State:
        """One lock-step STEP; command ('close', 'open', 'reset') is applied just before it
        and its result is in State.extra['command_result']."""
        reply = self.link.request(Msg.STEP, self.step_fields(dt_ms, meas, command))
        return self.state_from_reply(reply)

    def command(self, cmd: str) -> int:
        if cmd not in COMMANDS:
            raise TargetError(f"unknown command '{cmd}'")
        return int(self.link.request(Msg.COMMAND, dict(cmd=COMMANDS[cmd])).result)

    def reset(self) -> None:
        self.link.request(Msg.RESET, dict(flags=RESET_FIRMWARE))

    def info(self) -> TargetInfo:
        h = self.hello
        return TargetInfo(
            name=self.name,
            fw_version=f"{h.fw_major}.{h.fw_minor}",
            build_hash=f"{h.source_hash:08x}",
            config_hash=f"{self._cfg_hash:08x}",
            max_cells=int(h.max_cells),
            board=str(h.board),
            cycle_unit=self.cycle_unit,
        )

    # ---- protocol extras ----
    def stats(self) -> dict[str, int]:
        reply = self.link.request(Msg.STATS)
        return {k: int(reply[k]) for k in STATS_FIELDS}

    def clear_stats(self) -> None:
        self.link.request(Msg.RESET, dict(flags=RESET_STATS))

    def close(self) -> None:
        self.link.stream.close()
