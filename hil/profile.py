"""Where the firmware's instructions go, function by function, on the Cortex-M4F (QEMU).

QEMU logs every translation block it translates (-d in_asm: the block's instructions) and
every block it executes (-d exec,nochain: its PC, with chaining off so none is skipped).
Summing each executed block's instruction count under the function that contains it gives
the exact self cost (callees excluded) of every function over the measured steps. Run
without -icount (see below); its total for bms_step and callees agrees with what the
firmware's own SysTick measurement reports under -icount (202,201 vs 202,328 instructions
per step at 96 cells when this was written), so each cross-checks the other.

    python -m hil.profile [--cells 96] [--steps 20]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hil.fastcharge import record_fastcharge
from hil.provision import build_firmware
from hil.targets.qemu import QemuTarget

_IN = re.compile(r"^IN: ?(\S*)")
_INSN = re.compile(r"^0x([0-9a-f]{8}):")
_EXEC = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
# The step's code: every function defined in native/src but the wire and CAN layers (their
# source file, from the ELF's debug lines: static helpers and .constprop clones included)
NON_CORE_SOURCES = ("protocol.c", "hil_node.c", "can_layer.c")


def symbols(elf: Path) -> tuple[list[tuple[int, int, str]], set[str]]:
    """The ELF's functions (start, size, name), sorted, and the names of the core's."""
    out = subprocess.run(
        ["arm-none-eabi-nm", "-S", "-l", "--defined-only", str(elf)], capture_output=True, text=True
    )
    syms = []
    core: set[str] = set()
    for line in out.stdout.splitlines():
        head, _, where = line.partition("\t")
        f = head.split()
        if len(f) == 4 and f[2] in "tT":
            syms.append((int(f[0], 16) & ~1, int(f[1], 16), f[3]))
            src = Path(where.rpartition(":")[0])
            in_src = src.parent.name == "src" and src.parent.parent.name == "native"
            if in_src and src.name not in NON_CORE_SOURCES:
                core.add(f[3])
    return sorted(syms), core


def function_at(syms: list[tuple[int, int, str]], pc: int) -> str:
    lo, hi = 0, len(syms) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        start, size, name = syms[mid]
        if pc < start:
            hi = mid - 1
        elif pc >= start + size:
            lo = mid + 1
        else:
            return name
    return f"?0x{pc:x}"


def profile(n_cells: int = 96, n_steps: int = 20, warmup: int = 200) -> tuple[Counter[str], set[str]]:
    """Self instructions per function over n_steps STEPs after warmup, and the core's names."""
    rec = record_fastcharge(n_steps=warmup + n_steps, n_cells=n_cells)
    elf = build_firmware()
    syms, core_names = symbols(elf)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace.log"
        # without -icount: an icount budget splits translation blocks into one-off shorter
        # ones at the same PC, which this per-PC count cannot tell apart
        trace = ("-d", "in_asm,exec,nochain", "-D", str(log))
        with QemuTarget(elf, icount_shift=None, extra_args=trace) as q:
            q.configure(rec.config)
            for k in range(warmup):
                q.step(int(rec.dt_ms[k]), rec.measurement(k), rec.commands[k])
            start = log.stat().st_size
            for k in range(warmup, warmup + n_steps):
                q.step(int(rec.dt_ms[k]), rec.measurement(k), rec.commands[k])
            proc = q.process
            if proc is not None:  # a clean exit writes out QEMU's buffered log
                proc.terminate()
                proc.wait(60)
        sizes: dict[int, int] = {}
        counts: Counter[str] = Counter()
        with open(log, errors="replace") as f:
            block_pc = None
            for pos, line in _lines_with_offsets(f):
                m = _INSN.match(line)
                if m:
                    pc = int(m.group(1), 16)
                    if block_pc is None:
                        block_pc = pc
                        sizes[pc] = 0
                    sizes[block_pc] += 1
                    continue
                block_pc = None
                if pos < start:
                    continue
                m = _EXEC.match(line)
                if m:
                    pc = int(m.group(1), 16)
                    counts[function_at(syms, pc)] += sizes.get(pc, 0)
    return counts, core_names


def _lines_with_offsets(f):  # type: ignore[no-untyped-def]
    pos = 0
    for line in f:
        yield pos, line
        pos += len(line.encode(errors="replace"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=96)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    counts, core_names = profile(args.cells, args.steps)
    core = {k: v for k, v in counts.items() if k in core_names}
    total_core = sum(core.values())
    tab = Table(title=f"self instructions per STEP by function ({args.cells} cells, {args.steps} steps)")
    for col in ("function", "per step", "per cell", "% of bms_step"):
        tab.add_column(col, justify="right" if col != "function" else "left")
    for name, n in sorted(core.items(), key=lambda kv: -kv[1]):
        per = n / args.steps
        tab.add_row(name, f"{per:,.0f}", f"{per / args.cells:,.1f}", f"{100 * n / total_core:.1f}")
    other = Table(title="the rest: UART, protocol, shared library code (memcpy may serve bms_step too)")
    other.add_column("function")
    other.add_column("per step", justify="right")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if name not in core and n / args.steps >= 100:
            other.add_row(name, f"{n / args.steps:,.0f}")
    console = Console()
    console.print(tab)
    console.print(other)
    console.print(
        f"bms_step and callees: {total_core / args.steps:,.0f} instructions per step; "
        f"everything else (UART, protocol): {(sum(counts.values()) - total_core) / args.steps:,.0f}"
    )


if __name__ == "__main__":
    main()
