"""bms/protection.py and bms/chemistry.py: protection files are validated; every refusal
names the field and the rule."""

import copy
import tomllib

import pytest

from bms.chemistry import CHEMISTRY_DIR, available, chemistry_from_dict, load_chemistry
from bms.errors import ConfigError
from bms.firmware import Firmware, PackLayout


@pytest.fixture
def nmc():
    return tomllib.loads((CHEMISTRY_DIR / "nmc811-graphite.toml").read_text())


def _refused(d, *fragments):
    with pytest.raises(ConfigError) as exc:
        chemistry_from_dict(d, "x.toml", CHEMISTRY_DIR)
    msg = str(exc.value)
    for f in fragments:
        assert f in msg, msg


def test_shipped_profiles_load_and_configure_the_firmware():
    assert "nmc811-graphite" in available()
    for name in available():
        c = load_chemistry(name)
        Firmware(c.cell.scaled(2), PackLayout(4, (0, 3)), c.protection)


def test_misordered_tiers(nmc):
    d = copy.deepcopy(nmc)
    d["limits"]["cell_v_max"]["derate"]["threshold"] = 4.30
    _refused(d, "limits.cell_v_max", "warning < derate < trip")
    d = copy.deepcopy(nmc)
    d["limits"]["temp_min_charge"]["trip"]["threshold"] = 20.0
    _refused(d, "limits.temp_min_charge", "warning > derate > trip")


def test_negative_debounce_and_hysteresis(nmc):
    d = copy.deepcopy(nmc)
    d["limits"]["cell_v_min"]["trip"]["debounce_ms"] = -5
    _refused(d, "limits.cell_v_min.trip.debounce_ms", "within [0, 3600000] ms, got -5")
    d = copy.deepcopy(nmc)
    d["limits"]["cell_v_min"]["warning"]["hysteresis"] = -0.1
    _refused(d, "limits.cell_v_min.warning.hysteresis")
    d = copy.deepcopy(nmc)
    d["limits"]["cell_v_min"]["warning"]["debounce_ms"] = 1.5
    _refused(d, "debounce_ms", "integer")


def test_wrong_shaped_maps(nmc):
    d = copy.deepcopy(nmc)
    d["charge"]["map"]["plating_c"] = d["charge"]["map"]["plating_c"][:-1]
    _refused(d, "charge.map.plating_c", "shape")
    d = copy.deepcopy(nmc)
    d["charge"]["map"]["charge_c"][2][3] = -1.0
    _refused(d, "charge.map.charge_c", ">= 0")
    d = copy.deepcopy(nmc)
    d["charge"]["map"]["soc"] = [0.0, 0.5, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 1.0]
    _refused(d, "charge.map.soc", "strictly increasing")


def test_missing_unknown_and_cross_rules(nmc):
    d = copy.deepcopy(nmc)
    del d["limits"]["cell_v_spread"]
    _refused(d, "missing", "cell_v_spread")
    d = copy.deepcopy(nmc)
    d["limits"]["cell_v_max"]["warning"]["slope"] = 1
    _refused(d, "unknown", "slope")
    d = copy.deepcopy(nmc)
    d["charge"]["cell_v_charge_max_v"] = 4.25
    _refused(d, "charge.cell_v_charge_max_v", "limits.cell_v_max.warning")
    d = copy.deepcopy(nmc)
    d["charge"]["resume_soc"] = 0.9
    _refused(d, "resume_soc < target_soc")
    d = copy.deepcopy(nmc)
    d["abs_max"]["cell_v"] = 4.2
    _refused(d, "abs_max.cell_v")


def test_unknown_chemistry_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown chemistry .nmc9000.*nmc811-graphite"):
        load_chemistry("nmc9000")
