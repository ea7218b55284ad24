"""The closed loop over CAN: the same firmware decisions as the direct path, the comm-loss
fault, refused frames, python-can buses (virtual, udp_multicast between processes, slcan over
pyserial URLs) and logs that Vector-style and cantools tools read."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import can
import numpy as np
import pytest

from bms.enums import FAULT_ID
from bms.firmware import Firmware
from bms.sim.loop import ClosedLoop, run
from bms.sim.runlog import LOG_FIELDS
from bms.sim.scenario import load_scenario
from bms.targets.base import TargetError
from hil.can import codec
from hil.can.bus import open_bus
from hil.can.slcan_adapter import SlcanAdapter
from hil.targets.can import CanTarget

RESOLUTION_A = codec.message("BMS_Limits").get_signal_by_name("ChargeCurrentLimit").scale
CHARGER_STEP_A = codec.message("CHG_Limits").get_signal_by_name("ChargerMaxCurrent").scale
DECISIONS = ("ccl_limit", "dcl_limit", "contactor_state", "faults", "warnings", "charge_complete")


def scenario(name: str = "fastcharge-10-80", **kw):
    base = dict(series=12, parallel=2, duration_s=300.0)
    return replace(load_scenario(name), **{**base, **kw})


def _round_half_away(x: np.float32) -> int:
    return int(np.sign(x) * np.floor(np.abs(x) + np.float32(0.5)))


def _charger_limit(v: float, scale: float) -> float:
    """The charger's limit as the generated C decodes it in float32 after the partner sent it
    rounded down to the step (cantools encodes the exact multiple)."""
    if not np.isfinite(v):
        return v
    raw = int(np.floor(v / scale + 1e-9))
    return float(np.float32(raw) * np.float32(scale))


def _dbc_floor(v: float, scale: float) -> float:
    """A limit as can_layer.c sends it (float32 encode rounded, stepped down if above v) and
    cantools decodes it, computed again here in numpy float32."""
    v32 = np.float32(v)
    raw = _round_half_away(np.float32(v32 / np.float32(scale)))
    if raw > 0 and np.float32(raw) * np.float32(scale) > v32:
        raw -= 1
    return raw * scale


class QuantizedDirect(Firmware):
    """The direct path with the DBC's scaling where the CAN path has it: the charger's
    limit reaches the firmware rounded down to ChargerMaxCurrent's step, and the charger
    obeys the CCL / DCL rounded down to ChargeCurrentLimit's step."""

    def step(self, dt_ms, meas, command=None):
        meas = replace(meas, charger_max_a=_charger_limit(meas.charger_max_a, CHARGER_STEP_A))
        st = super().step(dt_ms, meas, command)
        return replace(
            st, limits_bus=(_dbc_floor(st.ccl_a, RESOLUTION_A), _dbc_floor(st.dcl_a, RESOLUTION_A))
        )


@pytest.mark.parametrize(
    "name,kw",
    [
        ("fastcharge-10-80", {}),
        ("fastcharge-10-80", {"soc_start": 0.70, "duration_s": 600.0}),  # into the CV phase, complete
        ("fault-charger-overshoot", {"duration_s": 200.0}),
        ("fault-internal-short", {"duration_s": 200.0}),
    ],
    ids=["cc", "to-complete", "charger-overshoot", "internal-short"],
)
def test_can_path_makes_the_direct_paths_decisions_step_for_step(name, kw):
    scn = scenario(name, **kw)
    direct = run(scn, QuantizedDirect())
    with CanTarget("virtual:equiv") as tg:
        over_can = run(scn, tg)
    assert len(over_can.log["time_s"]) == len(direct.log["time_s"])
    for key in LOG_FIELDS:
        a, b = np.asarray(direct.log[key]), np.asarray(over_can.log[key])
        assert np.array_equal(a, b, equal_nan=True), f"{key} differs at steps {np.nonzero(a != b)[0][:5]}"
    assert np.array_equal(direct.cells_est_soc, over_can.cells_est_soc)
    # not vacuous: the charge ran, the faulted scenarios tripped, the long one completed
    assert np.max(direct.log["ccl_a"]) > 10.0
    if name.startswith("fault"):
        assert direct.summary.faults
    if kw.get("soc_start"):
        assert np.any(np.asarray(direct.log["charge_complete"]))


def test_bus_limit_is_the_firmwares_rounded_down():
    scn = scenario(duration_s=60.0)
    with CanTarget("virtual:floor") as tg:
        loop = ClosedLoop(scn, tg)
        pairs = []
        while (view := loop.step()) is not None:
            if view.state.limits_bus is not None:
                pairs.append((view.state.ccl_a, view.state.limits_bus[0]))
    fw, bus = np.array(pairs).T
    assert np.all(bus <= fw + 1e-4)
    assert np.all(fw - bus < RESOLUTION_A + 1e-4)
    assert fw.max() > 10.0  # the charge ran


def test_charger_going_silent_trips_comm_fault_within_its_timeout():
    scn = scenario(duration_s=60.0)
    timeout_s = codec.rx_timeout_ms(codec.message("CHG_Limits")) / 1000.0
    bit = 1 << FAULT_ID["comm"]
    with CanTarget("virtual:silent") as tg:
        loop = ClosedLoop(scn, tg)
        t_silent = tripped = opened = None
        while (view := loop.step()) is not None:
            if t_silent is None and view.t_s >= 20.0:
                assert view.state.ccl_a > 0 and not view.state.faults
                tg.charger.silent = True
                t_silent = view.t_s
            if t_silent is not None and tripped is None and view.state.faults & bit:
                tripped = view.t_s
                assert view.state.ccl_a == 0.0  # no charge current without the charger's messages
            if tripped is not None and opened is None and view.state.contactor_state == 0:
                opened = view.t_s
    assert tripped is not None
    # the last frame went out at t_silent - dt; overdue after timeout; reported in that step
    assert tripped - t_silent <= timeout_s + scn.dt_ms / 1000.0 + 1e-9
    assert tripped - t_silent > timeout_s - scn.dt_ms / 1000.0
    assert opened is not None  # the contactors opened once the current was down
    assert loop.target.fault_records()[FAULT_ID["comm"]] == 0  # partner bit 0: the charger


def test_a_reused_target_starts_each_run_afresh():
    # the pytest plugin keeps one target for the session: the partners' schedule must restart
    with CanTarget("virtual:reuse") as tg:
        first = run(scenario(duration_s=30.0), tg)
        second = run(scenario(duration_s=30.0, seed=2), tg)
    assert first.faults == [] and second.faults == []


def test_corrupt_and_out_of_range_frames_are_refused_and_counted_over_the_bus():
    scn = scenario(duration_s=30.0)
    with CanTarget("virtual:corrupt") as tg:
        loop = ClosedLoop(scn, tg)
        for _ in range(100):
            loop.step()
        good = tg.charger.senders["CHG_Limits"]
        limit_before = float(tg.layer.raw.charger_max_a)
        bad = bytearray(good.encode({"ChargerMaxCurrent": 10.0, "ChargerMaxVoltage": 900.0}))
        bad[0] ^= 0x40  # corrupted on the wire
        over = good.encode(
            {"ChargerMaxCurrent": 65535, "ChargerMaxVoltage": 45000}, scaling=False, strict=False
        )
        rogue = can.Message(
            arbitration_id=codec.message("CHG_Limits").frame_id, data=bytes(bad), is_extended_id=False
        )
        rogue2 = can.Message(
            arbitration_id=codec.message("CHG_Limits").frame_id, data=over, is_extended_id=False
        )
        tg._harness.send(rogue)  # a frame outside the charger node's schedule
        tg._harness.send(rogue2)
        time.sleep(0.05)
        # the rogue frames arrive with the next step's traffic
        tg.charger.silent = True  # so that only the rogue frames reach the BMS this step
        loop.step()
        tg.charger.silent = False
        assert tg.layer.refused["checksum"] == 1 and tg.layer.refused["range"] == 1
        assert float(tg.layer.raw.charger_max_a) == limit_before  # never applied
        loop.step()
        assert tg.view.get("BMS_State", "RxRefusedCount") == 2


def test_udp_multicast_frames_reach_another_process():
    group = "239.74.163.91"
    listener = textwrap.dedent(
        f"""
        import can, sys, time
        from hil.can import codec
        bus = can.Bus(interface="udp_multicast", channel="{group}", receive_own_messages=False)
        print("ready", flush=True)
        n, ccl, t_end = 0, [], time.monotonic() + 20
        while time.monotonic() < t_end:
            msg = bus.recv(timeout=0.5)
            if msg is None:
                if n:
                    break
                continue
            name, sig = codec.decode(msg.arbitration_id, bytes(msg.data))
            n += 1
            if name == "BMS_Limits":
                ccl.append(sig["ChargeCurrentLimit"])
        print(n, max(ccl), flush=True)
        bus.shutdown()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", listener], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with CanTarget(f"udp_multicast:{group}") as tg:
            loop = ClosedLoop(scenario(duration_s=20.0), tg)
            while loop.step() is not None:
                pass
            sent, ccl_max = tg.frames_sent, max(m for m in [tg.view.get("BMS_Limits", "ChargeCurrentLimit")])
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    n, seen_max = out.split()
    assert int(n) == sent  # every frame of both ends, seen from the other process
    assert float(seen_max) >= ccl_max > 0


def test_slcan_adapters_on_pyserial_urls_carry_the_same_run():
    scn = scenario(duration_s=20.0)
    ref = run(scn)
    bus_a, bus_b = open_bus("virtual", "slcan-test"), open_bus("virtual", "slcan-test")
    with SlcanAdapter(bus_a) as a, SlcanAdapter(bus_b) as b, CanTarget(f"slcan:{a.url},{b.url}") as tg:
        res = run(scn, tg)
        assert a.frames_to_bus > 0 and b.frames_to_bus > 0  # both ends spoke slcan
    for key in DECISIONS:
        assert np.array_equal(np.asarray(ref.log[key]), np.asarray(res.log[key])), key


def test_a_bus_that_does_not_deliver_times_out_with_a_message():
    # two adapters on two different buses: nothing one end sends reaches the other
    bus_a, bus_b = open_bus("virtual", "dead-a"), open_bus("virtual", "dead-b")
    with (
        SlcanAdapter(bus_a) as a,
        SlcanAdapter(bus_b) as b,
        CanTarget(f"slcan:{a.url},{b.url}", timeout_s=0.3) as tg,
    ):
        t0 = time.monotonic()
        with pytest.raises(TargetError, match=r"0 of \d+ frames from the charger / vehicle arrived"):
            run(scenario(duration_s=5.0), tg)
        assert time.monotonic() - t0 < 5.0


def test_bad_bus_specs_are_clear_errors():
    with pytest.raises(codec.CanError, match="two adapters"):
        CanTarget("slcan:socket://127.0.0.1:1")
    with pytest.raises(codec.CanError, match="unknown CAN bus"):
        CanTarget("carrier-pigeon")
    with pytest.raises(TargetError, match="cannot open CAN slcan"):
        CanTarget("slcan:socket://127.0.0.1:1,socket://127.0.0.1:2")


@pytest.mark.parametrize("suffix", [".asc", ".blf", ".log"])
def test_traffic_logs_read_back_and_decode(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    with CanTarget("virtual:log", log=path) as tg:
        loop = ClosedLoop(scenario(duration_s=10.0), tg)
        while loop.step() is not None:
            pass
        sent = tg.frames_sent
    msgs = [m for m in can.LogReader(str(path)) if not m.is_error_frame]
    assert len(msgs) == sent
    names = {codec.decode(m.arbitration_id, bytes(m.data))[0] for m in msgs}
    assert names == {m.name for m in codec.database().messages}
    assert msgs[-1].timestamp - msgs[0].timestamp == pytest.approx(10.0 - 0.1, abs=0.01)  # simulated time
    if suffix == ".log":  # candump format: what `cantools decode` reads
        out = subprocess.run(
            [sys.executable, "-m", "cantools", "decode", str(codec.DBC_PATH)],
            input=path.read_text(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "BMS_Limits(" in out and "ChargeCurrentLimit:" in out
