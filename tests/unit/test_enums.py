"""bms.enums against the header text, parsed here on its own (a regex, not cffi)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bms import enums
from bms._native import lib

INCLUDE = Path(__file__).resolve().parents[2] / "native" / "include" / "bms"
HEADERS = "\n".join(p.read_text() for p in sorted(INCLUDE.glob("*.h")))
NO_COMMENTS = re.sub(r"/\*.*?\*/", "", HEADERS, flags=re.S)


def c_enum(type_name: str) -> dict[str, int]:
    """The members of ``typedef enum { ... } type_name;`` with their explicit values."""
    m = re.search(r"typedef\s+enum\s*\{([^}]*)\}\s*" + re.escape(type_name) + r"\s*;", NO_COMMENTS)
    assert m, f"{type_name} not found in the headers"
    members = re.findall(r"(\w+)\s*=\s*(-?\d+)", m.group(1))
    return {name: int(v) for name, v in members}


def c_defines(prefix: str) -> dict[str, int]:
    found = re.findall(
        r"^#define\s+(" + prefix + r"\w+)\s+\(?(-?(?:0x[0-9a-fA-F]+|\d+))u?\)?", NO_COMMENTS, re.M
    )
    return {n: int(v, 0) for n, v in found}


CASES = [
    (enums.Fault, "bms_fault_id_t", "BMS_F_"),
    (enums.Quantity, "bms_quantity_t", "BMS_Q_"),
    (enums.Limiting, "bms_limiting_t", "BMS_LIM_"),
    (enums.ContactorState, "bms_contactor_state_t", "BMS_CONTACTOR_"),
    (enums.Command, "bms_command_t", "BMS_CMD_"),
]


@pytest.mark.parametrize(("enum", "c_type", "prefix"), CASES, ids=[c[1] for c in CASES])
def test_enum_has_every_header_member_with_its_value(enum, c_type, prefix):
    members = {n: v for n, v in c_enum(c_type).items() if "_N_" not in n}
    assert members, c_type
    assert {prefix + m.name: int(m) for m in enum} == members


def test_defines_families_match_the_headers():
    assert {"BMS_CMD_R_" + m.name: int(m) for m in enums.CommandResult} == c_defines("BMS_CMD_R_")
    assert {"BMS_ST_" + m.name: int(m) for m in enums.Status} == c_defines("BMS_ST_")
    assert len(enums.Status) == 9 and all(m.value & (m.value - 1) == 0 for m in enums.Status)


@pytest.mark.parametrize(
    ("names", "c_type", "prefix", "count"),
    [
        (enums.FAULT_NAMES, "bms_fault_id_t", "BMS_F_", "BMS_N_FAULTS"),
        (enums.LIMITING_NAMES, "bms_limiting_t", "BMS_LIM_", None),
        (enums.CONTACTOR_STATES, "bms_contactor_state_t", "BMS_CONTACTOR_", None),
    ],
)
def test_every_value_has_its_name_from_the_identifier(names, c_type, prefix, count):
    members = {v: n for n, v in c_enum(c_type).items() if "_N_" not in n}
    assert sorted(members) == list(range(len(names)))  # values 0..n-1, each named
    assert names == tuple(members[v][len(prefix) :].lower() for v in range(len(names)))
    if count is not None:
        assert len(names) == c_enum(c_type)[count] == getattr(lib, count)


def test_names_files_and_reports_use_are_unchanged():
    # the spellings in chemistry files ("emergency_faults"), CSV logs and reports
    assert enums.FAULT_NAMES[:4] == ("cell_ov", "cell_uv", "core_ot_charge", "core_ot_discharge")
    assert enums.FAULT_NAMES[4:11] == (
        "surface_ot_charge",
        "surface_ot_discharge",
        "ut_charge",
        "ut_discharge",
        "oc_charge",
        "oc_discharge",
        "cell_spread",
    )
    assert enums.FAULT_ID["charge_overcurrent"] == 21
    assert enums.FAULT_NAMES[24:27] == ("comm", "estimator", "balancing")
    assert enums.FAULT_NAMES[27:] == (
        "pressure_low_charge",
        "pressure_low_discharge",
        "pressure_high",
        "pressure_sensor",
    )
    assert enums.LIMITING_NAMES[0] == "none" and enums.LIMITING_NAMES[-2:] == ("no_data", "pressure")
    assert enums.N_LIMITING == 15
    assert enums.CONTACTOR_STATES == ("open", "precharge", "closed", "opening")


def test_limiting_names_match_the_dbc_value_table():
    # the CAN layer's generated choices spell the same factors
    prefix = "BMS_CAN_BMS_LIMITS_CHARGE_LIMITING_FACTOR_"
    choices = {
        getattr(lib, n): n[len(prefix) : -len("_CHOICE")].lower() for n in dir(lib) if n.startswith(prefix)
    }
    assert tuple(choices[v] for v in range(len(choices))) == enums.LIMITING_NAMES


def test_commands_map_words_to_the_firmware_codes():
    assert {w: int(c) for w, c in enums.COMMANDS.items()} == {
        "close": lib.BMS_CMD_CLOSE,
        "open": lib.BMS_CMD_OPEN,
        "reset": lib.BMS_CMD_FAULT_RESET,
    }
    assert set(enums.COMMANDS.values()) == set(enums.Command) - {enums.Command.NONE}
