"""Malformed input over the wire, the same cases for the C node in-process and for QEMU:
each case sends broken bytes, then checks the STATS counters moved exactly as expected,
that an authenticated-but-wrong frame got its ERROR, that the next valid frame is answered,
and that the firmware neither restarted nor lost its configuration."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from hil import protocol as P
from hil.targets.remote import RemoteTarget

ERROR_COUNTERS = ("framing_errors", "oversize", "truncated", "length_errors", "crc_errors")


@dataclass
class Case:
    name: str
    wire: bytes
    expect: dict[str, int]  # counter -> increment
    error_code: int | None = None  # an ERROR reply is expected for seq 0x7777
    error_detail: int | None = None


def stats_frame(seq: int = 0x7777) -> bytes:
    return P.frame_bytes(P.Msg.STATS, seq, b"")


def expected_for_stream(data: bytes) -> Counter[str]:
    """What the decoder must count for arbitrary bytes framed by delimiters (computed by
    the Python decoder, which classifies like the C one: test_protocol_agreement)."""
    counts: Counter[str] = Counter()
    for chunk in data.split(b"\x00"):
        if not chunk:
            continue
        try:
            P.decode_frame(chunk)
            counts["frames_ok"] += 1
        except P.ProtocolError as exc:
            counts[exc.kind] += 1
    return counts


def cases(seed: int = 1) -> list[Case]:
    rng = np.random.default_rng(seed)
    step = P.frame_bytes(P.Msg.STEP, 0x7777, bytes(rng.integers(1, 256, 200, dtype=np.uint8)))
    good = stats_frame()
    bad_crc = good[:-1] + bytes([good[-1] ^ 0x5A])
    noise = bytes(rng.integers(0, 256, 3000, dtype=np.uint8))
    wire_noise = b"\x00" + noise + b"\x00"
    noise_counts = expected_for_stream(wire_noise)
    cut_wire = P.wire(step)[: len(P.wire(step)) // 2]  # no trailing delimiter: the next frame's ends it
    long_len = P.HEADER.build(dict(version=P.VERSION, type=P.Msg.STATS, seq=0x7777, length=2))
    length_err = long_len + b"\x01\x02\x03"  # one byte more than the header says
    length_err += P.crc32c(length_err).to_bytes(4, "little")
    return [
        Case("random bytes", wire_noise, dict(noise_counts)),
        Case("bad CRC", P.wire(bad_crc), {"crc_errors": 1}),
        Case("truncated frame", P.wire(step[:40]), {"truncated": 1}),
        Case("cut on the wire", cut_wire, {"framing_errors": 1}),
        Case("oversize", b"\x00" + b"\x55" * (P.MAX_FRAME + 200) + b"\x00", {"oversize": 1}),
        Case("length mismatch", P.wire(length_err), {"length_errors": 1}),
        Case(
            "unknown type",
            P.encode_frame(99, 0x7777, b"abc"),
            {"unknown_type": 1, "frames_ok": 1},
            error_code=2,
            error_detail=99,
        ),
        Case(
            "reply type sent as a request",
            P.encode_frame(P.Msg.STATE, 0x7777, b""),
            {"unknown_type": 1, "frames_ok": 1},
            error_code=2,
            error_detail=int(P.Msg.STATE),
        ),
        Case(
            "wrong version",
            P.encode_frame(P.Msg.STATS, 0x7777, b"", version=P.VERSION + 1),
            {"bad_version": 1, "frames_ok": 1},
            error_code=1,
            error_detail=P.VERSION,
        ),
        Case(
            "bad payload",
            P.encode_frame(P.Msg.STATS, 0x7777, b"xyz"),
            {"bad_payload": 1, "frames_ok": 1},
            error_code=3,
        ),
        Case(
            "STEP of the wrong length",
            P.wire(step),
            {"bad_payload": 1, "frames_ok": 1},
            error_code=3,
        ),
    ]


COUNTED = (*ERROR_COUNTERS, "bad_version", "unknown_type", "bad_payload", "frames_ok")


def run_cases(target: RemoteTarget, reply_timeout_s: float) -> list[str]:
    """Runs every case; returns the descriptions of what went wrong (empty: all good)."""
    problems: list[str] = []
    link = target.link
    info_before = target.info()
    for case in cases():
        before = target.stats()
        link.send_raw(case.wire)
        if case.error_code is not None:
            fr = link.wait_frame(lambda f: f.seq == 0x7777, reply_timeout_s, f"ERROR for {case.name}")
            err = P.parse_payload(fr.type, fr.payload) if fr.type == P.Msg.ERROR else None
            if err is None or err.code != case.error_code:
                problems.append(f"{case.name}: expected ERROR {case.error_code}, got type {fr.type} {err}")
            elif case.error_detail is not None and err.detail != case.error_detail:
                problems.append(f"{case.name}: ERROR detail {err.detail}, expected {case.error_detail}")
        after = target.stats()  # the next valid frame is answered
        # the STATS request itself is one more valid frame
        moved = {k: after[k] - before[k] for k in COUNTED if after[k] != before[k]}
        moved["frames_ok"] = moved.get("frames_ok", 0) - 1
        if not moved["frames_ok"]:
            del moved["frames_ok"]
        if moved != case.expect:
            problems.append(f"{case.name}: counters moved {moved}, expected {case.expect}")
        if after["rx_bytes"] - before["rx_bytes"] != len(case.wire) + len(P.encode(P.Msg.STATS, 1)):
            problems.append(f"{case.name}: rx_bytes moved {after['rx_bytes'] - before['rx_bytes']}")
    if link.restarts:
        problems.append(f"the firmware restarted {link.restarts} time(s)")
    if target.info().config_hash != info_before.config_hash:
        problems.append("the configuration changed")
    return problems


def random_garbage_rounds(target: RemoteTarget, rounds: int, seed: int = 7) -> list[str]:
    """Bursts of random bytes of random lengths, each followed by a valid request."""
    rng = np.random.default_rng(seed)
    problems = []
    for r in range(rounds):
        burst = bytes(rng.integers(0, 256, int(rng.integers(1, 2500)), dtype=np.uint8))
        before = target.stats()
        target.link.send_raw(burst + b"\x00")
        after = target.stats()
        want = expected_for_stream(b"\x00" + burst + b"\x00")
        got = {k: after[k] - before[k] for k in ERROR_COUNTERS if after[k] != before[k]}
        if got != {k: v for k, v in want.items() if k in ERROR_COUNTERS}:
            problems.append(f"round {r}: counters {got}, expected {dict(want)}")
    return problems
