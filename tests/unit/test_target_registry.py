"""bms.targets.registry: one table of targets for `bms simulate --target` and `--bms-target`."""

import subprocess
import sys

import pytest

from bms.firmware import Firmware
from bms.targets.base import TargetError
from bms.targets.registry import BACKENDS, capabilities, names, open_target, parse_spec


def test_the_core_has_sim_and_hil_registers_the_rest():
    assert set(BACKENDS) >= {"sim"}
    assert names()[0] == "sim"
    assert set(names()) == {"sim", "sim-wire", "qemu", "serial", "can"}
    assert "can" in capabilities("can:virtual") and "wire" in capabilities("sim-wire")
    assert "needs_process" in capabilities("qemu") and "hardware" in capabilities("serial:loop://")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("fpga", "unknown target 'fpga': use one of sim, "),
        ("serial:", "target 'serial:' needs a port or pyserial URL"),
        ("sim:x", "target 'sim:x' takes no argument"),
        ("qemu:fast", "takes no argument"),
    ],
)
def test_bad_specs_are_refused_with_the_rule(spec, fragment):
    with pytest.raises(TargetError, match=fragment):
        parse_spec(spec)


def test_open_sim_and_sim_wire():
    with open_target("sim") as t:
        assert isinstance(t, Firmware) and t.info().name == "sim"
    with open_target("sim-wire") as t:
        assert t.info().name == "sim-wire"


def test_a_failure_to_open_names_the_spec():
    with pytest.raises(TargetError, match="target 'can:bogus': unknown CAN bus 'bogus'"):
        open_target("can:bogus")


PROBE = """
def test_the_target_answers(bms_target):
    assert bms_target.info().max_cells >= 192
"""


@pytest.mark.parametrize(("spec", "code"), [("sim-wire", 0), ("can:virtual", 0), ("fpga", 4)])
def test_the_plugin_takes_every_registered_target(tmp_path, spec, code):
    (tmp_path / "test_probe.py").write_text(PROBE)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--bms-target={spec}",
            "test_probe.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == code, r.stdout + r.stderr
    if code:
        assert "unknown target 'fpga'" in r.stderr
    else:
        assert "1 passed" in r.stdout and f"bms target: {spec}" in r.stdout
