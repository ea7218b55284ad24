"""Inputs for the libFuzzer target (native/fuzz/fuzz_frame.c), written by `make fuzz`:
config.bin (a valid 8-cell bms_config_t the target starts from when input byte 0 has bit 0
set) and a seed corpus of valid requests in both input modes (raw wire, message list).

    python -m hil.fuzz_seeds OUT_DIR
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from bms._native import ffi
from bms.chemistry import load_chemistry
from bms.firmware import Firmware, PackLayout
from hil.protocol import ConfigOp, Msg, build_payload, encode

N_CELLS = 8
SENSORS = (0, 3, 7)


def fuzz_config() -> bytes:
    chem = load_chemistry("nmc811-graphite")
    fw = Firmware(chem.cell, PackLayout(N_CELLS, SENSORS), chem.protection)
    return bytes(ffi.buffer(fw.config))


# The config fuzz's seeds (native/fuzz/config_sweep.c, fuzz_config.c): every shipped chemistry
# as the closed loop configures it, at the pack sizes the scenarios and the property strategies
# draw (1..192 series, 1..1000 parallel). Kept small in cells where it does not matter: the
# sweep runs 600 steps per accepted configuration (and draws the 192-cell ones rarely).
SEED_PACKS = ((8, 1), (8, 1000), (16, 20), (192, 30))


def config_seeds() -> dict[str, bytes]:
    from bms.chemistry import available
    from bms.sim.configure import firmware_config
    from bms.sim.scenario import Scenario

    out = {}
    for name in available():
        chem = load_chemistry(name)
        for series, parallel in SEED_PACKS:
            scn = Scenario(name=f"seed-{name}", chemistry=name, series=series, parallel=parallel)
            out[f"{name}-{series}s{parallel}p"] = firmware_config(chem, scn)
    return out


def requests(config: bytes) -> list[tuple[Msg, dict]]:
    step = dict(
        dt_ms=100,
        command=1,
        current_a=-5.0,
        ambient_degc=25.0,
        pack_v=29.6,
        bus_v=29.6,
        charger_max_a=50.0,
        coolant_flow_lpm=10.0,
        fast_charge_in_s=600.0,
        sample_time_ms=100,
        cell_v=[3.7] * N_CELLS,
        temp_degc=[25.0] * len(SENSORS),
    )
    return [
        (Msg.HELLO, {}),
        (Msg.STATS, {}),
        (Msg.CONFIG, dict(op=ConfigOp.BEGIN, value=len(config), crc=0, data=b"")),
        (Msg.CONFIG, dict(op=ConfigOp.DATA, value=0, crc=0, data=config[:64])),
        (Msg.STEP, step),
        (Msg.COMMAND, dict(cmd=1)),
        (Msg.RESET, dict(flags=3)),
    ]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    config = fuzz_config()
    (out / "config.bin").write_bytes(config)
    seeds = out / "seeds"
    seeds.mkdir(exist_ok=True)
    reqs = requests(config)
    for i, (msg, fields) in enumerate(reqs):
        (seeds / f"wire-{i}-{msg.name.lower()}").write_bytes(b"\x01" + encode(msg, i + 1, fields))
    listing = b"".join(
        struct.pack("<BH", int(msg), len(p)) + p for msg, f in reqs for p in [build_payload(msg, f)]
    )
    (seeds / "messages-all").write_bytes(b"\x03" + listing)
    configs = out / "configs"
    configs.mkdir(exist_ok=True)
    for name, blob in config_seeds().items():
        (configs / f"{name}.bin").write_bytes(blob)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m hil.fuzz_seeds OUT_DIR")
    main(Path(sys.argv[1]))
