"""Campaign files: refusals that name the field and the rule (and `bms campaign` exits 2 with
that line, before any cluster starts); sampling that depends on (seed, run index) only."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
from click.testing import CliRunner

from bms.campaign.distributions import Normal, RandInt, Uniform, parse_distribution
from bms.campaign.sampling import sample_run
from bms.campaign.spec import available, load_campaign
from bms.cli import main
from bms.errors import ConfigError
from bms.sim.scenario import validate
from tests.campaign.conftest import SMALL, write_campaign

HEAD = '[campaign]\nbase = "fastcharge-10-80"\nruns = 4\n'

BAD = [
    ("[campaign]\nbase = 'fastcharge-10-80'\nruns = 0\n", "field 'campaign.runs' must be an integer >= 1"),
    ("[campaign]\nbase = 'fastcharge-10-80'\nruns = 2.5\n", "field 'campaign.runs' must be an integer >= 1"),
    ("[campaign]\nruns = 3\n", "missing field(s) in 'campaign': base"),
    ("[campaign]\nbase = 'no-such'\nruns = 3\n", "field 'campaign.base': unknown scenario 'no-such'"),
    (HEAD + "colour = 'red'\n", "unknown field(s) in 'campaign': colour"),
    (HEAD + "[extra]\n", "unknown field(s) in 'top level': extra"),
    (HEAD + "[sample]\nambient = 20.0\n", "unknown field(s) in 'sample': ambient"),
    (HEAD + "[sample.spread]\nwidth = 1.0\n", "unknown field(s) in 'sample.spread': width"),
    (
        HEAD + "[sample]\nambient_c = { uniform = [30.0, 10.0] }\n",
        "'sample.ambient_c': uniform needs [lo, hi] with lo < hi",
    ),
    (
        HEAD + "[sample]\nambient_c = { normal = [20.0, 0.0] }\n",
        "'sample.ambient_c': normal needs [mean, sigma] with sigma > 0",
    ),
    (
        HEAD + "[sample]\nambient_c = { gamma = [1, 2] }\n",
        "'sample.ambient_c': a table must name one distribution",
    ),
    (
        HEAD + "[sample]\nambient_c = { uniform = [1, 2], clip = [0, 3] }\n",
        "'sample.ambient_c': clip goes with normal only",
    ),
    (
        HEAD + "[sample]\nseries = { uniform = [8, 12] }\n",
        "'sample.series': an integer field takes a value, choice or randint",
    ),
    (
        HEAD + "[sample]\nambient_c = { randint = [8, 12] }\n",
        "'sample.ambient_c': randint is for integer fields",
    ),
    (HEAD + "[sample]\nmode = { uniform = [0, 1] }\n", "'sample.mode': a str field takes a value or choice"),
    (
        HEAD + "[sample]\nsoc_start = { uniform = [0.5, 1.5] }\n",
        "'sample.soc_start' = 1.5 gives an invalid scenario",
    ),
    (
        HEAD + "[sample]\nchemistry = 'unobtainium'\n",
        "field 'sample.chemistry': unknown chemistry 'unobtainium'",
    ),
    (HEAD + "[sample]\nchemistry = 'missing.toml'\n", "chemistry file not found"),
    (
        HEAD + "[faults]\nkinds = ['gremlins']\nat_s = 10.0\n",
        "field 'faults.kinds': 'gremlins' is not a fault kind",
    ),
    (HEAD + "[faults]\nkinds = []\nat_s = 10.0\n", "field 'faults.kinds' must be a non-empty list"),
    (HEAD + "[faults]\nkinds = ['ntc_open']\n", "missing field(s) in 'faults': at_s"),
    (
        HEAD + "[faults]\nkinds = ['ntc_open']\nat_s = 10.0\nprobability = 2\n",
        "'faults.probability' must be a finite number within [0, 1], got 2",
    ),
    (
        HEAD + "[faults]\nkinds = ['ntc_open']\nat_s = { uniform = [10.0, 9000.0] }\n",
        "'faults.at_s': 9000 s is outside the run",
    ),
    (
        HEAD + "[faults]\nkinds = ['ntc_open']\nat_s = 5.0\nvalue = 2.0\n",
        "'faults.value': ntc_open take no value",
    ),
    (HEAD + "[abs_max]\ncell_v = -1\n", "field 'abs_max.cell_v' must be a finite number > 0, got -1"),
    (HEAD + "[sample\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_campaign_is_refused_naming_the_field(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_campaign(p)
    assert message in str(exc.value) and str(p) in str(exc.value)


@pytest.mark.parametrize(("text", "message"), BAD[::5])
def test_bms_campaign_exits_2_with_one_line(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    r = CliRunner().invoke(main, ["campaign", str(p), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.startswith("error:") and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()  # refused before anything was started or written


def test_missing_and_unknown_campaigns(tmp_path):
    r = CliRunner().invoke(main, ["campaign", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nope.toml: campaign file not found" in r.output
    r = CliRunner().invoke(main, ["campaign", "nope", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown campaign 'nope'; shipped: " in r.output
    r = CliRunner().invoke(
        main, ["campaign", str(write_campaign(tmp_path)), "--out", str(tmp_path / "o"), "--workers", "0"]
    )
    assert r.exit_code == 2 and "--workers must be >= 1" in r.output


@pytest.mark.parametrize("name", available())
def test_shipped_campaigns_load_and_sample_valid_scenarios(name):
    c = load_campaign(name)
    assert c.runs >= 100
    for i in range(0, c.runs, max(1, c.runs // 25)):
        validate(sample_run(c, i).scenario)


def test_sampling_depends_on_seed_and_index_only(tmp_path):
    c = load_campaign(write_campaign(tmp_path, runs=40, seed=3))
    forward = [asdict(sample_run(c, i).scenario) for i in range(40)]
    backward = [asdict(sample_run(c, i).scenario) for i in reversed(range(40))][::-1]
    assert forward == backward
    assert len({s["seed"] for s in forward}) == 40  # every run its own noise and spread
    more = load_campaign(write_campaign(tmp_path, runs=80, seed=3))
    assert [asdict(sample_run(more, i).scenario) for i in range(40)] == forward
    other = load_campaign(write_campaign(tmp_path, runs=40, seed=4))
    assert [asdict(sample_run(other, i).scenario) for i in range(40)] != forward
    # one more sampled field leaves the others' draws as they were
    extra = SMALL.replace("[sample.spread]", "close_at_s = {{ uniform = [0.5, 2.0] }}\n\n[sample.spread]")
    plus = load_campaign(write_campaign(tmp_path, runs=40, seed=3, text=extra))
    for i in range(40):
        a, b = sample_run(c, i).params, sample_run(plus, i).params
        assert {k: v for k, v in b.items() if k != "close_at_s"} == a


def test_draws_follow_their_distributions(tmp_path):
    c = load_campaign(write_campaign(tmp_path, runs=400, seed=1))
    runs = [sample_run(c, i) for i in range(400)]
    amb = [r.scenario.ambient_c for r in runs]
    assert min(amb) >= 10.0 and max(amb) < 35.0 and abs(sum(amb) / 400 - 22.5) < 1.5
    res = [r.scenario.spread.resistance for r in runs]
    assert min(res) >= 0.0 and max(res) <= 0.05
    with_fault = [r for r in runs if r.scenario.faults]
    assert abs(len(with_fault) / 400 - 0.7) < 0.08
    for r in with_fault:
        f = r.scenario.faults[-1]
        assert 20.0 <= f.at_s <= 90.0
        if f.kind == "ntc_short":
            assert f.cell in r.scenario.sensed
    assert {r.scenario.faults[-1].kind for r in with_fault} == set(c.faults.kinds)


def test_distribution_parsing():
    assert parse_distribution({"uniform": [1, 2]}, "float", "x") == Uniform(1.0, 2.0)
    assert parse_distribution({"normal": [1, 2], "clip": [0, 3]}, "float", "x") == Normal(
        1.0, 2.0, (0.0, 3.0)
    )
    assert parse_distribution({"randint": [8, 12]}, "int", "x") == RandInt(8, 12)
    assert parse_distribution(3, "float", "x").value == 3.0
    with pytest.raises(ConfigError, match="finite number"):
        parse_distribution(math.inf, "float", "x")
    with pytest.raises(ConfigError, match="must be true or false"):
        parse_distribution({"choice": [1]}, "bool", "x")
    # the one integer rule of bms.schema: a whole number, 3 or 3.0
    assert parse_distribution(3.0, "int", "x").value == 3
    with pytest.raises(ConfigError, match=r"field 'x' must be an integer, got 2\.5"):
        parse_distribution(2.5, "int", "x")
    with pytest.raises(ConfigError, match="field 'x' must be text, got 4"):
        parse_distribution(4, "str", "x")
