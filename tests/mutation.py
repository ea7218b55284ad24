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
    "balancing.c": ["tests/unit/test_balancing.py", "tests/sim/test_balancing_loop.py"],
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
        if "static const" in code or code.strip().startswith(("typedef", "return (q <")):
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
    counted = [r for r in results if r[1] != "stillborn"]
    killed = sum(1 for r in counted if r[1] == "killed")
    print("\nper file:")
    for f in args.files.split(","):
        fr = [r for r in counted if r[0].file == f.strip()]
        if fr:
            k = sum(1 for r in fr if r[1] == "killed")
            print(f"  {f:18s} {k:4d}/{len(fr):4d} killed ({100 * k / len(fr):.1f} %)")
    score = killed / max(len(counted), 1)
    print(
        f"\nmutants: {len(results)} generated, {len(results) - len(counted)} stillborn (do not compile), "
        f"{len(counted)} run; killed {killed}, survived {len(counted) - killed}"
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
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    raise SystemExit(main())
