"""SIL = PIL: replay one recorded sequence into two targets and compare every output.

Floats are compared bit for bit (float32 patterns); NaN matches NaN whatever its payload,
since IEEE 754 leaves the payload and sign of a NaN produced by an invalid operation to the
implementation (x86 SSE and the Cortex-M4 FPU differ there, and nowhere else).
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import numpy as np

from bms.targets.base import State, Target
from hil.fastcharge import Recording
from hil.targets.remote import reset_for_a_new_run

# every firmware output (limits_bus is what a bus carried, set by the CAN target only)
# every field both kinds of target report (the per-cell health scales only in process: a
# wire carries the extremes, which are compared; the coils only in process: the STATE frame
# carries the contactor state they follow, compared)
NOT_ON_THE_WIRE = ("cycles", "extra", "limits_bus", "cap_scale", "r_scale", "relays")
COMPARED = tuple(f.name for f in fields(State) if f.name not in NOT_ON_THE_WIRE)


def _f32_bits(x: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", x))[0])


def same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return _f32_bits(a) == _f32_bits(b)


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    a32 = np.asarray(a, dtype=np.float32)
    b32 = np.asarray(b, dtype=np.float32)
    if a32.shape != b32.shape:
        return False
    nan_a, nan_b = np.isnan(a32), np.isnan(b32)
    return bool(
        np.array_equal(nan_a, nan_b)
        and np.array_equal(a32.view(np.uint32)[~nan_a], b32.view(np.uint32)[~nan_b])
    )


def diff_states(a: State, b: State) -> list[str]:
    """Names of the fields (and command result) in which two states differ."""
    out = []
    for name in COMPARED:
        va, vb = getattr(a, name), getattr(b, name)
        if isinstance(va, np.ndarray):
            ok = same_array(va, vb)
        elif isinstance(va, float) or isinstance(vb, float):
            ok = same_float(float(va), float(vb))
        else:
            ok = int(va) == int(vb)
        if not ok:
            out.append(f"{name}: {va!r} != {vb!r}" if not isinstance(va, np.ndarray) else name)
    if a.extra.get("command_result", 0.0) != b.extra.get("command_result", 0.0):
        out.append("command_result")
    return out


def replay(target: Target, rec: Recording, n: int | None = None, configure: bool = True) -> Iterator[State]:
    if configure:
        reset_for_a_new_run(target)
        target.configure(rec.config)
    for k in range(len(rec) if n is None else min(n, len(rec))):
        yield target.step(int(rec.dt_ms[k]), rec.measurement(k), rec.commands[k])  # type: ignore[call-arg]


@dataclass
class Comparison:
    steps: int
    mismatches: list[tuple[int, list[str]]]
    seconds_b: float
    states_b: list[State]

    @property
    def identical(self) -> bool:
        return not self.mismatches


def compare(
    a: Target, b: Target, rec: Recording, n: int | None = None, progress: Callable[[int], None] | None = None
) -> Comparison:
    """Step both targets through the recording; keeps b's states (for cycle counts)."""
    mismatches: list[tuple[int, list[str]]] = []
    states_b: list[State] = []
    t_b = 0.0
    for t in (a, b):
        reset_for_a_new_run(t)  # a previous run may have left a remote one's contactors closed
        t.configure(rec.config)
    gen_a = replay(a, rec, n, configure=False)
    gen_b = replay(b, rec, n, configure=False)
    k = 0
    while True:
        try:
            sa = next(gen_a)
        except StopIteration:
            break
        t0 = time.perf_counter()
        sb = next(gen_b)
        t_b += time.perf_counter() - t0
        states_b.append(sb)
        d = diff_states(sa, sb)
        if d:
            mismatches.append((k, d))
        if progress is not None:
            progress(k)
        k += 1
    return Comparison(k, mismatches, t_b, states_b)
