"""Mutation check of the safety and current-limit firmware (`make mutation`).

Each mutant is one small change to one of the safety-relevant C files:
  - a comparison operator flipped (<, <=, >, >=, ==, !=),
  - a numeric constant shifted by one unit (0 <-> 1, N -> N + 1, x.yf -> x.yf + 1),
  - a single statement deleted.
For every mutant the cffi extension is relinked with the mutated object (all other
objects are compiled once) and the relevant tests run against it through the
BMS_NATIVE_OVERRIDE hook in tests/conftest.py. A mutant is killed when a test fails
or times out; one that does not compile is stillborn and not counted.

    python -m tests.mutation [--jobs 2] [--files safety.c,...] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "native" / "src"
BUILD = ROOT / "build" / "mutation"
TARGETS = ("safety.c", "current_limit.c", "contactor.c", "plausibility.c", "balancing.c", "sop.c")
TESTS = [
    "tests/unit/test_safety.py",
    "tests/unit/test_faults.py",
    "tests/unit/test_contactor.py",
    "tests/unit/test_current_limit.py",
    "tests/unit/test_plausibility.py",
    "tests/unit/test_bms_step.py",
    "tests/unit/test_bms_lifecycle.py",
]
# a file whose own tests cover it (the shared list above takes 30 s per mutant and never
# reaches it): its mutants run these instead
FILE_TESTS = {
    "balancing.c": [
        "tests/unit/test_balancing.py",
        "tests/unit/test_balancing_rules.py",
        "tests/sim/test_balancing_loop.py",
    ],
    "sop.c": ["tests/unit/test_sop.py", "tests/unit/test_bms_step.py"],
}
CFLAGS = ["-std=c11", "-O1", "-fPIC", "-ffp-contract=off", "-w"]
TEST_TIMEOUT_S = 240

COMPARISONS = {"<=": "<", ">=": ">", "<": "<=", ">": ">=", "==": "!=", "!=": "=="}
_CMP = re.compile(r"(<=|>=|==|!=|(?<![<>\-])<(?![<=])|(?<![<>\-])>(?![>=]))")
_NUM = re.compile(r"(?<![\w.])(\d+\.\d*f|\d+u|\d+)(?![\w.])")


@dataclass
class Mutant:
    file: str
    line: int
    kind: str
    before: str
    after: str

    def describe(self) -> str:
        return f"{self.file}:{self.line} {self.kind}: {self.before.strip()}  ->  {self.after.strip()}"


def _code_part(line: str) -> tuple[str, str]:
    """Split off a trailing // or /* comment."""
    for marker in ("//", "/*"):
        i = line.find(marker)
        if i >= 0:
            return line[:i], line[i:]
    return line, ""


# Mutants shown equivalent to the original: no input can tell them apart (each with the
# reason). Matched by file and the mutated line's text, so they follow the line when the file
# changes; one that no longer matches is counted again. They are reported, not scored.
EQUIVALENT: list[tuple[str, str, str, str, str]] = [
    # (file, the line holds, the mutant's line holds, the next line holds, why)
    (
        "balancing.c",
        "k < BMS_BAL_TEST_CELLS",
        "k <= BMS_BAL_TEST_CELLS",
        "b->test_v[k] = 0.0f;",
        "bms_bal_reset: the write past test_v lands on test_i_a, zeroed again just after the loop",
    ),
    (
        "balancing.c",
        "|| (cell_v <= 0.0f)) {",
        "(cell_v < 0.0f)",
        "",
        "at cell_v = 0 the bleed current is 0 / R = 0 either way",
    ),
    ("balancing.c", "return (s > 3u) ? s : 3u;", "(s >= 3u)", "", "at s = 3 both give 3"),
    (
        "balancing.c",
        "const int32_t slow_charge = ((i < 0.0f)",
        "(i <= 0.0f)",
        "",
        "at i = 0 the rest band holds (rest_current_a >= 0, config_check.c): quiet either way",
    ),
    (
        "balancing.c",
        "float q_ref = 0.0f;",
        "1.0f",
        "",
        "never read before the first known cell sets it (ref < 0)",
    ),
    (
        "balancing.c",
        "if ((ref < 0) || (excess(cfg, q, q_ref) < 0.0f)) {",
        "<= 0.0f",
        "",
        "a tie moves the reference to a cell of equal charge: every excess stays the same, and a cell"
        " level with the reference (excess 0) is bled by neither (start > 0, stop >= 0)",
    ),
    (
        "balancing.c",
        "for (uint32_t m0 = 0u; m0 < n; m0 += p->cells_per_module) {",
        "m0 <= n",
        "",
        "the extra module starts at n: no cell, nothing decided",
    ),
    (
        "balancing.c",
        "const uint32_t m1 = ((m0 + p->cells_per_module) < n)",
        "<= n)",
        "",
        "at m0 + cells_per_module = n both give n",
    ),
    (
        "balancing.c",
        "float best_x = 0.0f;",
        "1.0f",
        "",
        "never read before the first candidate sets it (best < 0)",
    ),
    (
        "balancing.c",
        "for (uint32_t i = 0u; i < n; i++) {",
        "i <= n",
        "b->n_on = (uint16_t)(b->n_on",
        "cmd's bit n is never set (decide and test_start set bits below n only)",
    ),
    (
        "balancing.c",
        "for (uint32_t i = 0u; i < n; i++) {",
        "i <= n",
        "if (bit_get(b->failed, i) != 0u) {",
        "failed's bit n is never set (test_judge stops below n)",
    ),
    # sop.c
    ("sop.c", "return (b < a) ? b : a;", "(b <= a)", "", "minf: at a = b both are the same value"),
    ("sop.c", "return (b > a) ? b : a;", "(b >= a)", "", "maxf: at a = b both are the same value"),
    (
        "sop.c",
        "return (x > 0.0f) ? x : 0.0f;",
        "(x >= 0.0f)",
        "",
        "nonneg: at x = 0 it returns x, equal to 0 (a -0 compares equal everywhere it is used)",
    ),
    (
        "sop.c",
        "int32_t next = (int32_t)idx + 1;",
        "idx + 0",
        "",
        "root_end: breakpoint idx lies at or behind soc0 on a charge (opens no segment: win_b <= 0) and is"
        " the first one visited on a discharge either way; the walk's bound leaves room for the extra visit",
    ),
    ("sop.c", "const int32_t step = (s > 0.0f) ? -1 : 1;", "(s >= 0.0f)", "", "s is +1 or -1, never 0"),
    (
        "sop.c",
        "for (uint32_t n = 0u; n < cp->n_soc; n++) {",
        "n <= cp->n_soc",
        "",
        "root_end: the index check ends the walk first (at most idx + 2 <= n_soc visits)",
    ),
    (
        "sop.c",
        "if ((next < 0) || (next >= (int32_t)cp->n_soc)) {",
        "(next > (int32_t)cp->n_soc)",
        "",
        "root_end: one point past the table's top (an unused 0, or the next field) opens no segment or a"
        " flat one: the OCV is flat beyond the table (it clamps), the same root",
    ),
    (
        "sop.c",
        "if (win_b > win_a) {",
        "(win_b >= win_a)",
        "",
        "root_end: a zero-width segment (soc0 on a breakpoint) has no drift (k = 0/0 -> nonneg -> 0) and"
        " returns only a root <= 0, which sop_solve clamps to 0 as the walk's would be",
    ),
    (
        "sop.c",
        "if ((i * soc_per_a) <= win_b) {",
        "< win_b",
        "",
        "root_end: a root on the breakpoint solves the next segment's line too (the drift is continuous)",
    ),
    (
        "sop.c",
        "if (q != 0.0f) {",
        "(q != 1.0f)",
        "",
        "tau_inside: for q = 0 the vertex is at +-inf or NaN, outside (0, 1): nothing added either way",
    ),
    (
        "sop.c",
        "if ((t > 0.0f) && (t < 1.0f)) {",
        "(t >= 0.0f)",
        "",
        "tau_inside: a vertex at t = 0 is the segment's first point, already counted by the caller",
    ),
    (
        "sop.c",
        "if ((t > 0.0f) && (t < 1.0f)) {",
        "(t <= 1.0f)",
        "",
        "tau_inside: a vertex at t = 1 is the segment's last point, already counted by the caller",
    ),
    (
        "sop.c",
        "for (uint32_t k = idx + 1u; k < cp->n_soc; k++) {",
        "k <= cp->n_soc",
        "",
        "sop_window: hi <= the table's last breakpoint (clamped), so the walk breaks there at the latest",
    ),
    (
        "sop.c",
        "const uint32_t last = (cp->soc_bp[k] < hi) ? 0u : 1u;",
        "(cp->soc_bp[k] <= hi)",
        "",
        "sop_window: a breakpoint equal to hi is evaluated as a table point, then the walk ends on"
        " hi itself (the last point evaluated is hi, never a breakpoint beyond it): the same point twice",
    ),
    (
        "sop.c",
        "const float e1 = (u1 > 0.0f) ? p->e_hi[0] : p->e_lo[0];",
        "(u1 >= 0.0f)",
        "",
        "at u1 = 0 the start value's term u1 e1 is 0 whichever factor",
    ),
    (
        "sop.c",
        "const float e2 = (u2 > 0.0f) ? p->e_hi[1] : p->e_lo[1];",
        "(u2 >= 0.0f)",
        "",
        "at u2 = 0 the start value's term u2 e2 is 0 whichever factor",
    ),
    (
        "sop.c",
        "const float cap = (c->cap_a[dir] >= 0.0f)",
        "(c->cap_a[dir] > 0.0f)",
        "",
        "a cap of 0 makes the pack's figure 0 whatever the cell's (bms_sop_finish), the only figure that"
        " leaves the firmware; the cell's own only gets smaller (a wider window)",
    ),
    (
        "sop.c",
        "const float win = minf(minf(i1, cap) * soc_per_a, 1.0f);",
        "2.0f",
        "",
        "a window of the whole SoC range or more is clamped to the table's ends either way",
    ),
    (
        "sop.c",
        "const float lo = bms_clampf(c->soc - sig - ((s > 0.0f)",
        "(s >= 0.0f)",
        "",
        "s is +1 or -1, never 0",
    ),
    (
        "sop.c",
        "const float hi = bms_clampf(c->soc + sig + ((s > 0.0f)",
        "(s >= 0.0f)",
        "",
        "s is +1 or -1, never 0",
    ),
    (
        "sop.c",
        "acc->i_a[d][h] = (i < acc->i_a[d][h])",
        "(i <= acc->i_a[d][h])",
        "",
        "at i equal to the fold's value both keep that value",
    ),
    (
        "sop.c",
        "acc->i_a[d][h] = (i < acc->i_a[d][h])",
        "((i > 0.0f) ?",
        "",
        "i = 0 not below the fold's value means the fold is 0 too: 0 either way",
    ),
    (
        "sop.c",
        "return (up > floor_scale) ? up : floor_scale;",
        "(up >= floor_scale)",
        "",
        "at up = floor_scale both are the same value",
    ),
]


def _equivalent(m: Mutant) -> str:
    """Why m is equivalent ('' if it is not one of EQUIVALENT)."""
    lines = (SRC / m.file).read_text().splitlines()
    nxt = lines[m.line] if m.line < len(lines) else ""
    for f, has, after_has, next_has, why in EQUIVALENT:
        if (
            f == m.file
            and has in m.before
            and after_has in m.after
            and after_has not in m.before
            and next_has in nxt
        ):
            return why
    return ""


def _is_code(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith(("#", "/*", "*", "//", "}", "{"))


def _shift(tok: str) -> str:
    if tok.endswith("f"):
        return f"{float(tok[:-1]) + 1.0!r}f"
    if tok.endswith("u"):
        v = int(tok[:-1])
        return f"{0 if v == 1 else v + 1}u"
    v = int(tok)
    return str(0 if v == 1 else v + 1)


def enumerate_mutants(name: str) -> list[Mutant]:
    lines = (SRC / name).read_text().splitlines(keepends=True)
    out: list[Mutant] = []
    in_comment = False
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        if in_comment:
            in_comment = "*/" not in s
            continue
        if s.startswith("/*") and "*/" not in s:
            in_comment = True
            continue
        if not _is_code(line):
            continue
        code, comment = _code_part(line)
        # compile-time checks have no behaviour to kill (a mutant of one still holds, or does
        # not compile)
        if "static const" in code or code.strip().startswith(("typedef", "return (q <", "_Static_assert")):
            continue
        for m in _CMP.finditer(code):
            new = code[: m.start()] + COMPARISONS[m.group(0)] + code[m.end() :]
            out.append(Mutant(name, n, "comparison", line, new + comment))
        for m in _NUM.finditer(code):
            if code[: m.start()].rstrip().endswith(("[", "<<")) or "BMS_" in code[m.start() - 5 : m.start()]:
                continue
            new = code[: m.start()] + _shift(m.group(0)) + code[m.end() :]
            out.append(Mutant(name, n, "constant", line, new + comment))
        st = code.strip()
        is_decl = re.match(
            r"^(const\s+)?(float|int32_t|uint32_t|uint8_t|uint16_t|int16_t|[a-z_]+_t)\s+\**\w+", st
        )
        if st.endswith(";") and not is_decl and not st.startswith(("return", "break", "case", "default")):
            out.append(Mutant(name, n, "delete", line, "\n" if line.endswith("\n") else ""))
    return out


def _py_flags() -> tuple[list[str], str]:
    inc = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return [f"-I{inc}", f"-I{ROOT / 'native' / 'include'}", f"-I{ROOT / 'native' / 'gen'}"], suffix


def _cc(src: Path, obj: Path) -> bool:
    inc, _ = _py_flags()
    r = subprocess.run(["gcc", *CFLAGS, *inc, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
    return r.returncode == 0


def _link(objs: list[Path], out: Path) -> bool:
    r = subprocess.run(["gcc", "-shared", "-o", str(out), *map(str, objs)], capture_output=True, text=True)
    return r.returncode == 0


def prepare() -> dict[str, Path]:
    """Compile every unmutated object once (and the cffi glue)."""
    sys.path.insert(0, str(ROOT / "bms"))
    import _native_build

    if BUILD.exists():
        shutil.rmtree(BUILD)
    (BUILD / "base").mkdir(parents=True)
    glue = BUILD / "base" / "_native.c"
    _native_build.ffibuilder.emit_c_code(str(glue))
    objs = {}
    # the core, the CAN code generated from the DBC, and the cffi glue
    for src in [*sorted(SRC.glob("*.c")), *sorted((ROOT / "native" / "gen").glob("*.c")), glue]:
        obj = BUILD / "base" / (src.stem + ".o")
        if not _cc(src, obj):
            raise SystemExit(f"cannot compile {src}")
        objs[src.name] = obj
    return objs


def pytest_cmd(*args: str) -> list[str]:
    """pytest stopping at the first failure, quiet, no cache, the project's addopts off."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        *args,
    ]


def run_tests(so: Path, workdir: Path, tests: list[str] | None = None) -> tuple[bool, str]:
    env = dict(os.environ, BMS_NATIVE_OVERRIDE=str(so), HYPOTHESIS_PROFILE="mutation")
    cmd = pytest_cmd(*(tests or TESTS))
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, "timeout"
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    return r.returncode == 0, tail


def evaluate(k: int, mut: Mutant, objs: dict[str, Path]) -> tuple[Mutant, str, str]:
    d = BUILD / f"m{k:04d}"
    d.mkdir()
    lines = (SRC / mut.file).read_text().splitlines(keepends=True)
    lines[mut.line - 1] = mut.after
    src = d / mut.file
    src.write_text("".join(lines))
    obj = d / (Path(mut.file).stem + ".o")
    if not _cc(src, obj):
        shutil.rmtree(d)
        return mut, "stillborn", ""
    _, suffix = _py_flags()
    so = d / f"_native{suffix}"
    linked = [obj if name == mut.file else o for name, o in objs.items()]
    if not _link(linked, so):
        shutil.rmtree(d)
        return mut, "stillborn", ""
    passed, tail = run_tests(so, d, FILE_TESTS.get(mut.file))
    shutil.rmtree(d)
    return mut, ("survived" if passed else "killed"), tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--files", default=",".join(TARGETS))
    ap.add_argument("--limit", type=int, default=0, help="only the first N mutants (smoke run)")
    ap.add_argument("--min-score", type=float, default=0.85)
    args = ap.parse_args()
    t0 = time.time()
    objs = prepare()
    _, suffix = _py_flags()
    base_so = BUILD / "base" / f"_native{suffix}"
    if not _link(list(objs.values()), base_so):
        raise SystemExit("cannot link the unmutated module")
    files = [f.strip() for f in args.files.split(",")]
    base_tests = list(dict.fromkeys(t for f in files for t in FILE_TESTS.get(f, TESTS)))
    ok, tail = run_tests(base_so, BUILD, base_tests)
    if not ok:
        raise SystemExit(f"the tests fail on the unmutated firmware: {tail}")
    mutants = [m for f in args.files.split(",") for m in enumerate_mutants(f.strip())]
    if args.limit:
        mutants = mutants[: args.limit]
    print(
        f"{len(mutants)} mutants of {args.files}; baseline tests pass ({time.time() - t0:.0f} s)", flush=True
    )
    results: list[tuple[Mutant, str, str]] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(evaluate, k, m, objs) for k, m in enumerate(mutants)]
        for i, fut in enumerate(futs, start=1):
            res = fut.result()
            results.append(res)
            if res[1] == "survived":
                print(f"  survived: {res[0].describe()}", flush=True)
            if i % 25 == 0:
                print(f"  {i}/{len(mutants)} done ({time.time() - t0:.0f} s)", flush=True)
    # a survivor shown equivalent is reported, not scored; one listed as equivalent that a
    # test kills means the list is wrong: reported, and the run fails
    wrong = [r[0] for r in results if r[1] == "killed" and _equivalent(r[0])]
    results = [
        (m, "equivalent", _equivalent(m)) if st == "survived" and _equivalent(m) else (m, st, t)
        for m, st, t in results
    ]
    equivalent = [r for r in results if r[1] == "equivalent"]
    counted = [r for r in results if r[1] not in ("stillborn", "equivalent")]
    killed = sum(1 for r in counted if r[1] == "killed")
    print("\nper file:")
    for f in args.files.split(","):
        fr = [r for r in counted if r[0].file == f.strip()]
        if fr:
            k = sum(1 for r in fr if r[1] == "killed")
            eq = sum(1 for r in equivalent if r[0].file == f.strip())
            print(f"  {f:18s} {k:4d}/{len(fr):4d} killed ({100 * k / len(fr):.1f} %), {eq} equivalent")
    score = killed / max(len(counted), 1)
    n_still = sum(1 for r in results if r[1] == "stillborn")
    print(
        f"\nmutants: {len(results)} generated, {n_still} stillborn (do not compile), {len(equivalent)} "
        f"equivalent (listed with the reason), {len(counted)} scored; killed {killed}, "
        f"survived {len(counted) - killed}"
    )
    print(
        f"MUTATION SCORE: {100 * score:.1f} % killed (target >= {100 * args.min_score:.0f} %) "
        f"in {time.time() - t0:.0f} s"
    )
    survivors = [r[0] for r in counted if r[1] == "survived"]
    if survivors:
        print("survivors:")
        for m in survivors:
            print(f"  {m.describe()}")
    if equivalent:
        print("equivalent (not scored):")
        for m, _st, why in equivalent:
            print(f"  {m.describe()}\n      {why}")
    for m in wrong:
        print(f"LISTED AS EQUIVALENT BUT KILLED (fix tests/mutation.py's EQUIVALENT): {m.describe()}")
    return 0 if score >= args.min_score and not wrong else 1


if __name__ == "__main__":
    raise SystemExit(main())
