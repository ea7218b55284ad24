"""`bms campaign`: campaign file + Dask scheduler -> DIR with results, report and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bms.campaign.cluster import check_workers, dask_client
from bms.campaign.runner import CampaignResult, run_campaign
from bms.campaign.spec import load_campaign


def _fmt(x: float | None, spec: str, unit: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{unit}"


def summary_table(rep: dict[str, Any]) -> Table:
    c = rep["campaign"]
    tab = Table(title=f"campaign {c['name']} ({c['runs']} runs, seed {c['seed']})")
    tab.add_column("")
    tab.add_column("")
    r = rep["runs"]
    tab.add_row("runs", f"{r['ok']} ok, {r['failed']} failed, {r['missing']} missing")
    t = rep["time_to_target_s"]
    if t["n"]:
        tab.add_row(
            "time to target",
            f"median {t['median'] / 60:.1f} min (p05 {t['p05'] / 60:.1f}, p95 {t['p95'] / 60:.1f}, "
            f"max {t['max'] / 60:.1f}); {t['not_reached']} runs did not reach it",
        )
    else:
        tab.add_row("time to target", f"no run reached the target ({t['not_reached']} runs)")
    for key, label, unit, spec in (
        ("max_cell_v_true", "worst true cell voltage", " V", ".4f"),
        ("max_core_temp_c_true", "worst true core temperature", " °C", ".2f"),
    ):
        w = rep[key]
        if w["n"]:
            lims = ", ".join(f"{v:g}" for v in w["limits"])
            tab.add_row(
                label,
                f"max {_fmt(w['max'], spec, unit)} (run {w['worst_run']}), "
                f"median {_fmt(w['median'], spec, unit)}; abs max {lims}{unit}, {w['over_limit']} runs over",
            )
    for kind, d in rep["fault_detection"].items():
        lat = d["latency_s"]
        trips = ", ".join(f"{x:g}" for x in d["trip_time_s"])
        tab.add_row(
            f"fault {kind}",
            f"{d['detected'] + d['late']}/{d['injected']} detected ({d['late']} late, "
            f"{d['missed']} missed, {d['undecided']} undecided, {d['not_observable']} unobservable); latency "
            f"{_fmt(lat['min'], '.1f')} / {_fmt(lat['median'], '.1f')} / {_fmt(lat['max'], '.1f')} s "
            f"(trip time {trips} s)",
        )
    v = rep["violations"]
    by = ", ".join(f"{k} {n}" for k, n in v["by_type"].items() if n) or "none"
    tab.add_row("safety violations", f"[{'bold red' if v['count'] else 'green'}]{v['count']} runs[/] ({by})")
    f = rep["false_trips"]
    tab.add_row("false trips", f"{f['count']} of {f['runs_without_fault']} runs without a fault")
    e = rep["execution"]
    rate = "-" if e["runs_per_min"] is None else f"{e['runs_per_min']:.1f} runs/min"
    tab.add_row(
        "this invocation",
        f"{e['computed_now']} runs in {e['wall_s']:.1f} s ({rate}) on {e['workers']} workers "
        f"({e['scheduler']}); {e['skipped_done']} already done",
    )
    return tab


def campaign_cli(
    console: Console,
    campaign: str,
    out: Path,
    scheduler: str,
    workers: int | None,
    runs: int | None,
    connect_timeout_s: float,
) -> CampaignResult:
    c = load_campaign(campaign, runs=runs)
    try:
        with dask_client(scheduler, workers, connect_timeout_s) as client:
            check_workers(client)
            res = run_campaign(c, out, client, console=console, scheduler=scheduler)
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: the finished runs are in {out}; run the same command again to complete it",
            err=True,
        )
        raise SystemExit(130) from None
    console.print(summary_table(res.report))
    v = res.report["violations"]
    if v["count"]:
        console.print(
            f"violating runs saved as scenarios in {out / 'violations'} (re-run one with "
            f"`bms simulate --scenario {out / v['runs'][0]['scenario']}`)",
            highlight=False,
        )
    console.print(f"wrote {', '.join(str(p) for p in res.files)}", highlight=False)
    failed, missing = res.report["runs"]["failed"], res.report["runs"]["missing"]
    if failed or missing:
        # a run that could not be simulated is no result: the campaign is incomplete
        click.echo(
            f"error: {failed} of {c.runs} runs failed and {missing} are missing (the errors are in "
            f"{out / 'results.jsonl'}); run the same command again to retry them",
            err=True,
        )
        raise SystemExit(1)
    return res
