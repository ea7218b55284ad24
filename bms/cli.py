"""The `bms` command line."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table

from bms.errors import BmsError, ConfigError, OutputError, one_line
from bms.outputs import check_output_file, refuse_inputs

console = Console(soft_wrap=True)


def _user_error(exc: BaseException) -> str | None:
    """The one-line message for an error that is the user's input or environment (the
    project's exception root, BmsError, under which targets, the wire protocol and CAN raise
    too; a file that cannot be written); None for anything else (a bug: that keeps its
    traceback)."""
    if isinstance(exc, BmsError):
        return one_line(str(exc))
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return one_line(f"{where}{exc.strerror or exc}")
    return None


def _bench_section(name: str, **kwargs: object) -> dict[str, float] | None:
    """A benchmark another package (hil) registers in the `bms.benches` entry-point group;
    skipped with a note where it is not installed."""
    from importlib.metadata import entry_points

    hint = "(pip install 'bms-bench\\[hil]')"  # \\[: not rich markup
    eps = entry_points(group="bms.benches", name=name)
    if not eps:
        console.print(f"[yellow]{name} bench skipped: not installed {hint}[/yellow]")
        return None
    try:  # the bench's own imports are lazy too: a missing module shows when it runs
        return next(iter(eps)).load()(console, **kwargs)
    except ModuleNotFoundError as exc:
        console.print(f"[yellow]{name} bench skipped: {exc} {hint}[/yellow]")
        return None


def fail(msg: str, code: int = 2) -> NoReturn:
    """One line on stderr and the exit status (2: the input or the options are wrong)."""
    click.echo(f"error: {one_line(msg)}", err=True)
    sys.exit(code)


class BmsGroup(click.Group):
    """Turns the project's errors into one line on stderr and exit status 2 (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            msg = _user_error(exc)
            if msg is None:
                raise
            fail(msg)


@click.group(cls=BmsGroup)
def main() -> None:
    """Battery-management firmware bench: fit cells, replay logs, benchmark."""


@main.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="cell TOML to write"
)
@click.option("--name", default=None, help="cell name stored in the file")
@click.option(
    "--activation-kj-per-mol",
    default=None,
    type=float,
    help="Arrhenius activation energy for a single-temperature fit (default 25)",
)
@click.option(
    "--max-residual-mv",
    default=None,
    type=float,
    help="voltage residual (rms, per file and per temperature) over which the fit is suspect (default 15)",
)
@click.option("--strict", is_flag=True, help="a residual over the bound is an error, not a warning")
def fit(
    logs: tuple[Path, ...],
    out: Path,
    name: str | None,
    activation_kj_per_mol: float | None,
    max_residual_mv: float | None,
    strict: bool,
) -> None:
    """Identify the cell model from lab files: slow OCV sweeps, pulse tests (HPPC, GITT) and
    drive cycles, in any mix, order and number, at one or more temperatures."""
    from bms.fit.command import fit_command

    fit_command(console, logs, out, name, activation_kj_per_mol, max_residual_mv, strict)


@main.command()
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--cell", "cell_path", required=True, type=click.Path(path_type=Path), help="cell TOML")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path), help="CSV to write")
@click.option(
    "--truth", type=click.Path(path_type=Path), default=None, help="CSV with soc_true,core_temp_c_true"
)
@click.option("--plot/--no-plot", default=True, help="also write OUT.png")
@click.option(
    "--soc-init",
    type=float,
    default=None,
    help="start the SoC estimate here (0..1) after the first sample; with truth, report when it converges",
)
@click.option(
    "--soc-stored",
    type=float,
    default=None,
    help="the SoC (0..1) the firmware's non-volatile memory holds at power-up (as after a "
    "shutdown there), fused with the first voltage",
)
@click.option(
    "--current-sigma-a",
    type=float,
    default=None,
    help="1-sigma error (offset + noise, A) of the current sensor that recorded the log; "
    "default: the cell file's estimator.current_noise_a (an automotive sensor)",
)
def replay(
    log: Path,
    cell_path: Path,
    out: Path,
    truth: Path | None,
    plot: bool,
    soc_init: float | None,
    soc_stored: float | None,
    current_sigma_a: float | None,
) -> None:
    """Run the C estimators over a recorded log; score against the truth if given."""
    from bms.cells import load_cell
    from bms.replay import replay_to_file, with_current_sigma

    if out.suffix in (".json", ".png"):
        raise OutputError(f"-o {out}: the CSV's name; the .json and .png are written beside it")
    outputs = [out, out.with_suffix(".json")] + ([out.with_suffix(".png")] if plot else [])
    refuse_inputs(outputs, [log, cell_path, truth], "-o")
    for p in outputs:
        check_output_file(p, "-o")
    cell = load_cell(cell_path)
    if current_sigma_a is not None:
        cell = with_current_sigma(cell, current_sigma_a)
    t0 = time.perf_counter()
    if soc_init is not None and not (math.isfinite(soc_init) and 0.0 <= soc_init <= 1.0):
        raise ConfigError(f"--soc-init must be a SoC within 0..1 (a fraction, not %), got {soc_init:g}")
    if soc_stored is not None and not (math.isfinite(soc_stored) and 0.0 <= soc_stored <= 1.0):
        raise ConfigError(f"--soc-stored must be a SoC within 0..1 (a fraction, not %), got {soc_stored:g}")
    res = replay_to_file(log, cell, out, truth, soc_init=soc_init, soc_stored=soc_stored)
    wall = time.perf_counter() - t0
    console.print(
        f"replayed {res.n_rows} samples ({res.span_s:.0f} s of log) in {wall * 1e3:.0f} ms; wrote {out}",
        highlight=False,
    )
    if res.n_invalid:
        click.echo(
            f"warning: the firmware flagged {res.n_invalid} of {res.n_rows} rows unusable (the first at "
            f"time_s {res.first_invalid_s:g}): written as nan, not scored",
            err=True,
        )
    jp = out.with_suffix(".json") if res.metrics is not None else None
    if res.metrics is not None:
        m = res.metrics
        tab = Table(title="estimator accuracy (time_s >= 300)")
        tab.add_column("quantity")
        tab.add_column("RMSE", justify="right")
        tab.add_column("max |error|", justify="right")
        tab.add_row("SoC", f"{m['soc_rmse'] * 100:.3f} %", f"{m['soc_max_abs'] * 100:.3f} %")
        tab.add_row(
            "SoC, coulomb counting from the true start",
            f"{m['soc_rmse_coulomb'] * 100:.3f} %",
            f"{m['soc_max_abs_coulomb'] * 100:.3f} %",
        )
        if "core_temp_rmse_c" in m:
            tab.add_row(
                "core temperature", f"{m['core_temp_rmse_c']:.3f} K", f"{m['core_temp_max_abs_c']:.3f} K"
            )
        console.print(tab)
        if "soc_converged_s" in m:
            conv = m["soc_converged_s"]
            console.print(
                f"started at SoC {soc_init:.3f}: "
                + (
                    f"within 2 % of the truth from {conv:.0f} s on"
                    if conv is not None
                    else "not within 2 % at the end"
                ),
                highlight=False,
            )
        console.print(f"wrote {jp}", highlight=False)
    if plot:
        from bms.replay_plot import plot_replay

        png = out.with_suffix(".png")
        plot_replay(res, png, title=log.name)
        console.print(f"wrote {png}", highlight=False)


@main.command()
@click.option(
    "--scenario",
    "scenario_name",
    default="fastcharge-10-80",
    show_default=True,
    help="a shipped scenario name or a scenario TOML file",
)
@click.option("--chemistry", multiple=True, help="chemistry profile (repeat to compare side by side)")
@click.option("--series", type=int, default=None)
@click.option("--parallel", type=int, default=None)
@click.option("--soc-start", type=float, default=None)
@click.option("--soc-target", type=float, default=None)
@click.option("--ambient-c", type=float, default=None)
@click.option("--duration-s", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--dt-ms", type=int, default=None, help="firmware step (default 100 ms)")
@click.option(
    "--capacity-fade", type=float, default=None, help="aged plant: capacity lost, 0..0.5 (firmware: new cell)"
)
@click.option("--resistance-growth", type=float, default=None, help="aged plant: resistance increase, 0..2")
@click.option(
    "--soh",
    type=click.Choice(["on", "off"]),
    default=None,
    help="online capacity / resistance estimate (default on; off: the configured model's)",
)
@click.option(
    "--balancing",
    type=click.Choice(["on", "off"]),
    default=None,
    help="passive cell balancing (default: the scenario's; on: its mode, or top balancing)",
)
@click.option(
    "--self-discharge-spread",
    type=float,
    default=None,
    metavar="A",
    help="plant: cell-to-cell 1-sigma of the elements' self-discharge current (A)",
)
@click.option(
    "--ocv-offset-v", type=float, default=None, help="plant OCV off the firmware's table by this (V, signed)"
)
@click.option(
    "--precondition-s",
    type=float,
    default=None,
    metavar="S",
    help="the vehicle announces the fast charge S seconds before it arrives (0: no notice); "
    "the firmware preconditions the pack",
)
@click.option(
    "--ocv-slope", type=float, default=None, help="plant OCV curve stretched by 1 + this about its midpoint"
)
@click.option(
    "--fault", "faults", multiple=True, metavar="KIND:AT_S[:CELL|MODULE]", help="inject a fault (repeatable)"
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out/sim"), show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "mdf"]),
    default="csv",
    show_default=True,
    help="mdf: also write an MDF4 file (needs asammdf)",
)
@click.option(
    "--target",
    default="sim",
    show_default=True,
    help="a registered target: sim | sim-wire | qemu | serial:URL | can:virtual | can:udp_multicast | "
    "can:socketcan:IFACE | can:slcan:URL_A,URL_B",
)
@click.option(
    "--can-log",
    type=click.Choice(["asc", "blf", "log"]),
    default=None,
    help="with a CAN target: write the bus traffic to OUT/can.asc|blf|log (Vector ASC/BLF, candump log)",
)
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="hold every step to the safety properties; exit 1 if one is violated",
)
@click.option("--force", is_flag=True, help="write into an --out folder that already holds files")
def simulate(
    scenario_name: str,
    chemistry: tuple[str, ...],
    series: int | None,
    parallel: int | None,
    soc_start: float | None,
    soc_target: float | None,
    ambient_c: float | None,
    duration_s: float | None,
    seed: int | None,
    dt_ms: int | None,
    capacity_fade: float | None,
    resistance_growth: float | None,
    soh: str | None,
    balancing: str | None,
    self_discharge_spread: float | None,
    ocv_offset_v: float | None,
    ocv_slope: float | None,
    precondition_s: float | None,
    faults: tuple[str, ...],
    out_dir: Path,
    fmt: str,
    target: str,
    can_log: str | None,
    check: bool,
    force: bool,
) -> None:
    """Run the closed-loop fast charge: plant -> sensors -> firmware -> charger."""
    from bms.sim.run import simulate_cli

    results = simulate_cli(
        console,
        scenario_name,
        chemistry,
        dict(
            series=series,
            parallel=parallel,
            soc_start=soc_start,
            soc_target=soc_target,
            ambient_c=ambient_c,
            duration_s=duration_s,
            seed=seed,
            dt_ms=dt_ms,
            precondition_s=precondition_s,
            soh=None if soh is None else soh == "on",
            balancing=None if balancing is None else balancing == "on",
            **{
                "spread.self_discharge_spread_a": self_discharge_spread,
                "spread.capacity_fade": capacity_fade,
                "spread.resistance_growth": resistance_growth,
                "spread.ocv_offset_v": ocv_offset_v,
                "spread.ocv_slope": ocv_slope,
            },
        ),
        faults,
        out_dir,
        fmt,
        target,
        check,
        can_log,
        force,
    )
    if any(r.summary.violations for r in results):
        raise SystemExit(1)


@main.command()
@click.option("--cells", default=96, show_default=True, help="cells in the pack for the throughput run")
@click.option("--samples", default=20000, show_default=True, help="samples per throughput run")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="reference data folder (char.csv.gz, valid.csv.gz, truth.csv.gz) for the replay timing",
)
@click.option(
    "--closed-loop/--no-closed-loop",
    default=True,
    show_default=True,
    help="also time fastcharge-10-80 (10 min simulated) against a PyBaMM SPMe charge",
)
@click.option(
    "--campaign/--no-campaign",
    default=True,
    show_default=True,
    help="also measure campaign runs per minute on 1 and 2 Dask workers",
)
@click.option(
    "--hil/--no-hil",
    default=True,
    show_default=True,
    help="also measure the firmware on the Cortex-M4F: instructions per step per cell, flash "
    "and RAM at 192 cells, lock-step rate over QEMU (needs arm-none-eabi-gcc, qemu-system-arm)",
)
@click.option(
    "--can/--no-can",
    "can_bus",
    default=True,
    show_default=True,
    help="also measure the closed loop over CAN (virtual, udp_multicast, slcan) and the DBC's bus load",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="also write the figures as flat JSON keys (closed_loop_rtf, insn_per_cell_step, ...; "
    "null with the reason under 'missing' where this run could not measure one)",
)
def bench(
    cells: int,
    samples: int,
    data: Path | None,
    closed_loop: bool,
    campaign: bool,
    hil: bool,
    can_bus: bool,
    json_out: Path | None,
) -> None:
    """Measure estimator throughput, replay wall time, the closed loop's real-time factor,
    campaign throughput, the firmware's cost on the Cortex-M4F and the CAN path."""
    from bms.bench import bench_figures, run_bench

    if json_out is not None:
        if json_out.is_dir():
            fail(f"--json {json_out}: is a folder, give a file name")
        if data is not None and json_out.resolve().parent == data.resolve():
            fail(f"--json {json_out}: would write into the reference data folder --data {data}")
    core = run_bench(console, n_cells=cells, n_samples=samples, data=data, closed_loop=closed_loop)
    hil_results = _bench_section("hil") if hil else None
    if can_bus:
        _bench_section("can", series=cells)
    camp = None
    if campaign:
        from bms.campaign.bench import campaign_bench

        try:  # Dask and pyarrow come with the campaign extra, imported when it runs
            camp = campaign_bench(console, series=cells)
        except ModuleNotFoundError as exc:
            hint = "(pip install 'bms-bench\\[campaign]')"
            console.print(f"[yellow]campaign bench skipped: {exc} {hint}[/yellow]")
    if json_out is not None:
        figures = bench_figures(core, hil_results, camp)
        tmp = json_out.with_name(json_out.name + ".part")
        tmp.write_text(json.dumps(figures, indent=2) + "\n")
        tmp.replace(json_out)
        console.print(f"figures written to {json_out}")


def dask_options(f: Callable[..., None]) -> Callable[..., None]:
    """--scheduler, --workers and --connect-timeout: where a command's runs go (Dask)."""
    for opt in reversed(
        (
            click.option(
                "--scheduler",
                default="local",
                show_default=True,
                help="local (a Dask cluster on this machine) or a scheduler address, tcp://HOST:PORT",
            ),
            click.option(
                "--workers",
                type=int,
                default=None,
                help="local: worker processes (default: one per CPU); with an address: wait for this many",
            ),
            click.option(
                "--connect-timeout",
                type=float,
                default=10.0,
                show_default=True,
                help="seconds to reach the scheduler",
            ),
        )
    ):
        f = opt(f)
    return f


@main.command()
@click.argument("campaign_file", metavar="CAMPAIGN")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="results folder")
@dask_options
@click.option("--runs", type=int, default=None, help="run this many (default: the file's runs)")
def campaign(
    campaign_file: str,
    out_dir: Path,
    scheduler: str,
    workers: int | None,
    runs: int | None,
    connect_timeout: float,
) -> None:
    """Run a validation campaign (a shipped name or a campaign TOML) on Dask; resumable."""
    import importlib.util

    missing = [m for m in ("distributed", "pyarrow") if importlib.util.find_spec(m) is None]
    if missing:
        fail(
            f"bms campaign needs the campaign extra ({', '.join(missing)}): pip install 'bms-bench[campaign]'"
        )
    from bms.campaign.cli import campaign_cli

    campaign_cli(console, campaign_file, out_dir, scheduler, workers, runs, connect_timeout)


@main.command()
@click.argument("exploration", metavar="EXPLORATION")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="results folder")
@click.option("--force", is_flag=True, help="write into an --out folder that already holds files")
@dask_options
def explore(
    exploration: str, out_dir: Path, force: bool, scheduler: str, workers: int | None, connect_timeout: float
) -> None:
    """Sweep designs of the sulfide cell (a shipped name, e.g. assb-10min, or an explorer TOML):
    each point a closed-loop fast charge with the firmware deciding; report.json, explore.png
    and one scenario file per point (re-run one with `bms simulate --scenario`)."""
    import importlib.util

    from bms.explore.spec import load_exploration
    from bms.outputs import prepare_output_dir

    if importlib.util.find_spec("distributed") is None:
        fail("bms explore needs the campaign extra (distributed): pip install 'bms-bench[campaign]'")
    e = load_exploration(exploration)
    prepare_output_dir(out_dir, "--out", force)
    from bms.campaign.cluster import check_workers, dask_client
    from bms.explore.run import run_exploration

    console.print(f"{e.name}: {e.n_points} points ({e.base.series}s{e.base.parallel}p, seed {e.seed})")
    with dask_client(scheduler, workers, connect_timeout) as client:
        check_workers(client)
        res = run_exploration(e, out_dir, client, console=console)
    console.print(res.report["answer"]["statement"], highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in res.files)} ({res.wall_s:.0f} s)", highlight=False)


if __name__ == "__main__":
    main()
