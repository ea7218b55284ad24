"""`bms bench` runs end to end on a small pack and reports every figure it promises
(speed itself is measured by `make bench`, not asserted here)."""

import sys

from click.testing import CliRunner
from rich.console import Console

from bms.cli import main
from bms.sim.bench import closed_loop_bench


def test_bench_reports_throughput_and_the_closed_loop(reference_dir):
    r = CliRunner().invoke(
        main, ["bench", "--cells", "8", "--samples", "300", "--data", str(reference_dir), "--no-campaign"]
    )
    assert r.exit_code == 0, r.output
    out = r.output
    promised = ("cell-steps/s", "replay speed", "real-time factor", "where the loop's time goes", "5,000×")
    for fragment in promised:
        assert fragment in out, fragment
    assert "PyBaMM SPMe" in out  # a row, or its skip message


def test_the_closed_loop_bench_finds_every_stage_and_keeps_the_pybamm_hint(monkeypatch):
    """The profile's stages are all found, and without PyBaMM the reference row says how to
    install it (rich must not read the extra's name `[pybamm]` as markup and drop it)."""
    monkeypatch.setitem(sys.modules, "pybamm", None)  # `import pybamm` raises ImportError
    console = Console(record=True, width=240)
    results = closed_loop_bench(console, duration_s=2.0, series=4)
    assert "pip install 'bms-bench[pybamm]'" in console.export_text()
    # every stage of the profile is found where the bench looks for it (a renamed module
    # gave the firmware 0 % and a ceiling of 1e11 x real time)
    shares = {k: v for k, v in results.items() if k.startswith("share_")}
    assert len(shares) == 5 and all(v > 0.0 for v in shares.values()), shares
