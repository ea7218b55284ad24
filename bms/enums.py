"""The firmware's enumerations, read from the compiled binding (the C headers are its cdef).

Each ``IntEnum`` is built from one C enum type (cffi knows its members) or from a family of
``#define``s sharing a prefix; member names are the C identifiers without that prefix. The
names files, CSV logs and reports use are those member names in lower case, so renaming a
constant in a header renames it everywhere, and a new one needs no Python edit.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from bms._native import ffi, lib


def _members(c_type: str, prefix: str) -> dict[str, int]:
    """The members of the C enum ``c_type`` (without its ``*_N_*`` count), prefix removed."""
    out: dict[str, int] = {}
    for value, ident in sorted(ffi.typeof(c_type).elements.items()):
        if ident.startswith(prefix):
            out[ident[len(prefix) :]] = value
        elif "_N_" not in ident:
            raise ImportError(f"{c_type} member {ident} does not start with {prefix}")
    return out


def _defines(prefix: str) -> dict[str, int]:
    """The integer ``#define``s named ``prefix*``, prefix removed, by value."""
    found = {n[len(prefix) :]: getattr(lib, n) for n in dir(lib) if n.startswith(prefix)}
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


Fault = IntEnum("Fault", _members("bms_fault_id_t", "BMS_F_"))
Quantity = IntEnum("Quantity", _members("bms_quantity_t", "BMS_Q_"))
Limiting = IntEnum("Limiting", _members("bms_limiting_t", "BMS_LIM_"))
ContactorState = IntEnum("ContactorState", _members("bms_contactor_state_t", "BMS_CONTACTOR_"))
Command = IntEnum("Command", _members("bms_command_t", "BMS_CMD_"))
CommandResult = IntEnum("CommandResult", _defines("BMS_CMD_R_"))
Status = IntFlag("Status", _defines("BMS_ST_"))


def _names(enum: type[IntEnum]) -> tuple[str, ...]:
    """Lower-case member names indexed by value (the values are 0..n-1)."""
    members = sorted(enum, key=int)
    if [int(m) for m in members] != list(range(len(members))):
        raise ImportError(f"{enum.__name__} values are not 0..{len(members) - 1}")
    return tuple(m.name.lower() for m in members)


# Names in files, logs and reports, indexed by the firmware's value.
FAULT_NAMES = _names(Fault)
FAULT_ID = {n: i for i, n in enumerate(FAULT_NAMES)}
LIMITING_NAMES = _names(Limiting)
CONTACTOR_STATES = _names(ContactorState)
N_FAULTS = len(FAULT_NAMES)
N_LIMITING = len(LIMITING_NAMES)

# The operator's words for the commands (CLI, scenario files, the wire protocol's COMMAND).
COMMANDS: dict[str, Command] = {
    "close": Command.CLOSE,
    "open": Command.OPEN,
    "reset": Command.FAULT_RESET,
}
