"""The firmware's CAN layer (native/src/can_layer.c) in this process, configured from the DBC."""

from __future__ import annotations

from bms._native import ffi, lib
from bms.enums import COMMANDS
from hil.can import codec

# index order of bms_canl_cfg_t's tables (can_layer.h: BMS_CANL_RX_*, BMS_CANL_TX_*)
RX_MESSAGES = ("CHG_Status", "CHG_Limits", "VCU_Command")
TX_MESSAGES = (
    "BMS_PackStatus",
    "BMS_Limits",
    "BMS_CellVoltages",
    "BMS_CellTemperatures",
    "BMS_Faults",
    "BMS_State",
    "BMS_Estimator",
    "BMS_Health",
    "BMS_SoP",
    "BMS_Pressure",
)
RX_RESULTS = {
    lib.BMS_CANL_RX_OK: "ok",
    lib.BMS_CANL_RX_NOT_OURS: "not_ours",
    lib.BMS_CANL_RX_E_LENGTH: "length",
    lib.BMS_CANL_RX_E_CHECKSUM: "checksum",
    lib.BMS_CANL_RX_E_COUNTER: "counter",
    lib.BMS_CANL_RX_E_RANGE: "range",
}
REFUSE_REASONS = ("length", "checksum", "counter", "range")
# the firmware command each CAN request maps to, by its value (bms.enums.COMMANDS inverted)
COMMAND_NAMES = {int(v): k for k, v in COMMANDS.items()}
PARTNERS = {"charger": lib.BMS_CANL_PARTNER_CHARGER, "vehicle": lib.BMS_CANL_PARTNER_VEHICLE}


def layer_config() -> object:
    """bms_canl_cfg_t with the DBC's timeouts (RxTimeoutTime) and cycle times (GenMsgCycleTime)."""
    cfg = ffi.new("bms_canl_cfg_t *")
    for k, name in enumerate(RX_MESSAGES):
        cfg.rx_timeout_ms[k] = codec.rx_timeout_ms(codec.message(name))
    for k, name in enumerate(TX_MESSAGES):
        cfg.tx_cycle_ms[k] = codec.cycle_ms(codec.message(name))
    return cfg


class CanLayer:
    """bms_canl_t and its four calls; frames are (id, bytes)."""

    def __init__(self) -> None:
        self._c = ffi.new("bms_canl_t *")
        self._frame = ffi.new("bms_canl_frame_t *")
        self._tx = ffi.new(f"bms_canl_frame_t[{lib.BMS_CANL_N_TX}]")
        self._cmds = ffi.new(f"uint32_t[{lib.BMS_CANL_MAX_COMMANDS}]")
        rc = lib.bms_canl_init(self._c, layer_config())
        if rc != lib.BMS_CANL_OK:
            raise codec.CanError(f"bms_canl_init refused the DBC's timing ({rc})")

    @property
    def raw(self) -> object:
        return self._c

    def rx(self, frame_id: int, data: bytes) -> str:
        """Feed one received frame; returns 'ok', 'not_ours' or the refusal reason."""
        if len(data) > 8:
            raise codec.CanError(f"a classic CAN frame has at most 8 data bytes, got {len(data)}")
        f = self._frame
        f.id = frame_id
        f.len = len(data)
        ffi.memmove(f.data, data, len(data))
        return RX_RESULTS[lib.bms_canl_rx(self._c, f)]

    def inputs(self, dt_ms: int, meas: object) -> list[str]:
        """Advance the timeouts; fills meas (bms_meas_t *) charger_max_a and comm_lost; returns
        the vehicle's commands to apply before the step."""
        n = lib.bms_canl_inputs(self._c, dt_ms, meas, self._cmds)
        return [COMMAND_NAMES[int(self._cmds[i])] for i in range(n)]

    def tx(self, cfg: object, meas: object, out: object) -> list[tuple[int, bytes]]:
        """The BMS messages due now."""
        n = lib.bms_canl_tx(self._c, cfg, meas, out, self._tx, lib.BMS_CANL_N_TX)
        return [(int(self._tx[i].id), bytes(ffi.buffer(self._tx[i].data, self._tx[i].len))) for i in range(n)]

    @property
    def refused(self) -> dict[str, int]:
        return {r: int(self._c.refused[i]) for i, r in enumerate(REFUSE_REASONS)}

    @property
    def accepted(self) -> int:
        return int(self._c.accepted)

    @property
    def comm_lost(self) -> int:
        return int(self._c.comm_lost)
