"""Planted bugs against the property suite (`make mutation-props`).

Each bug is a realistic mistake a firmware engineer makes, planted as one source edit. For
each, the extension is relinked with the mutated object (tests/mutation.py's machinery) and
the property suite (tests/properties) runs against it; the bug is caught when a property
fails. The table says which test and which property caught it.

    python -m tests.mutation_props [--only NAME ...] [--keep-going]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests import mutation

ROOT = mutation.ROOT
SRC = mutation.SRC
BUILD = ROOT / "build" / "mutation-props"
TIMEOUT_S = 900


@dataclass(frozen=True)
class Bug:
    name: str
    file: str
    before: str
    after: str
    what: str


BUGS = (
    Bug(
        "hysteresis-direction",
        "hysteresis.c",
        "const float towards = (current_a < 0.0f) ? 1.0f : -1.0f;",
        "const float towards = (current_a < 0.0f) ? -1.0f : 1.0f;",
        "Plett's h driven towards sgn(i) instead of -sgn(i): after a discharge, the charge's branch",
    ),
    Bug(
        "cell-loop-off-by-one",
        "bms.c",
        "    uint32_t nv = 0u;\n    for (uint32_t i = 0u; i < cfg->pack.n_cells; i++) {",
        "    uint32_t nv = 0u;\n    for (uint32_t i = 0u; (i + 1u) < cfg->pack.n_cells; i++) {",
        "the voltage check's cell loop stops one short: the last cell is never checked",
    ),
    Bug(
        "trip-strict-inequality",
        "safety.c",
        "return (is_max != 0) ? ((v >= thr) ? 1 : 0)",
        "return (is_max != 0) ? ((v > thr) ? 1 : 0)",
        "`>` for `>=` at a maximum threshold: a reading exactly at the trip never trips",
    ),
    Bug(
        "debounce-resets-on-good-sample",
        "safety.c",
        "    if (d->count_ms > dt_ms) {\n        d->count_ms -= dt_ms;\n",
        "    if (d->count_ms > dt_ms) {\n        d->count_ms = 0u;\n        d->seen = 0u;\n",
        "the debounce restarts on one good sample instead of counting down",
    ),
    Bug(
        "headroom-dropped",
        "current_limit.c",
        "    if (t->headroom_a < v) {\n        v = t->headroom_a;\n"
        "        *which = (uint32_t)BMS_LIM_VOLTAGE;\n    }\n",
        "",
        "the voltage-headroom term is left out of the CCL",
    ),
    Bug(
        "ramp-on-decreases",
        "current_limit.c",
        "        return prev + max_step;\n    }\n    return target;",
        "        return prev + max_step;\n    }\n    if (target < (prev - max_step)) {\n"
        "        *which = (uint32_t)BMS_LIM_RAMP;\n        return prev - max_step;\n    }\n"
        "    return target;",
        "the ramp limit is applied to decreases too: the CCL cannot fall at once",
    ),
    Bug(
        "reset-clears-persisting-latch",
        "safety.c",
        "const uint32_t clear = (blind != 0u) ? 0u : (s->latched & ~s->present);",
        "const uint32_t clear = (blind != 0u) ? 0u : s->latched;",
        "a reset clears every latched fault, also those whose condition persists",
    ),
    Bug(
        "derate-sign-flipped",
        "safety.c",
        "f = (v >= t) ? 0.0f : ((t - v) / (t - d));",
        "f = (v >= t) ? 0.0f : ((v - d) / (t - d));",
        "the derate of a maximum quantity runs the wrong way across its band",
    ),
    Bug(
        "observer-ignores-a-sensor",
        "thermal_observer.c",
        "        for (uint32_t j = 0u; j < ns; j++) {\n"
        "            uint32_t sc = cfg->pack.temp_sensor_cell[j];",
        "        for (uint32_t j = 0u; (j + 1u) < ns; j++) {\n"
        "            uint32_t sc = cfg->pack.temp_sensor_cell[j];",
        "the thermal observer's sensor map skips the last thermistor: its cell is estimated from a "
        "neighbour's reading",
    ),
    Bug(
        "emergency-waits-for-current",
        "contactor.c",
        "    case BMS_CONTACTOR_CLOSED:\n        if (emergency != 0) {",
        "    case BMS_CONTACTOR_CLOSED:\n        if ((emergency != 0) && (abs_i < p->break_current_a)) {",
        "an emergency fault waits for the current to fall before opening",
    ),
    Bug(
        "charge-window-ignores-cold",
        "current_limit.c",
        "    } else if ((cold_c != 0) || (hot_c != 0)) {",
        "    } else if (hot_c != 0) {",
        "the charge window forgets the cold side: charging below the minimum temperature",
    ),
    Bug(
        "close-skips-precharge",
        "contactor.c",
        "                c->precharge_failed = 0u;\n                enter(c, BMS_CONTACTOR_PRECHARGE);",
        "                c->precharge_failed = 0u;\n                enter(c, BMS_CONTACTOR_CLOSED);",
        "a close request closes the main contactor at once, skipping the precharge of the link "
        "capacitor (an inrush the P1-P7 envelope never sees: only the transition property P8)",
    ),
)

_PROP = re.compile(r"\b(P(?:10|[1-9])-[a-z]{3,})\b")
# what each target-level test states, for failures whose message names no property
TEST_PROPERTY = {
    "test_a_reading_beyond_its_trip_latches_after_its_debounce_and_stays": "P3 trip timing, P7 latch",
    "test_a_reading_inside_the_release_band_never_trips": "P5 no false trip",
    "test_the_ccl_follows_a_temperature_derate_inside_its_band": "P2 limit",
    "test_the_ccl_falls_at_once_when_a_constraint_does": "P2 limit",
    "test_the_core_estimate_follows_a_sensed_hot_spot": "P5 estimate",
    "test_outputs_are_finite_and_in_range_whatever_comes_in": "P6 outputs",
}


def plant(bug: Bug, objs: dict[str, Path], d: Path) -> Path | str:
    text = (SRC / bug.file).read_text()
    if text.count(bug.before) != 1:
        return f"the bug's source text is not found exactly once in {bug.file}"
    d.mkdir(parents=True)
    src = d / bug.file
    src.write_text(text.replace(bug.before, bug.after))
    obj = d / (Path(bug.file).stem + ".o")
    if not mutation._cc(src, obj):
        return "does not compile"
    _, suffix = mutation._py_flags()
    so = d / f"_native{suffix}"
    if not mutation._link([obj if name == bug.file else o for name, o in objs.items()], so):
        return "does not link"
    return so


def run_suite(so: Path) -> tuple[bool, str, str]:
    """(caught, the first failing test, the properties its message names)."""
    env = dict(os.environ, BMS_NATIVE_OVERRIDE=str(so), BMS_HYPOTHESIS_PROFILE="mutation")
    env["BMS_TARGET"] = "sim"
    # the JUnit check runs pytest in a subprocess outside tests/ (no override hook there)
    cmd = mutation.pytest_cmd("tests/properties", "--ignore=tests/properties/test_junit_properties.py")
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return True, "timeout", ""
    if r.returncode == 0:
        return False, "", ""
    failed = re.findall(r"^FAILED (\S+)", r.stdout, re.M)
    props = sorted(set(_PROP.findall(r.stdout)))
    first = failed[0] if failed else r.stdout.strip().splitlines()[-1]
    if not props:
        props = [p for name, p in TEST_PROPERTY.items() if name in first]
    return True, first, ", ".join(props)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="bug names to plant (default: all)")
    args = ap.parse_args()
    bugs = [b for b in BUGS if not args.only or b.name in args.only]
    mutation.BUILD = BUILD
    objs = mutation.prepare()
    rows = []
    t0 = time.perf_counter()
    for bug in bugs:
        t1 = time.perf_counter()
        so = plant(bug, objs, BUILD / bug.name)
        if isinstance(so, str):
            rows.append((bug, "NOT PLANTED", so, ""))
        else:
            caught, test, props = run_suite(so)
            rows.append((bug, "caught" if caught else "SURVIVED", test, props))
        shutil.rmtree(BUILD / bug.name, ignore_errors=True)
        print(
            f"{bug.name:32s} {rows[-1][1]:10s} {time.perf_counter() - t1:6.0f} s  {rows[-1][2]} {rows[-1][3]}"
        )
    caught = sum(r[1] == "caught" for r in rows)
    took = time.perf_counter() - t0
    print(f"\n{caught}/{len(rows)} planted bugs caught by the property suite in {took:.0f} s\n")
    print("| bug | what | caught by | properties |")
    print("|---|---|---|---|")
    for bug, verdict, test, props in rows:
        print(f"| {bug.name} | {bug.what} | {test if verdict == 'caught' else verdict} | {props} |")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
