"""cffi builder for the firmware core (API mode, out-of-line).

setup.py names this module in ``cffi_modules``; ``pip install .`` compiles the
C sources in ``native/src`` into ``bms._native``. The cdef is read from the
public headers themselves, so C and Python cannot drift apart.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"
INCLUDE = NATIVE / "include"
# Order matters: each header only uses what the previous ones declared.
HEADERS = [
    "bms/bms_config.h",
    "bms/bms_math.h",
    "bms/cell_model.h",
    "bms/hysteresis.h",
    "bms/soc_ekf.h",
    "bms/thermal_observer.h",
    "bms/faults.h",
    "bms/plausibility.h",
    "bms/safety.h",
    "bms/contactor.h",
    "bms/current_limit.h",
    "bms/charger_monitor.h",
    "bms/soh.h",
    "bms/balancing.h",
    "bms/sop.h",
    "bms/bms.h",
    "bms/protocol.h",
    "bms/hil_node.h",
    "bms/can_layer.h",
]
# The CAN pack/unpack code cantools generates from the DBC (native/tools/can_gen.py); its
# header is in the cdef too, so the tests can round-trip every message through it.
GEN = NATIVE / "gen"
GEN_HEADERS = ["bms_can.h"]
CORE_SOURCES = sorted(str(p.relative_to(ROOT)) for p in [*(NATIVE / "src").glob("*.c"), *GEN.glob("*.c")])
# Same float semantics as the Cortex-M4F build: no contraction into FMA, so the
# host and the target round every operation identically.
COMPILE_ARGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra"]
# The same hash `make firmware` compiles into the target (native/tools/source_hash.py):
# HELLO reports it, so an ELF built from other sources is recognised.
SOURCE_HASH = runpy.run_path(str(NATIVE / "tools" / "source_hash.py"))["source_hash"](ROOT)

_DEFINE_INT = re.compile(r"^#define\s+(\w+)\s+\(?(-?(?:0x[0-9a-fA-F]+|\d+))[uUlL]*\)?\s*$")


def header_cdef(text: str) -> str:
    """Reduce a header to what cffi's cdef understands.

    Keeps integer ``#define``s (suffixes and parentheses removed) and all
    declarations; drops comments, include guards and other directives.
    """
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = _DEFINE_INT.match(stripped)
            if m:
                value = int(m.group(2), 0)
                out.append(f"#define {m.group(1)} {value}")
            continue
        out.append(line)
    return "\n".join(out)


def build_cdef() -> str:
    texts = [(INCLUDE / h).read_text() for h in HEADERS]
    # generated headers: without their C++ guard (extern "C" { ... })
    texts += [re.sub(r'extern "C" \{|\n\}\n', "\n", (GEN / h).read_text()) for h in GEN_HEADERS]
    return "\n".join(header_cdef(t) for t in texts)


ffibuilder = FFI()
ffibuilder.cdef(build_cdef())
ffibuilder.set_source(
    "bms._native",
    "\n".join(f'#include "{h}"' for h in [*HEADERS, *GEN_HEADERS]),
    sources=CORE_SOURCES,
    include_dirs=[str(INCLUDE), str(GEN)],
    extra_compile_args=COMPILE_ARGS,
    define_macros=[("BMS_SOURCE_HASH", f"0x{SOURCE_HASH:08x}u")],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
