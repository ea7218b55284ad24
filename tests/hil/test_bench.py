"""hil.bench.run_hil_bench (what `bms bench` prints for the firmware on the Cortex-M4F):
a short run returns every figure, each plausible."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from hil.bench import run_hil_bench

pytestmark = pytest.mark.usefixtures("qemu_tools")


def test_short_hil_bench_reports_every_figure():
    out = io.StringIO()
    r = run_hil_bench(Console(file=out, width=120), n_steps=80)
    for board in ("mps2_an386", "s32k144evb"):
        assert 10_000 < r[f"flash_bytes_192_{board}"] <= 64 * 1024
        assert 20_000 < r[f"ram_bytes_192_{board}"] <= 40 * 1024  # the 32 KiB budget: test_firmware_images
    # 96 cells cost more than 8; the per-cell figure is the step over the cell count
    assert r["insn_per_step_96"] > r["insn_per_step_fixed"] > 0
    assert r["insn_per_step_per_cell_96"] == pytest.approx(r["insn_per_step_96"] / 96)
    assert r["insn_per_cell_marginal"] > 0
    assert r["pil_steps_per_s_8"] > r["pil_steps_per_s_96"] > 1
    assert 0 < r["stack_free_bytes"] < 1536
    assert "instructions per STEP, 96 cells" in out.getvalue()
