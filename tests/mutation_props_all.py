"""The property suite's own mutation score (`make mutation-props-all`).

Every mutant `make mutation` generates (tests/mutation.py: a comparison flipped, a constant
shifted by one, a statement deleted) over eight firmware files -- the four safety files and
the four estimation / step files -- is run against the property suite ALONE (tests/properties,
no unit test), the extension relinked with the mutated object. A mutant is killed when a
property fails, the suite crashes or it times out; one that does not compile is stillborn.

About 1,700 mutants at 10-50 s each do not fit one hour on two cores, so the run is
resumable: the mutants are visited in one fixed shuffled order (seeded), each verdict is
appended to a results file keyed by the mutant and the sha256 of its file (a verdict for a
file that has changed since is ignored), and a run stops starting mutants when its time budget
is spent. Each run therefore extends a uniformly random sample of every file's mutants; the
report gives per file the mutants judged so far, the score among them with its 95 % Wilson
interval, and says when a file is complete. Run it on successive nights (or CI runs) with the
same results file to complete the census.

    python -m tests.mutation_props_all [--budget-min 55] [--jobs 2] [--files a.c,b.c]
                                       [--results build/mutation-props-all/results.jsonl]
                                       [--rejudge] [--report-only]

A killed mutant stays killed when the suite grows (its properties only add); a survivor is
judged again with --rejudge.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from tests import mutation

ROOT = mutation.ROOT
SRC = mutation.SRC
BUILD = ROOT / "build" / "mutation-props-all"
FILES = (
    "safety.c",
    "current_limit.c",
    "contactor.c",
    "plausibility.c",
    "soc_ekf.c",
    "thermal_observer.c",
    "cell_model.c",
    "bms.c",
)
SEED = 20261207
TIMEOUT_S = 600
TARGET_SCORE = 0.80
# the property tests, the quick ones first: pytest stops at the first failure (-x), so a
# mutant the state machine or a trip threshold kills never waits for the closed-loop scenarios
SUITE = [
    "tests/properties/test_state_machine.py",
    "tests/properties/test_trip_thresholds.py",
    "tests/properties/test_hostile_inputs.py",
    "tests/properties/test_sop_properties.py",
    "tests/properties/test_fastcharge_properties.py",
]


def mutant_key(m: mutation.Mutant) -> str:
    return f"{m.file}:{m.line}:{m.kind}:{m.after.strip()}"


def file_hash(name: str) -> str:
    return hashlib.sha256((SRC / name).read_bytes()).hexdigest()[:16]


def ordered_mutants(files: list[str], seed: int) -> list[mutation.Mutant]:
    """Every mutant of the files in one fixed shuffled order (files interleaved, so that a
    run of any length samples each file in proportion)."""
    ms = [m for f in files for m in mutation.enumerate_mutants(f)]
    random.Random(seed).shuffle(ms)
    return ms


def run_props(so: Path) -> tuple[bool, str]:
    """(killed, the first failing test or why)."""
    env = dict(os.environ, BMS_NATIVE_OVERRIDE=str(so), BMS_HYPOTHESIS_PROFILE="mutation")
    env["BMS_TARGET"] = "sim"
    env["OPENBLAS_NUM_THREADS"] = "1"
    try:
        r = subprocess.run(
            mutation.pytest_cmd(*SUITE), cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return True, "timeout"
    if r.returncode == 0:
        return False, ""
    failed = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("FAILED ")]
    if failed:
        return True, failed[0]
    tail = (r.stdout.strip().splitlines() or r.stderr.strip().splitlines() or [f"rc {r.returncode}"])[-1]
    return True, f"rc {r.returncode}: {tail[:120]}"


def evaluate(k: int, m: mutation.Mutant, objs: dict[str, Path]) -> dict[str, object]:
    d = BUILD / f"m{k:05d}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        lines = (SRC / m.file).read_text().splitlines(keepends=True)
        lines[m.line - 1] = m.after
        src = d / m.file
        src.write_text("".join(lines))
        obj = d / (Path(m.file).stem + ".o")
        _, suffix = mutation._py_flags()
        so = d / f"_native{suffix}"
        if not mutation._cc(src, obj) or not mutation._link(
            [obj if name == m.file else o for name, o in objs.items()], so
        ):
            verdict, why = "stillborn", ""
        else:
            killed, why = run_props(so)
            verdict = "killed" if killed else "survived"
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return {
        "key": mutant_key(m),
        "file": m.file,
        "file_sha": file_hash(m.file),
        "describe": m.describe(),
        "verdict": verdict,
        "why": why,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def load_results(path: Path) -> dict[str, dict[str, object]]:
    """Verdicts still valid: for the file as it is now."""
    out: dict[str, dict[str, object]] = {}
    if not path.exists():
        return out
    shas = {f: file_hash(f) for f in FILES}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        if shas.get(str(r.get("file"))) == r.get("file_sha"):
            out[str(r["key"])] = r
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


# Survivors of the property suite with a verdict: (file, the line holds, the mutant's line
# holds, verdict, why). "equivalent": no input through the firmware's API can tell the mutant
# from the original (not scored, as tests/mutation.py's EQUIVALENT, which applies too); any
# other verdict names the class of gap the survivor shows (scored as a survivor). A survivor
# without an entry is reported as "not yet triaged".
EQ = "equivalent"
G_CORE = (
    "core estimate: within P13's allowance (dominated by the heat P5's SoC bound could hide) "
    "or raised (P13 judges one side)"
)
G_SOC = "SoC estimate: inside P5's tolerance"
G_SOH = "state of health: no drawn scenario rests long enough for a rested point"
G_DIAG = "a diagnostic output no property reads"
G_API = "API guards and the batch API: the suite steps one valid instance"
G_OOB = "one element past an array: invisible without a sanitizer build"
G_EARLY = "detection earlier than its debounce: P3 bounds detection from above only"
G_INIT = "an initial value the drawn scenarios never depend on"
G_RESET = "what a reset clears: P7 asks that persisting causes stay latched, none that a gone one clears"
G_PRECHARGE_FAULT = (
    "a fault latched during a precharge: none of the drawn faults latches in the one to five steps "
    "a precharge lasts"
)
G_OPENING_LOAD = (
    "an OPENING ended by its timeout or an emergency with the current still at the break current: "
    "no drawn charger keeps the current up through the opening (a compliant one follows the CCL "
    "down within it)"
)
G_SMALL_BREAK = "a break current below 1 A: every chemistry's is 10 A"
G_FLOAT_EQ = "a comparison at float equality the drawn values never meet exactly"
G_MS = "a time off by 1 ms: the suite steps in 100 ms and its timeouts are multiples of it"
VERDICTS: list[tuple[str, str, str, str, str]] = [
    # before the equivalent below (the same line, its deletion): enter()'s and the reset's
    ("contactor.c", "c->state_ms = 0u;", "c->state_ms = 1u;", G_MS, ""),
    (
        "contactor.c",
        "                c->precharge_failed = 0u;",
        "",
        EQ,
        "the close's: the flag is set only by a precharge timeout, and bms.c latches the precharge "
        "fault in the same step (no debounce), so a close finds a fault latched and is refused until "
        "an accepted fault reset, which clears the flag (line 49, killed): an accepted close always "
        "finds it clear",
    ),
    (
        "contactor.c",
        "c->state_ms = (c->state_ms > (0xFFFFFFFFu - dt_ms))",
        ">= (0xFFFFFFFFu",
        EQ,
        "at state_ms = MAX - dt both give MAX",
    ),
    # equivalents: no input through the API tells them apart
    (
        "thermal_observer.c",
        "(ambient_degc > c->t_surf_degc) ? (ambient_degc - c->t_surf_degc) : 0.0f",
        "(ambient_degc >= c->t_surf_degc)",
        EQ,
        "at equality both branches are 0",
    ),
    (
        "thermal_observer.c",
        "if (q_irr < 0.0f) {",
        "q_irr <= 0.0f",
        EQ,
        "at q_irr = 0, setting it to 0 changes nothing",
    ),
    (
        "thermal_observer.c",
        "        return 0.0f;\n",
        "return 1.0f;",
        EQ,
        "the two early returns of 0 (same text): init_sqrtf's x <= 0 branch, called only with "
        "the discriminant tr^2 - 4 det, > 0 for the two-node matrix (similar to a symmetric "
        "one) whose parameters the config check holds positive; bms_thermal_nb_weight's "
        "missing-neighbour branch, whose weight bms.c (sensed_temp) uses only where both "
        "neighbours are sensors",
    ),
    (
        "soc_ekf.c",
        "(var_soc < var_cap) ? var_soc : var_cap",
        "<= var_cap",
        EQ,
        "at equality both branches are the same value",
    ),
    (
        "soc_ekf.c",
        "if (!(p[P00] > P_SOC_FLOOR)) {",
        ">= P_SOC_FLOOR",
        EQ,
        "at p00 = the floor, setting it to the floor changes nothing",
    ),
    (
        "soc_ekf.c",
        "const uint32_t prior_bad",
        "!(p[P22] > -P_NEG_TOL)",
        EQ,
        "differs only at a prior p22 of exactly -1e-6; every prior leaves the previous step floored "
        "at P_V_FLOOR > 0",
    ),
    (
        "safety.c",
        "return (a > (0xFFFFFFFFu - b)) ? 0xFFFFFFFFu : (a + b);",
        "(a >=",
        EQ,
        "at a = MAX - b, a + b is MAX",
    ),
    (
        "safety.c",
        "            return 1.0f;",
        "return 2.0f;",
        EQ,
        "bms_safety_derate_factor's only caller (derate_min) starts from 1 and keeps a factor only below it",
    ),
    (
        "bms.c",
        "if (t < tmin) {",
        "if (t <= tmin) {",
        EQ,
        "a tie: both sensors read the minimum, either is the cell to name",
    ),
    (
        "bms.c",
        "if (rs > rmax) {",
        "if (rs >= rmax) {",
        EQ,
        "a tie: both cells have the largest resistance scale",
    ),
    (
        "bms.c",
        "const uint32_t nc = (h->cap_updates < 0xFFFFu)",
        "<= 0xFFFFu",
        EQ,
        "at 0xFFFF both give 0xFFFF",
    ),
    (
        "bms.c",
        "const float slope = (bms_isfinitef(c->ocv_slope_v) != 0) ? c->ocv_slope_v : 0.0f;",
        ": 1.0f;",
        EQ,
        "the OCV slope is always finite through the API (docs/coverage.md, stage_safety)",
    ),
    (
        "bms.c",
        "const float hi[BMS_ARRAY_LEN(v)] = {1.0f,",
        "{2.0f,",
        EQ,
        "the SoC filter clamps the SoC to [0, 1]: a SoC in (1, 2] never reaches the internal-fault check",
    ),
    (
        "contactor.c",
        "c->state_ms = 0u;",
        "",
        EQ,
        "bms_contactor_reset's (enter()'s own is killed): the time in a state is read only in "
        "PRECHARGE and OPENING, which only enter() enters, zeroing it",
    ),
    (
        "contactor.c",
        "const float abs_i = (current_a < 0.0f) ? -current_a : current_a;",
        "<= 0.0f",
        EQ,
        "at 0 A, -0 and 0 compare the same against the break current",
    ),
    (
        "safety.c",
        "s->record[f].cell = 0u;",
        "",
        EQ,
        "a record is read for latched faults only, and the latch writes its cell",
    ),
    # gaps, by class
    ("safety.c", "const uint32_t blind = s->present & (1u << (uint32_t)BMS_F_STALE);", "", G_RESET, ""),
    ("safety.c", "s->present &= ~(1u << f);", "", G_RESET, ""),
    ("contactor.c", "            c->breaks_under_load++;", "", G_OPENING_LOAD, "OPENING's count"),
    ("contactor.c", "if (!(abs_i < p->break_current_a)) {", "<=", G_FLOAT_EQ, "current = break current"),
    ("contactor.c", "            enter(c, BMS_CONTACTOR_OPEN);", "", G_PRECHARGE_FAULT, ""),
    ("contactor.c", "(current_a < 0.0f) ? -current_a : current_a;", "< 1.0f", G_SMALL_BREAK, ""),
    ("contactor.c", "if (abs_i < p->break_current_a) {", "<=", G_FLOAT_EQ, "current = break current"),
    ("contactor.c", "&& (bus_v >= (p->precharge_ratio * pack_v))) {", ">", G_FLOAT_EQ, "link = the ratio"),
    ("plausibility.c", "cond_set(&res->current_sensor, 0u, i_a);", "", G_DIAG, "a pack-level record's cell"),
    ("plausibility.c", "cond_set(&res->current_offset, 0u, i_a);", "", G_DIAG, "a pack-level record's cell"),
    (
        "bms.c",
        "bms_safety_condition(&inst->safety, BMS_F_PRECHARGE,",
        "",
        G_DIAG,
        "a pack-level record's cell",
    ),
    ("bms.c", "if (((lost >> b) & 1u) != 0u) {", "", G_DIAG, "the comm fault record's partner"),
    ("bms.c", "float value = 0.0f;", "", G_DIAG, "the estimator fault record's value"),
    ("thermal_observer.c", "", "", G_CORE, ""),
    ("bms.c", "if ((ok_lo != 0) && (ok_hi != 0)) {", "", G_CORE, ""),
    ("bms.c", "return 1;", "return 0;", G_CORE, "sensed_temp: a cell's surface reading"),
    ("bms.c", "if (sensed_temp(inst, meas, i, &t, &own) != 0) {", "", G_CORE, ""),
    ("bms.c", "for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {", "j = 1u", G_CORE, ""),
    ("soc_ekf.c", "e->r1_ohm *= r_scale;", "", G_SOC, ""),
    ("soc_ekf.c", "e->r2_ohm *= r_scale;", "", G_SOC, ""),
    ("soc_ekf.c", "c->v_rc2_v = d2.a * c->v_rc2_v", "", G_SOC, ""),
    ("soc_ekf.c", "+ (e_r0 * e_r0) + (2.0f * sv * sv)", "", G_SOC, ""),
    ("soc_ekf.c", "if (!(m2 > 0.0f) || !(det > 0.0f)) {", "", G_SOC, ""),
    ("soc_ekf.c", "p[P01] = 0.0f;", "", G_SOC, ""),
    ("soc_ekf.c", "c->soc = bms_clampf((c->soc * var_p + stored * var_v)", "", G_SOC, ""),
    ("cell_model.c", "", "", G_SOC, ""),
    ("bms.c", "const float hi = bms_clampf(s + 0.02f, 0.0f, 1.0f);", "", G_SOC, ""),
    ("bms.c", "if (relaxed_soc(inst, meas, i, &var) >= 0.0f) {", "", G_SOH, ""),
    ("bms.c", "bms_soh_point_cell(", "", G_SOH, ""),
    ("bms.c", "soh_point(inst, meas);", "", G_SOH, ""),
    ("bms.c", "if (cell_fresh(inst, i) == 0) {", "", G_SOH, ""),
    ("bms.c", "return -1.0f;", "", G_SOH, ""),
    ("bms.c", "const uint32_t learning = ", "", G_SOH, ""),
    (
        "soc_ekf.c",
        "eval_cell(cp, c->soc, temp_degc, r_scale, &e);",
        "",
        G_DIAG,
        "bms_ekf_terminal_v: v_pred_v",
    ),
    ("soc_ekf.c", "out->ocv_v = ocv;", "", G_DIAG, ""),
    ("soc_ekf.c", "out->mismatch = ", "", G_DIAG, "the model-mismatch flag"),
    ("bms.c", "if (out->model_mismatch_cells != 0u) {", "", G_DIAG, "the model-mismatch status bit"),
    ("bms.c", "out->r_scale_max_cell = rmax_i;", "", G_DIAG, ""),
    ("bms.c", "uint32_t rmax_i = 0u;", "", G_DIAG, ""),
    ("bms.c", "rmax = rs;", "", G_DIAG, ""),
    ("bms.c", "out->warnings = 0u;", "", G_DIAG, "the warnings bits"),
    ("safety.c", "trip_count", "", G_DIAG, "the trip counter"),
    ("safety.c", "s->record[", "", G_DIAG, "a fault record's field (no State carries the records)"),
    ("safety.c", "if (fault_id >= (uint32_t)BMS_N_FAULTS) {", "", G_API, "bms_safety_condition's id guard"),
    ("bms.c", "if (inst == 0) {", "", G_API, ""),
    ("bms.c", "if ((inst == 0) || (meas == 0) || (out == 0)) {", "", G_API, ""),
    ("bms.c", "if (inst->configured == 0u) {", "", G_API, ""),
    ("bms.c", "meas.coolant_flow_lpm = NAN;", "", G_API, "bms_step_batch"),
    ("bms.c", "meas.pack_current_a = current_a[k];", "", G_API, "bms_step_batch"),
    ("bms.c", "meas.sample_time_ms += dt_ms[k];", "", G_API, "bms_step_batch"),
    ("bms.c", "for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {", "q <= ", G_OOB, ""),
    ("bms.c", "for (uint32_t i = 0u; i < nc; i++) {", "i <= nc", G_OOB, ""),
    ("bms.c", "for (uint32_t j = 0u; j < cfg->pack.n_temp_sensors; j++) {", "j <= ", G_OOB, ""),
    ("safety.c", "for (uint32_t f = 0u; f < (uint32_t)BMS_N_FAULTS; f++) {", "f <= ", G_OOB, ""),
    ("safety.c", "for (uint32_t q = 0u; q < (uint32_t)BMS_N_QUANTITIES; q++) {", "q <= ", G_OOB, ""),
    ("safety.c", "k < (uint32_t)BMS_ARRAY_LEN(s->tier_db[q]); k++) {", "k <= ", G_OOB, ""),
    ("plausibility.c", "st->stuck_count[i] = 0u;", "", G_EARLY, ""),
    ("safety.c", "d->seen = 0u;", "", G_EARLY, ""),
    (
        "bms.c",
        "inst->thermal_disc.dt_ms = 0u;",
        "",
        G_INIT,
        "the discretisation is recomputed for any dt other than the stale one",
    ),
]


def verdict_of(m: mutation.Mutant) -> tuple[str, str]:
    why = mutation._equivalent(m)
    if why:
        return "equivalent", why
    after = m.after.strip()
    for f, before, aft, verdict, reason in VERDICTS:
        if f == m.file and before in m.before and aft in after:
            return verdict, reason
    return "", ""


def report(
    files: list[str],
    order: list[mutation.Mutant],
    results: dict[str, dict[str, object]],
    markdown: Path | None = None,
) -> bool:
    print("\nper file (the property suite alone; sample = a uniform random subset of the file's mutants):")
    head = (
        f"  {'file':18s} {'mutants':>7s} {'judged':>6s} {'stillb':>6s} {'equiv':>5s} "
        f"{'scored':>6s} {'killed':>6s} {'score':>6s}  95 % interval"
    )
    print(head)
    ok = True
    md_rows: list[str] = []
    surv_rows: list[str] = []
    for f in files:
        ms = [m for m in order if m.file == f]
        judged = [(m, results[mutant_key(m)]) for m in ms if mutant_key(m) in results]
        still = sum(r["verdict"] == "stillborn" for _, r in judged)
        eq = scored = killed = 0
        for m, r in judged:
            if r["verdict"] == "stillborn":
                continue
            verdict, why = verdict_of(m)
            if r["verdict"] == "survived" and verdict == "equivalent":
                eq += 1
                surv_rows.append(f"| `{m.file}:{m.line}` | `{_md(m)}` | equivalent | {why} |")
                continue
            scored += 1
            killed += r["verdict"] == "killed"
            if r["verdict"] == "survived":
                surv_rows.append(
                    f"| `{m.file}:{m.line}` | `{_md(m)}` | gap: {verdict or 'not yet triaged'} | {why} |"
                )
        lo, hi = wilson(killed, scored)
        score = killed / scored if scored else float("nan")
        complete = " complete" if len(judged) == len(ms) else ""
        print(
            f"  {f:18s} {len(ms):7d} {len(judged):6d} {still:6d} {eq:5d} {scored:6d} {killed:6d} "
            f"{100 * score:5.1f}%  [{100 * lo:.0f}, {100 * hi:.0f}] %{complete}"
        )
        md_rows.append(
            f"| {f} | {len(ms)} | {len(judged)} | {still} | {eq} | {scored} | {killed} | "
            f"{100 * score:.0f} % | {100 * lo:.0f}-{100 * hi:.0f} % |"
        )
        ok = ok and bool(scored) and score >= TARGET_SCORE
    tot = [r for r in results.values() if r["verdict"] in ("killed", "survived") and r["file"] in files]
    tk = sum(r["verdict"] == "killed" for r in tot)
    print(f"  all: {tk}/{len(tot)} killed ({100 * tk / max(len(tot), 1):.1f} %, equivalents included)")
    for row in surv_rows:
        print("  " + row)
    if markdown is not None:
        markdown.write_text(
            "| file | mutants | judged | stillborn | equivalent | scored | killed | score | 95 % interval |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(md_rows) + "\n\n"
            "| where | mutant | verdict | why |\n|---|---|---|---|\n" + "\n".join(surv_rows) + "\n"
        )
    return ok


def _md(m: mutation.Mutant) -> str:
    """The mutation in one short line for a table: the changed text, or the deleted one."""
    before, after = m.before.strip(), m.after.strip()
    text = after if after else f"delete {before}"
    return (text if len(text) <= 90 else text[:87] + "...").replace("|", "\\|")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=55.0, help="start no mutant after this (minutes)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--results", type=Path, default=BUILD / "results.jsonl")
    ap.add_argument("--report-only", action="store_true", help="print the report of the results file")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    ap.add_argument(
        "--rejudge",
        action="store_true",
        help="run the survivors again first (after the suite has grown; the latest verdict counts)",
    )
    args = ap.parse_args()
    files = [f.strip() for f in args.files.split(",")]
    bad = [f for f in files if f not in FILES]
    if bad:
        print(f"error: --files: {', '.join(bad)} not among {', '.join(FILES)}", file=sys.stderr)
        return 2
    order = ordered_mutants(files, args.seed)
    results = load_results(args.results)
    if not args.report_only:
        t0 = time.perf_counter()
        mutation.BUILD = BUILD / "objs"
        objs = mutation.prepare()
        _, suffix = mutation._py_flags()
        base_so = mutation.BUILD / "base" / f"_native{suffix}"
        if not mutation._link(list(objs.values()), base_so):
            raise SystemExit("cannot link the unmutated module")
        killed, why = run_props(base_so)
        if killed:
            raise SystemExit(f"the property suite fails on the unmutated firmware: {why}")
        todo = [m for m in order if mutant_key(m) not in results]
        if args.rejudge:
            again = [m for m in order if results.get(mutant_key(m), {}).get("verdict") == "survived"]
            todo = again + todo
        print(
            f"{len(order)} mutants of {len(files)} files, {len(order) - len(todo)} judged before; "
            f"baseline suite holds ({time.perf_counter() - t0:.0f} s); budget {args.budget_min:.0f} min",
            flush=True,
        )
        args.results.parent.mkdir(parents=True, exist_ok=True)
        deadline = t0 + 60.0 * args.budget_min
        with ThreadPoolExecutor(max_workers=args.jobs) as pool, args.results.open("a") as out:
            running: set[Future[dict[str, object]]] = set()
            it = iter(enumerate(todo))
            n_done = 0
            while True:
                while len(running) < args.jobs and time.perf_counter() < deadline:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    running.add(pool.submit(evaluate, nxt[0], nxt[1], objs))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    r = fut.result()
                    results[str(r["key"])] = r
                    out.write(json.dumps(r) + "\n")
                    out.flush()
                    n_done += 1
                    if r["verdict"] == "survived":
                        print(f"  survived ({r['seconds']} s): {r['describe']}", flush=True)
                    if n_done % 20 == 0:
                        print(f"  {n_done} judged this run ({time.perf_counter() - t0:.0f} s)", flush=True)
        print(f"this run: {n_done} mutants in {time.perf_counter() - t0:.0f} s")
    ok = report(files, order, results, args.markdown)
    print(
        f"target: >= {100 * TARGET_SCORE:.0f} % of the non-equivalent mutants of each file killed: "
        f"{'met on the mutants judged' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
