"""Line and branch coverage of the firmware core under the test suite (`make coverage`).

The cffi extension is rebuilt with gcc --coverage at -O0 (lines and branches as written, no
code folded away) in build/coverage, the suite runs against it through the
BMS_NATIVE_OVERRIDE hook of tests/conftest.py (tests that start a `bms` subprocess or a
firmware image load their own build and are not counted), and gcovr reports every file of
native/src: lines executed and branches taken, and where the gaps are
(build/coverage/index.html, line by line).

    python -m tests.coverage [--tests tests/unit ...] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests import mutation

ROOT = mutation.ROOT
BUILD = ROOT / "build" / "coverage"
# atomic counters: campaign workers run the firmware on several threads of one process, and a
# lost update shows as a negative branch count; the source hash as the package build has it
# (HELLO's build hash: the JUnit and wire tests compare it)
CFLAGS = ["-std=c11", "-O0", "-fPIC", "-ffp-contract=off", "-w", "--coverage", "-fprofile-update=atomic"]
# the firmware's core modules (issue 19's figure): what runs on every step of the firmware
CORE = (
    "bms.c",
    "bms_math.c",
    "cell_model.c",
    "soc_ekf.c",
    "thermal_observer.c",
    "plausibility.c",
    "safety.c",
    "contactor.c",
    "current_limit.c",
    "config_check.c",
)


def build() -> Path:
    """The extension with coverage counters; its objects (and so the .gcda files) in BUILD/base."""
    mutation.BUILD = BUILD
    sys.path.insert(0, str(ROOT / "bms"))
    import _native_build

    mutation.CFLAGS = [*CFLAGS, f"-DBMS_SOURCE_HASH=0x{_native_build.SOURCE_HASH:08x}u"]
    objs = mutation.prepare()
    _, suffix = mutation._py_flags()
    so = BUILD / f"_native{suffix}"
    r = subprocess.run(
        ["gcc", "-shared", "--coverage", "-o", str(so), *map(str, objs.values())],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"cannot link the coverage build: {r.stderr.strip()}")
    return so


def run_suite(so: Path, tests: list[str], jobs: int) -> int:
    env = dict(os.environ, BMS_NATIVE_OVERRIDE=str(so), OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    if jobs > 1:
        cmd += ["-n", str(jobs), "--dist", "loadfile"]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def report() -> dict[str, tuple[int, int, int, int]]:
    """Per file of native/src: (lines executed, lines, branches taken, branches)."""
    summary = BUILD / "summary.json"
    gcovr = [sys.executable, "-m", "gcovr", "--root", str(ROOT), "--object-directory", str(BUILD / "base")]
    gcovr += ["--filter", str(ROOT / "native" / "src"), "--gcov-suspicious-hits-threshold", "0"]
    r = subprocess.run(
        [*gcovr, "--json-summary", str(summary), "--html-details", str(BUILD / "index.html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(
            f"gcovr failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}"
        )
    files = json.loads(summary.read_text())["files"]
    return {
        Path(f["filename"]).name: (f["line_covered"], f["line_total"], f["branch_covered"], f["branch_total"])
        for f in files
    }


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f} %" if b else "    -  "


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", nargs="*", default=["tests"], help="what to run (default: the whole suite)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    if BUILD.exists():
        shutil.rmtree(BUILD)
    so = build()
    rc = run_suite(so, args.tests, args.jobs)
    rows = report()
    print(f"\n{'file':22s} {'lines':>16s} {'branches':>18s}")
    tot = [0, 0, 0, 0]
    core = [0, 0, 0, 0]
    for name in sorted(rows):
        lc, lt, bc, bt = rows[name]
        mark = "*" if name in CORE else " "
        print(f"{mark}{name:21s} {lc:5d}/{lt:<5d}{pct(lc, lt)} {bc:6d}/{bt:<6d}{pct(bc, bt)}")
        for acc, keep in ((tot, True), (core, name in CORE)):
            if keep:
                for i, v in enumerate(rows[name]):
                    acc[i] += v
    print(f"{'core modules (*)':22s} {core[0]:5d}/{core[1]:<5d}{pct(core[0], core[1])} "
          f"{core[2]:6d}/{core[3]:<6d}{pct(core[2], core[3])}")  # fmt: skip
    print(f"{'native/src':22s} {tot[0]:5d}/{tot[1]:<5d}{pct(tot[0], tot[1])} "
          f"{tot[2]:6d}/{tot[3]:<6d}{pct(tot[2], tot[3])}")  # fmt: skip
    print(
        f"\nline by line: {BUILD / 'index.html'}  ({time.perf_counter() - t0:.0f} s; the suite exited {rc})"
    )
    return rc


if __name__ == "__main__":
    sys.exit(main())
