"""Fixtures for the HIL tests: the C protocol node in-process, the recorded fast charge,
and the QEMU requirement (a failure under CI=true, a skip with the reason elsewhere)."""

from __future__ import annotations

import os
import shutil

import pytest

from hil.fastcharge import Recording, record_fastcharge
from hil.provision import provide_elf


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (Debian: apt-get install qemu-system-arm gcc-arm-none-eabi)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the QEMU tests must run, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def qemu_tools() -> None:
    """QEMU and the cross compiler, and the mps2-an386 image of this checkout built (make
    firmware) for every QemuTarget of the session ($BMS_FIRMWARE_ELF, unless given)."""
    require_tools("qemu-system-arm", "arm-none-eabi-gcc")
    provide_elf()


@pytest.fixture(scope="session")
def fastcharge() -> Recording:
    """The recorded 96-cell, 10-minute fast charge (6000 steps)."""
    return record_fastcharge()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long HIL runs (the full SIL = PIL); -m 'not slow' skips them")
