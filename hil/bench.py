"""The HIL figures for `bms bench`: the firmware's cost per STEP on the Cortex-M4F (QEMU,
instructions by -icount), its flash and RAM at the maximum cell count (192), and the
lock-step rate over QEMU's UART.

    run_hil_bench(console) -> dict   (numbers only; what could not be measured is left out
                                      and the reason printed)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bms.targets.base import TargetError
from hil.fastcharge import CLOSE_AT, record_fastcharge

TARGET_INSN_PER_CELL = 600.0
TARGET_FLASH_B = 64 * 1024
TARGET_RAM_B = 32 * 1024
TARGET_STEPS_PER_S = 200.0
BOARDS = ("mps2-an386", "s32k144evb")


def image_sizes(elf: Path) -> tuple[int, int]:
    """(flash, RAM) bytes of an ELF: code, vectors, constants and .data's initial values;
    .data, .bss and the reserved stack."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sec = {
        f[0]: int(f[1])
        for f in (ln.split() for ln in out.stdout.splitlines())
        if len(f) >= 3 and f[1].isdigit()
    }
    flash = sum(sec.get(k, 0) for k in (".isr_vector", ".flash_config", ".text", ".ARM.exidx", ".data"))
    ram = sum(sec.get(k, 0) for k in (".data", ".bss", ".stack"))
    return flash, ram


def _measure_qemu(n_cells: int, n_steps: int) -> dict[str, float]:
    from hil.provision import build_firmware
    from hil.targets.qemu import QemuTarget

    rec = record_fastcharge(n_steps=n_steps, n_cells=n_cells)
    with QemuTarget(build_firmware()) as q:
        q.configure(rec.config)
        cycles = []
        t0 = time.perf_counter()
        for k in range(len(rec)):
            s = q.step(int(rec.dt_ms[k]), rec.measurement(k), rec.commands[k])
            cycles.append(s.cycles)
        seconds = time.perf_counter() - t0
        stack_free = q.stats()["stack_free"]
    running = np.array(cycles[CLOSE_AT + 5 :], dtype=float)  # estimators and limits all running
    return {
        "insn_median": float(np.median(running)),
        "insn_max": float(np.max(running)),
        "steps_per_s": len(rec) / seconds,
        "stack_free": float(stack_free),
    }


def run_hil_bench(console: Console, n_steps: int = 1200) -> dict[str, float]:
    results: dict[str, float] = {}
    table = Table(title="firmware on the Cortex-M4F (issue 5 targets)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")

    if shutil.which("arm-none-eabi-gcc") is None:
        console.print("[yellow]HIL bench skipped: arm-none-eabi-gcc not installed[/yellow]")
        return results
    from hil.provision import build_firmware

    for board in BOARDS:
        try:
            flash, ram = image_sizes(build_firmware(board))
        except (TargetError, subprocess.CalledProcessError) as exc:
            console.print(f"[red]{board}: {exc}[/red]")
            continue
        key = board.replace("-", "_")
        results[f"flash_bytes_192_{key}"] = float(flash)
        results[f"ram_bytes_192_{key}"] = float(ram)
        table.add_row(f"flash, 192 cells ({board})", f"{flash / 1024:.1f} KiB", "<= 64 KiB")
        table.add_row(f"RAM incl. 1.50 KiB stack, 192 cells ({board})", f"{ram / 1024:.1f} KiB", "<= 32 KiB")

    if shutil.which("qemu-system-arm") is None:
        console.print(table)
        console.print("[yellow]QEMU part skipped: qemu-system-arm not installed[/yellow]")
        return results
    try:
        big = _measure_qemu(96, n_steps)
        small = _measure_qemu(8, min(n_steps, 300))
    except TargetError as exc:
        console.print(table)
        console.print(f"[red]QEMU part failed: {exc}[/red]")
        return results
    per_cell = big["insn_median"] / 96
    marginal = (big["insn_median"] - small["insn_median"]) / (96 - 8)
    fixed = big["insn_median"] - 96 * marginal
    results.update(
        insn_per_step_96=big["insn_median"],
        insn_per_step_96_max=big["insn_max"],
        insn_per_step_per_cell_96=per_cell,
        insn_per_cell_marginal=marginal,
        insn_per_step_fixed=fixed,
        pil_steps_per_s_96=big["steps_per_s"],
        pil_steps_per_s_8=small["steps_per_s"],
        stack_free_bytes=big["stack_free"],
    )
    table.add_row("instructions per STEP, 96 cells (median)", f"{big['insn_median']:,.0f}", "")
    table.add_row("  per cell", f"{per_cell:,.0f}", f"<= {TARGET_INSN_PER_CELL:.0f}")
    table.add_row("  marginal per cell (96 vs 8 cells)", f"{marginal:,.0f}", "")
    table.add_row("  fixed per step", f"{fixed:,.0f}", "")
    table.add_row(
        "PIL lock-step over QEMU, 96 cells",
        f"{big['steps_per_s']:.0f} steps/s",
        f">= {TARGET_STEPS_PER_S:.0f}",
    )
    table.add_row("PIL lock-step over QEMU, 8 cells", f"{small['steps_per_s']:.0f} steps/s", "")
    table.add_row("stack never used (of 1.50 KiB)", f"{big['stack_free']:.0f} B", "")
    console.print(table)
    return results
