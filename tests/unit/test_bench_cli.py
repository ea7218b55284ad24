"""`bms bench` runs end to end on a small pack and reports every figure it promises
(speed itself is measured by `make bench`, not asserted here)."""

import json
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


def test_bench_json_writes_the_flat_figures_and_says_what_it_could_not_measure(tmp_path):
    out = tmp_path / "bench.json"
    args = [
        "bench",
        "--cells",
        "4",
        "--samples",
        "200",
        "--no-campaign",
        "--no-hil",
        "--no-can",
        "--json",
        str(out),
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    fig = json.loads(out.read_text())
    keys = (
        "closed_loop_rtf", "batch_closed_loop_rtf", "props_per_min", "campaign_runs_per_min",
        "insn_per_cell_step", "flash_192_b", "ram_192_b", "pil_steps_per_s_96",
    )  # fmt: skip
    assert set(keys) <= set(fig)
    assert fig["closed_loop_rtf"] > 0 and fig["cell_steps_per_s"] > 0
    # every figure not measured is null, with the reason; every measured one has none
    for k in keys:
        assert (fig[k] is None) == (k in fig["missing"]), k
    assert "--no-campaign" in fig["missing"]["campaign_runs_per_min"]
    assert not list(tmp_path.glob("*.part"))


def test_bench_json_refuses_a_folder_in_one_line(tmp_path):
    r = CliRunner().invoke(main, ["bench", "--cells", "4", "--samples", "50", "--json", str(tmp_path)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "is a folder" in r.output
