"""Firmware images from a source checkout, for the benches and the test session: `make
firmware BOARD=...` (incremental, one build at a time). The targets never build: QemuTarget
takes the ELF this returns (or $BMS_FIRMWARE_ELF)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from bms.targets.base import TargetError

DEFAULT_BOARD = "mps2-an386"


def checkout(start: Path | None = None) -> Path:
    """The source checkout at or above `start` (default: the working directory): the first
    folder with the Makefile and native/tools/source_hash.py."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "Makefile").is_file() and (d / "native" / "tools" / "source_hash.py").is_file():
            return d
    raise TargetError(f"no source checkout at or above {here}: building firmware needs one")


def build_firmware(board: str = DEFAULT_BOARD, repo: Path | None = None) -> Path:
    """The board's ELF of the checkout, (re)built by make when sources changed."""
    repo = repo or checkout()
    elf = repo / "build" / "firmware" / board / "bms.elf"
    lock_path = repo / "build" / "firmware" / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(
            ["make", "-s", "--no-print-directory", "-C", str(repo), "firmware", f"BOARD={board}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise TargetError(f"make firmware BOARD={board} failed:\n{tail}")
    if not elf.is_file():
        raise TargetError(f"firmware ELF {elf} not found after `make firmware BOARD={board}`")
    return elf


def provide_elf(board: str = DEFAULT_BOARD) -> Path:
    """$BMS_FIRMWARE_ELF where it is set, else the checkout's image built and put there, so
    every QemuTarget of this process (and its children) runs it."""
    from hil.targets.qemu import ELF_ENV

    if not os.environ.get(ELF_ENV):
        os.environ[ELF_ENV] = str(build_firmware(board))
    return Path(os.environ[ELF_ENV])
