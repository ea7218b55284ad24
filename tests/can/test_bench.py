"""The bus-load arithmetic of `bms bench`: the worst-case frame length against a bit-level
model of a CAN frame with stuffing, and the load against the DBC file read by hand."""

from __future__ import annotations

import random
import re
from pathlib import Path

from hil.can import bench
from hil.can.bus import BITRATE

DBC = Path(__file__).resolve().parents[2] / "bms" / "data" / "can" / "bms.dbc"


def _crc15(bits: list[int]) -> list[int]:
    """ISO 11898-1 CRC-15 (polynomial 0x4599) over the bits, MSB first."""
    crc = 0
    for b in bits:
        nxt = b ^ ((crc >> 14) & 1)
        crc = (crc << 1) & 0x7FFF
        if nxt:
            crc ^= 0x4599
    return [(crc >> (14 - i)) & 1 for i in range(15)]


def _frame_bits(can_id: int, data: bytes) -> int:
    """Bits on the wire of a classic base frame, built bit by bit: SOF, 11-bit id, RTR, IDE,
    r0, DLC, data, CRC-15 stuffed (a complement bit after five equal ones), then the CRC
    delimiter, ACK slot and delimiter, EOF (7) and interframe space (3), unstuffed."""
    n = len(data)
    head = (
        [0]
        + [(can_id >> (10 - i)) & 1 for i in range(11)]
        + [0, 0, 0]
        + [(n >> (3 - i)) & 1 for i in range(4)]
    )
    body = [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]
    stuffable = head + body + _crc15(head + body)
    out, run, last = 0, 0, None
    for b in stuffable:
        out += 1
        run = run + 1 if b == last else 1
        last = b
        if run == 5:  # a stuff bit of the other level, which starts a run of its own
            out += 1
            last, run = 1 - b, 1
    return out + 1 + 2 + 7 + 3


def test_worst_case_frame_length_bounds_every_frame_and_matches_the_published_figure():
    # 8 data bytes: 111 bits of frame + interframe, 24 stuff bits at worst (Davis et al. 2007: 135)
    assert bench.frame_bits_worst(8) == 135
    assert bench.frame_bits_worst(0) == 55
    rng = random.Random(7)
    for n in range(9):
        worst_seen = 0
        # random frames, and the runs of equal bits that stuff most
        for k in range(3000):
            data = bytes(rng.choice((0x00, 0xFF, 0x0F, 0xF0, rng.randrange(256))) for _ in range(n))
            can_id = rng.choice((0, 0x7FF, rng.randrange(0x800)))
            worst_seen = max(worst_seen, _frame_bits(can_id, data if k % 2 else bytes(n)))
        assert worst_seen <= bench.frame_bits_worst(n)
        # unstuffed length of the same frame: the bound adds stuff bits only
        assert worst_seen >= 47 + 8 * n


def test_bus_load_matches_the_dbc_read_by_hand():
    text = DBC.read_text()
    lengths = {int(m[0]): (int(m[1]), m[2]) for m in re.findall(r"^BO_ (\d+) \w+: (\d+) (\w+)", text, re.M)}
    cycles = {
        int(m[0]): int(m[1]) for m in re.findall(r'^BA_ "GenMsgCycleTime" BO_ (\d+) (\d+);', text, re.M)
    }
    assert lengths and set(cycles) == set(lengths)
    by_sender: dict[str, float] = {}
    for frame_id, (length, sender) in lengths.items():
        bits = _frame_bits(0, bytes(length))  # no stuffing worse than the bound allows
        assert bits <= bench.frame_bits_worst(length)
        by_sender[sender] = (
            by_sender.get(sender, 0.0) + bench.frame_bits_worst(length) * 1000.0 / cycles[frame_id]
        )
    load = bench.bus_load()
    for sender, bps in by_sender.items():
        assert abs(load[sender] - bps) < 1e-6
    assert abs(load["load"] - sum(by_sender.values()) / BITRATE) < 1e-12
    assert 0 < load["load"] < 0.3  # a BMS must leave the bus to the rest of the car
