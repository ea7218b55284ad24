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


# Survivors of the property suite argued equivalent to the original (no input can tell them
# apart), beyond tests/mutation.py's list: (file, the line holds, the mutant's line holds, why).
# A survivor not listed is a gap of the property suite, reported as such.
EQUIVALENT_PROPS: list[tuple[str, str, str, str]] = []


def equivalent(m_describe: str, file: str) -> str:
    for f, before, after, why in EQUIVALENT_PROPS:
        if f == file and before in m_describe.split("  ->  ")[0] and after in m_describe.split("  ->  ")[1]:
            return why
    return ""


def report(files: list[str], order: list[mutation.Mutant], results: dict[str, dict[str, object]]) -> bool:
    print("\nper file (the property suite alone; sample = a uniform random subset of the file's mutants):")
    print(
        f"  {'file':18s} {'mutants':>7s} {'judged':>6s} {'stillb':>6s} {'equiv':>5s} "
        f"{'scored':>6s} {'killed':>6s} {'score':>6s}  95 % interval"
    )
    ok = True
    survivors: list[dict[str, object]] = []
    equivs: list[tuple[dict[str, object], str]] = []
    for f in files:
        ms = [m for m in order if m.file == f]
        rs = [results[mutant_key(m)] for m in ms if mutant_key(m) in results]
        still = sum(r["verdict"] == "stillborn" for r in rs)
        eq = []
        scored = []
        for r, m in ((results[mutant_key(m)], m) for m in ms if mutant_key(m) in results):
            if r["verdict"] == "stillborn":
                continue
            why = mutation._equivalent(m) or equivalent(str(r["describe"]), f)
            if r["verdict"] == "survived" and why:
                eq.append((r, why))
            else:
                scored.append(r)
        killed = sum(r["verdict"] == "killed" for r in scored)
        lo, hi = wilson(killed, len(scored))
        score = killed / len(scored) if scored else float("nan")
        complete = " complete" if len(rs) == len(ms) else ""
        print(
            f"  {f:18s} {len(ms):7d} {len(rs):6d} {still:6d} {len(eq):5d} {len(scored):6d} {killed:6d} "
            f"{100 * score:5.1f}%  [{100 * lo:.0f}, {100 * hi:.0f}] %{complete}"
        )
        ok = ok and bool(scored) and score >= TARGET_SCORE
        survivors += [r for r in scored if r["verdict"] == "survived"]
        equivs += eq
    tot_s = [r for r in results.values() if r["verdict"] in ("killed", "survived") and r["file"] in files]
    tk = sum(r["verdict"] == "killed" for r in tot_s)
    print(f"  all: {tk}/{len(tot_s)} killed ({100 * tk / max(len(tot_s), 1):.1f} %, equivalents included)")
    if survivors:
        print("survivors (gaps of the property suite unless argued equivalent):")
        for r in survivors:
            print(f"  {r['describe']}")
    if equivs:
        print("equivalent survivors (not scored):")
        for r, why in equivs:
            print(f"  {r['describe']}\n      {why}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=55.0, help="start no mutant after this (minutes)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--results", type=Path, default=BUILD / "results.jsonl")
    ap.add_argument("--report-only", action="store_true", help="print the report of the results file")
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
    ok = report(files, order, results)
    print(
        f"target: >= {100 * TARGET_SCORE:.0f} % of the non-equivalent mutants of each file killed: "
        f"{'met on the mutants judged' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
