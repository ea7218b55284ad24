"""bms/sim/scenario.py and bms/plant/faults.py: scenarios are validated naming the field."""

import tomllib

import pytest

from bms.errors import ConfigError
from bms.plant.faults import parse_fault
from bms.sim.scenario import SCENARIO_DIR, load_scenario, scenario_from_dict, scenario_to_toml


def _base():
    return tomllib.loads((SCENARIO_DIR / "fastcharge-10-80.toml").read_text())


def _refused(d, *fragments):
    with pytest.raises(ConfigError) as exc:
        scenario_from_dict(d, "s.toml")
    for f in fragments:
        assert f in str(exc.value), str(exc.value)


def test_shipped_scenarios_load():
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
    assert {"fastcharge-10-80", "cold-fastcharge", "drive-then-charge"} <= set(names)
    assert sum(n.startswith("fault-") for n in names) == 15
    for n in names:
        load_scenario(n)


def test_round_trip_through_a_file(tmp_path):
    s = load_scenario("fault-internal-short")
    p = tmp_path / "x.toml"
    p.write_text(scenario_to_toml(s))
    assert load_scenario(p) == s


@pytest.mark.parametrize(
    ("section", "key", "value", "fragments"),
    [
        ("scenario", "chemistry", "unobtainium", ("scenario.chemistry", "unknown chemistry")),
        ("scenario", "soc_start", 1.2, ("scenario.soc_start", "[0, 1]")),
        ("scenario", "soc_target", -0.1, ("scenario.soc_target",)),
        ("scenario", "series", 500, ("scenario.series", "1..192")),
        ("scenario", "duration_s", 0, ("scenario.duration_s",)),
        ("scenario", "mode", "sprint", ("scenario.mode",)),
        ("scenario", "colour", "red", ("unknown field", "colour")),
        ("cooling", "flow_lpm", -3.0, ("cooling.flow_lpm", ">= 0")),
        ("charger", "voltage", 900.0, ("unknown field", "voltage")),
    ],
)
def test_bad_fields_are_named(section, key, value, fragments):
    d = _base()
    d.setdefault(section, {})[key] = value
    _refused(d, *fragments)


def test_bad_faults_are_named():
    d = _base()
    d["faults"] = [{"kind": "ntc_open", "at_s": 10.0, "cell": 500}]
    _refused(d, "faults[0].cell 500 does not exist")
    d["faults"] = [{"kind": "ntc_open", "at_s": 10.0, "cell": 5}]
    _refused(d, "faults[0].cell 5 has no thermistor")
    d["faults"] = [{"kind": "gremlins", "at_s": 10.0}]
    _refused(d, "faults[0].kind 'gremlins'")
    d["faults"] = [{"kind": "cooling_loss", "at_s": 99999.0}]
    _refused(d, "faults[0].at_s")
    d["faults"] = [{"kind": "cooling_loss", "at_s": 1.0, "cell": 3}]
    _refused(d, "not at a cell")
    d["faults"] = [{"kind": "stuck_voltage", "at_s": 1.0}]
    _refused(d, "needs a cell")
    d["extra"] = {}
    _refused(d, "unknown section")


def test_fault_option_syntax():
    f = parse_fault("open_sense_wire:12.5:7")
    assert (f.kind, f.at_s, f.cell) == ("open_sense_wire", 12.5, 7)
    assert parse_fault("comm_loss:3").cell is None
    for bad in ("comm_loss", "comm_loss:x", "ntc_open:1:a", "a:1:2:3"):
        with pytest.raises(ConfigError, match="--fault"):
            parse_fault(bad)
