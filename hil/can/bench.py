"""The CAN figures for `bms bench`: the closed loop's step rate over each bus against the
direct path in the same run, and the bus load the DBC's messages put on a 500 kbit/s bus."""

from __future__ import annotations

import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from bms.firmware import Firmware
from bms.sim.loop import run
from bms.sim.scenario import load_scenario
from bms.targets.base import Target
from hil.can import codec
from hil.can.bus import BITRATE, open_bus
from hil.can.slcan_adapter import SlcanAdapter
from hil.targets.can import CanTarget


def frame_bits_worst(data_bytes: int) -> int:
    """A classic frame with an 11-bit id on the wire, worst-case bit stuffing included:
    44 + 8n bits of frame, 3 of interframe space, one stuff bit per 4 of the 34 + 8n stuffable
    (Davis et al., Real-Time Systems 35 (2007) 239, eq. 1)."""
    return 47 + 8 * data_bytes + (34 + 8 * data_bytes - 1) // 4


def bus_load() -> dict[str, float]:
    """Bits per second of each sender's cyclic messages, and the load at the DBC's bit rate."""
    out: dict[str, float] = {}
    for m in codec.database().messages:
        bps = frame_bits_worst(m.length) * 1000.0 / codec.cycle_ms(m)
        out[m.senders[0]] = out.get(m.senders[0], 0.0) + bps
    out["load"] = sum(out.values()) / BITRATE
    return out


def _rate(scn, target: Target) -> float:
    t0 = time.perf_counter()
    with target:
        res = run(scn, target)
    return len(res.log["time_s"]) / (time.perf_counter() - t0)


def can_bench(console: Console, series: int = 96, duration_s: float = 120.0) -> dict[str, float]:
    scn = replace(load_scenario("fastcharge-10-80"), series=series, duration_s=duration_s)
    with CanTarget("virtual:bench-warm") as warm:
        run(replace(scn, duration_s=5.0), warm)  # imports, tables
    results = {"direct_steps_per_s": _rate(scn, Firmware())}
    results["virtual_steps_per_s"] = _rate(scn, CanTarget("virtual:bench"))
    results["udp_multicast_steps_per_s"] = _rate(scn, CanTarget("udp_multicast:239.74.163.92"))
    with (
        SlcanAdapter(open_bus("virtual", "bench-slcan")) as a,
        SlcanAdapter(open_bus("virtual", "bench-slcan")) as b,
    ):
        results["slcan_steps_per_s"] = _rate(
            replace(scn, duration_s=min(duration_s, 30.0)), CanTarget(f"slcan:{a.url},{b.url}")
        )
    load = bus_load()
    results["bus_load"] = load["load"]
    direct = results["direct_steps_per_s"]
    table = Table(title=f"closed loop over CAN ({series}s pack, fastcharge-10-80, 100 ms steps)")
    table.add_column("path")
    table.add_column("steps/s", justify="right")
    table.add_column("vs direct", justify="right")
    table.add_column("real-time factor", justify="right")
    for key, label in (
        ("direct_steps_per_s", "direct (in-process firmware)"),
        ("virtual_steps_per_s", "can:virtual"),
        ("udp_multicast_steps_per_s", "can:udp_multicast"),
        ("slcan_steps_per_s", "can:slcan (2 software adapters over TCP)"),
    ):
        r = results[key]
        table.add_row(label, f"{r:.0f}", f"{r / direct:.2f}x", f"{r * scn.dt_ms / 1000.0:.0f}x")
    console.print(table)
    console.print(
        "bus load of the DBC's cyclic traffic, worst-case stuffing: "
        f"BMS {load.get('BMS', 0) / 1000:.1f} kbit/s, charger {load.get('CHARGER', 0) / 1000:.1f}, "
        f"vehicle {load.get('VCU', 0) / 1000:.1f}: "
        f"{100 * load['load']:.1f} % of {BITRATE // 1000} kbit/s"
    )
    return results
