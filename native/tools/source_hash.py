"""Hash of the firmware sources (native/src/*.c, native/include/bms/*.h, native/gen/*).

The cffi build (bms/_native_build.py) and `make firmware` both compile it into the
firmware as BMS_SOURCE_HASH; HELLO reports it, so the harness can tell whether an ELF
and the in-process build come from the same sources. Prints 0x%08x when run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source_files(root: Path = ROOT) -> list[Path]:
    native = root / "native"
    return sorted(
        [*(native / "src").glob("*.c"), *(native / "include" / "bms").glob("*.h"), *(native / "gen").glob("*.[ch]")]
    )


def source_hash(root: Path = ROOT) -> int:
    h = hashlib.sha256()
    for f in source_files(root):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return int.from_bytes(h.digest()[:4], "big")


if __name__ == "__main__":
    print(f"0x{source_hash():08x}")
