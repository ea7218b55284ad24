"""bms/cli.py: errors are one clear line and exit status 2, never a traceback."""

from click.testing import CliRunner

from bms.cli import main


def test_missing_files(tmp_path):
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "c.toml")])
    assert r.exit_code == 2 and "file not found" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(
        main,
        [
            "replay",
            str(tmp_path / "l.csv"),
            "--cell",
            str(tmp_path / "c.toml"),
            "-o",
            str(tmp_path / "o.csv"),
        ],
    )
    assert r.exit_code == 2 and "cell file not found" in r.output


def test_fit_refuses_a_log_without_a_protocol(tmp_path):
    p = tmp_path / "flat.csv"
    p.write_text(
        "time_s,current_a,voltage_v,temperature_c\n" + "".join(f"{t},0,3.7,25\n" for t in range(100))
    )
    r = CliRunner().invoke(main, ["fit", str(p), "-o", str(tmp_path / "c.toml")])
    assert r.exit_code == 2 and "current is zero everywhere" in r.output


def test_fit_refuses_a_log_without_sweeps(tmp_path):
    p = tmp_path / "pulses.csv"
    rows = "".join(f"{t},{5.0 if (t // 10) % 5 == 0 else 0.0},3.7,25\n" for t in range(2000))
    p.write_text("time_s,current_a,voltage_v,temperature_c\n" + rows)
    r = CliRunner().invoke(main, ["fit", str(p), "-o", str(tmp_path / "c.toml")])
    assert r.exit_code == 2
    assert "no capacity measurement found" in r.output and "slow discharge" in r.output
