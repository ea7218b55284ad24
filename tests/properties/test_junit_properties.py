"""The JUnit XML a run writes carries the firmware and run identity (issue 6): a pytest
run in a subprocess on the session's target, its XML read back and compared with what the
target itself reports."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bms.chemistry import load_chemistry
from bms.sim.configure import firmware_config
from bms.sim.scenario import load_scenario
from hil.targets.remote import configure_for_a_new_run

PROBE = """
def test_the_target_answers(bms_target):
    assert bms_target.info().max_cells >= 192
"""


def test_junit_xml_has_the_firmware_and_run_properties(tmp_path: Path, bms_target, bms_target_spec):
    (tmp_path / "test_probe.py").write_text(PROBE)
    xml = tmp_path / "junit.xml"
    env = dict(os.environ, BMS_HYPOTHESIS_PROFILE="nightly")
    env.pop("BMS_HYPOTHESIS_SEED", None)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--bms-target={bms_target_spec}",
            f"--junitxml={xml}",
            str(tmp_path / "test_probe.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    suite = ET.parse(xml).getroot().find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}

    # what the target says about itself, configured as the plugin configures it
    scn = load_scenario("fastcharge-10-80")
    configure_for_a_new_run(bms_target, firmware_config(load_chemistry(scn.chemistry), scn))
    info = bms_target.info()
    assert props["bms_target"] == bms_target_spec
    assert props["fw_version"] == str(info.fw_version)
    assert props["fw_build_hash"] == str(info.build_hash)
    assert props["config_hash"] == str(info.config_hash)
    assert props["hypothesis_profile"] == "nightly"
    # a randomised profile records the seed it drew, so the run can be repeated
    assert props["hypothesis_seed"].isdigit()
    assert "bms_target_error" not in props
