"""`bms bench` runs end to end on a small pack and reports every figure it promises
(speed itself is measured by `make bench`, not asserted here)."""

from click.testing import CliRunner

from bms.cli import main


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
