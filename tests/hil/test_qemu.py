"""The firmware on QEMU's mps2-an386 (Cortex-M4F): boot and HELLO, malformed input over
the UART, SIL = PIL on the recorded 10-minute 96-cell fast charge, and what happens when
QEMU hangs or dies (a clear error within the timeout, no process or port left behind).

Needs qemu-system-arm and arm-none-eabi-gcc: a failure under CI=true, a skip elsewhere."""

from __future__ import annotations

import gc
import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bms._native import ffi, lib
from bms.chemistry import load_chemistry
from bms.enums import CONTACTOR_STATES, LIMITING_NAMES
from bms.firmware import Firmware, PackLayout
from bms.targets.base import Measurement
from hil.fastcharge import CLOSE_AT, Recording
from hil.silpil import compare, diff_states
from hil.targets.qemu import QemuError, QemuTarget
from hil.targets.remote import reset_for_a_new_run
from tests.hil.malformed import random_garbage_rounds, run_cases

pytestmark = pytest.mark.usefixtures("qemu_tools")


def qemu_processes_on(port: int) -> list[int]:
    """PIDs of any QEMU whose command line names this port."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and b"qemu-system-arm" in cmd[0] and any(f"port={port}".encode() in a for a in cmd):
            found.append(int(p.name))
    return found


def assert_nothing_left(pid: int, port: int) -> None:
    assert qemu_processes_on(port) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.fixture(scope="module")
def qemu(fastcharge: Recording) -> Iterator[QemuTarget]:
    with QemuTarget() as q:
        q.configure(fastcharge.config)
        yield q
    assert_nothing_left(q.pid, q.port)


def test_boot_hello_agrees_with_this_host(qemu):
    h = qemu.hello
    assert h.board == "mps2-an386"
    assert h.layout_hash == lib.bms_proto_layout_hash()
    assert h.source_hash == lib.bms_hil_source_hash(), (
        "the in-process build and the firmware come from different sources: pip install -e ."
    )
    info = qemu.info()
    assert (info.cycle_unit, info.max_cells) == ("instructions", 192)
    # -icount shift=6: 64 ns of virtual time per instruction, SysTick at 25 MHz = 1.6 ticks each
    assert h.cal_ticks / h.cal_insns == pytest.approx(64 / 40, rel=0.005)
    assert (qemu.log_dir / "console.log").read_text().startswith("bms firmware")


def test_malformed_input_is_counted_and_the_next_frame_answered(qemu):
    assert run_cases(qemu, reply_timeout_s=5.0) == []
    assert random_garbage_rounds(qemu, rounds=8) == []
    assert qemu.link.restarts == 0


def test_lockstep_bit_identical_short(qemu, fastcharge):
    c = compare(Firmware(), qemu, fastcharge, n=400)
    assert c.steps == 400 and c.mismatches == []
    cycles = np.array([s.cycles for s in c.states_b[CLOSE_AT + 5 :]])
    assert cycles.min() > 1000 * 1 and cycles.max() < 10 * np.median(cycles)
    assert qemu.stats()["stack_free"] >= 512  # of the 1.50 KiB stack, after real steps


@pytest.mark.slow
def test_sil_equals_pil_on_the_full_fast_charge(qemu, fastcharge):
    """Every STATE field of all 6000 steps, bit for bit (NaN matches NaN: see hil/silpil.py)."""
    c = compare(Firmware(), qemu, fastcharge)
    assert c.steps == len(fastcharge) == 6000
    assert c.mismatches == [], f"first differences: {c.mismatches[:5]}"
    # and the run is a real fast charge, not a firmware idling with open contactors
    last = c.states_b[-1]
    assert CONTACTOR_STATES[last.contactor_state] == "closed" and last.faults == 0
    assert float(np.min(fastcharge.current_a)) < -2.5 * 20  # ~3C of the 4p pack (20.6 Ah)
    assert last.soc_mean - c.states_b[CLOSE_AT].soc_mean > 0.2
    limits = Counter(LIMITING_NAMES[s.ccl_limit] for s in c.states_b)
    assert {"ramp", "map", "voltage"} <= set(limits)
    print(f"\nSIL=PIL: {c.steps} steps identical, {c.steps / c.seconds_b:.0f} steps/s over QEMU")


def test_firmware_hung_at_boot_fails_clearly(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(QemuError, match=r"QEMU runs but the firmware sent no HELLO within 3 s") as e:
        QemuTarget(boot_timeout_s=3, log_dir=tmp_path, extra_args=("-S",))  # -S: the CPU never starts
    assert time.monotonic() - t0 < 10
    assert f"logs in {tmp_path}" in str(e.value)
    port = int(re.search(r"port=(\d+)", (tmp_path / "qemu.log").read_text()).group(1))
    assert qemu_processes_on(port) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_qemu_hanging_mid_session_fails_within_the_timeout(fastcharge):
    q = QemuTarget(reply_timeout_s=2.0)
    q.configure(fastcharge.config)
    q.step(100, fastcharge.measurement(0))
    os.kill(q.pid, signal.SIGSTOP)  # QEMU stops answering but stays alive
    t0 = time.monotonic()
    hung = r"no reply to STEP .* within 2.0 s and no progress .*: the target is hung: QEMU hung \(killed it\)"
    with pytest.raises(QemuError, match=hung):
        q.step(100, fastcharge.measurement(1))
    assert time.monotonic() - t0 < 2.0 + 3.0
    assert_nothing_left(q.pid, q.port)


def test_qemu_draining_a_garbage_burst_is_busy_not_hung(fastcharge):
    """128 kB of garbage ahead of a request take the emulated UART seconds to drain: the
    link waits while the firmware takes the queued bytes, and the reply arrives."""
    q = QemuTarget(reply_timeout_s=1.0)
    try:
        q.configure(fastcharge.config)
        garbage = bytes(np.random.default_rng(5).integers(1, 256, 128 * 1024, dtype=np.uint8))
        q.link.send_raw(garbage + b"\x00")
        t0 = time.monotonic()
        state = q.step(100, fastcharge.measurement(0))
        print(f"\nreply after a 128 kB burst: {time.monotonic() - t0:.1f} s (reply timeout 1.0 s)")
        assert state.time_ms == 100
    finally:
        q.close()


def test_qemu_dying_mid_session_fails_at_once(fastcharge):
    q = QemuTarget(reply_timeout_s=30.0)
    q.configure(fastcharge.config)
    os.kill(q.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(QemuError, match=r"QEMU exited with signal SIGKILL"):
        q.step(100, fastcharge.measurement(0))
    assert time.monotonic() - t0 < 2.0  # not the 30 s reply timeout
    assert_nothing_left(q.pid, q.port)


def test_an_exception_in_the_with_block_still_cleans_up():
    with pytest.raises(RuntimeError, match="boom"), QemuTarget() as q:
        pid, port = q.pid, q.port
        raise RuntimeError("boom")
    assert_nothing_left(pid, port)


def test_a_dropped_target_is_cleaned_up_by_its_finalizer():
    q = QemuTarget()
    pid, port = q.pid, q.port
    del q
    gc.collect()
    assert_nothing_left(pid, port)


def test_the_largest_frames_192_cells_192_sensors(qemu):
    """STEP and STATE at their maximum size (the UART's receive path must hold back a
    frame of ~1.6 KB without losing a byte) and the same outputs as in-process."""
    chem = load_chemistry("nmc811-graphite")
    fw = Firmware(chem.cell.scaled(4), PackLayout(192, tuple(range(192))), chem.protection)
    cfg = bytes(ffi.buffer(fw.config))
    ref = Firmware()
    ref.configure(cfg)
    reset_for_a_new_run(qemu)  # the fast charge before left the contactors closed
    qemu.configure(cfg)
    rng = np.random.default_rng(3)
    for k in range(20):
        v = (3.7 + 0.002 * rng.standard_normal(192)).astype(np.float32)
        t = (25 + 0.1 * rng.standard_normal(192)).astype(np.float32)
        m = Measurement(-1.0, v, t, 25.0, float(v.sum()), float(v.sum()), 100.0, 8.0, 100 * (k + 1))
        a, b = ref.step(100, m), qemu.step(100, m)
        assert diff_states(a, b) == []
    assert len(b.soc) == 192 and qemu.stats()["rx_overruns"] == 0
