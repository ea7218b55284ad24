"""A short run of the config fuzz (native/fuzz/config_sweep.c; `make fuzz-config` runs 100,000):
every field x extreme value on two shipped 8-cell configurations (NMC 1p, LFP 1000p), then random multi-field
perturbations, each through bms_config_check and, when accepted, 600 steps of a nominal log.
The property: never a non-finite output without the estimator fault and CCL = DCL = 0."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hil.fuzz_seeds import config_seeds

ROOT = Path(__file__).resolve().parents[2]
N_CONFIGS = 10_000  # phase 1 (every field x extreme on both seeds) is ~9,140 of them


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    # gcc is one of make test's three prerequisites: without it this is a failure, not a skip
    assert shutil.which("gcc") is not None, "gcc not installed (make test needs Python 3.11, gcc and make)"
    out = tmp_path_factory.mktemp("config_sweep")
    exe = out / "config_sweep"
    srcs = sorted(str(p) for p in (ROOT / "native" / "src").glob("*.c"))
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-O2",
            "-ffp-contract=off",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'native' / 'include'}",
            f"-I{ROOT / 'native' / 'gen'}",
            str(ROOT / "native" / "fuzz" / "config_sweep.c"),
            str(ROOT / "native" / "fuzz" / "config_run.c"),
            *srcs,
            str(ROOT / "native" / "gen" / "bms_can.c"),
            "-lm",
            "-o",
            str(exe),
        ],
        check=True,
    )
    return exe


def test_config_sweep_finds_no_nan_with_status_ok(sweep, tmp_path):
    seeds = []
    for name, blob in config_seeds().items():
        if name in ("nmc811-graphite-8s1p", "lfp-graphite-8s1000p"):
            p = tmp_path / f"{name}.bin"
            p.write_bytes(blob)
            seeds.append(str(p))
    assert len(seeds) == 2
    r = subprocess.run(
        [str(sweep), str(N_CONFIGS), *seeds], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    line = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 0, (line, r.stderr[-2000:])
    m = re.search(
        r"config fuzz: (\d+) configurations \((\d+) field x extreme, (\d+) random\), (\d+) accepted .*"
        r"NaN output with status OK: (\d+); violations: (\d+)",
        line,
    )
    assert m, line
    tried, phase1, rand, accepted, nan_ok, violations = (int(g) for g in m.groups())
    # phase 1 (every field x extreme on both seeds) completes, then random perturbations
    assert tried == N_CONFIGS and phase1 + rand == tried and rand > 0
    assert nan_ok == 0 and violations == 0
    # both outcomes are exercised: refused with a rule and accepted-and-run
    assert 0.1 * tried < accepted < 0.9 * tried, line
    for rule in ("capacity", "thermal", "estimator", "entropic", "resistance"):
        assert re.search(rf"\b{rule} \d+", line), (rule, line)


def test_config_sweep_refuses_a_seed_the_firmware_refuses(sweep, tmp_path):
    blob = bytearray(next(iter(config_seeds().values())))
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(blob[:100]))  # truncated: not a bms_config_t image
    r = subprocess.run([str(sweep), "10", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "not a bms_config_t image" in r.stderr
