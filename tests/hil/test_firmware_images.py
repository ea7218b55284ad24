"""The firmware images (`make firmware`): within the flash and RAM budgets at the maximum
cell count, free of heap, stdio, libm and double-precision soft float, and for the S32K144
a flash configuration field that leaves the part unsecured (a wrong byte there can lock it).

Needs arm-none-eabi binutils: a failure under CI=true, a skip elsewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hil.provision import build_firmware, checkout
from tests.hil.conftest import require_tools

FLASH_BUDGET = 64 * 1024
RAM_BUDGET = 32 * 1024
FORBIDDEN = re.compile(
    r"^(malloc|calloc|realloc|free|_sbrk|printf|fprintf|sprintf|snprintf|puts|putchar|fwrite|"
    r"exp|expf|log|logf|pow|powf|sqrt|sqrtf|__aeabi_d\w+|__aeabi_[fi]2d|__aeabi_d2\w+)$"
)


@pytest.fixture(scope="module", params=["mps2-an386", "s32k144evb"])
def elf(request) -> Path:
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm")
    return build_firmware(request.param)


def sections(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    return {
        f[0]: int(f[1])
        for f in (line.split() for line in out.stdout.splitlines())
        if len(f) >= 3 and f[1].isdigit()
    }


def test_flash_within_the_budget_at_192_cells(elf):
    s = sections(elf)
    flash = sum(s.get(k, 0) for k in (".isr_vector", ".flash_config", ".text", ".ARM.exidx", ".data"))
    assert flash <= FLASH_BUDGET, f"{elf.parent.name}: flash {flash} B"


def test_ram_within_the_budget_at_192_cells(elf):
    s = sections(elf)
    ram = sum(s.get(k, 0) for k in (".data", ".bss", ".stack"))
    # 1.50 KiB reserved: the deepest path uses ~1.0 KiB; tests/hil/test_qemu.py checks that
    # >= 512 B of it are never touched after real steps
    assert s[".stack"] >= 1536
    assert ram <= RAM_BUDGET, f"{elf.parent.name}: RAM {ram} B"


def test_no_forbidden_symbols(elf):
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True)
    names = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    assert not {n for n in names if FORBIDDEN.match(n)}
    assert "bms_step" in names and "bms_expf" in names


def test_hard_float_abi(elf):
    out = subprocess.run(
        ["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True, check=True
    )
    assert "Tag_ABI_VFP_args: VFP registers" in out.stdout
    assert "Tag_FP_arch: VFPv4-D16" in out.stdout


def test_s32k144_flash_configuration_field():
    require_tools("arm-none-eabi-objcopy")
    elf = build_firmware("s32k144evb")
    out = checkout() / "build" / "firmware" / "s32k144evb" / "flash_config.bin"
    subprocess.run(
        ["arm-none-eabi-objcopy", "-O", "binary", "-j", ".flash_config", str(elf), str(out)], check=True
    )
    fcf = out.read_bytes()
    assert len(fcf) == 16
    assert fcf[12] == 0xFE  # FSEC: unsecured, mass erase enabled
    assert fcf[13] == 0x7F  # FOPT: NXP's reset value
    assert fcf[:12] == b"\xff" * 12 and fcf[14:] == b"\xff\xff"
    addr = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^00000400 [RrDd] flash_config$", addr, re.M)
