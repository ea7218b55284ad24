from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

# `make mutation` runs the tests against a mutated build of the firmware: load that
# extension as bms._native before anything imports the real one.
_override = os.environ.get("BMS_NATIVE_OVERRIDE")
if _override:
    _loader = importlib.machinery.ExtensionFileLoader("bms._native", _override)
    _spec = importlib.util.spec_from_loader("bms._native", _loader)
    assert _spec is not None
    _mod = importlib.util.module_from_spec(_spec)
    _loader.exec_module(_mod)
    sys.modules["bms._native"] = _mod

import pytest  # noqa: E402
from hypothesis import Phase, settings  # noqa: E402

# The profiles ci / nightly / thousand / dev come with the bms pytest plugin
# (hil/pytest_plugin.py, selected by --hypothesis-profile, BMS_HYPOTHESIS_PROFILE or
# HYPOTHESIS_PROFILE); `make mutation` runs with this one.
# no shrinking: a mutant is killed by the first failure; the smallest example is not needed
settings.register_profile(
    "mutation",
    derandomize=True,
    deadline=None,
    max_examples=100,
    phases=[Phase.explicit, Phase.generate],
)

from hil.pytest_plugin import load_profile  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """This suite's property tests size themselves from the profile when they are imported:
    it loads the plugin's profile (ci unless chosen) and seed with or without a target. A
    session on QEMU runs this checkout's image (built here: the target never builds)."""
    load_profile(config)
    if (config.getoption("--bms-target") or os.environ.get("BMS_TARGET")) == "qemu":
        from hil.provision import provide_elf

        provide_elf()


from bms.bench import shipped_cell  # noqa: E402
from bms.cells import CellModel  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("BMS_REFERENCE_DATA", REPO / "tests" / "data" / "reference" / "chen2020-25c"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="session")
def lgm50() -> CellModel:
    """The shipped LG M50 cell model (shared: tests must not modify it)."""
    return shipped_cell()
