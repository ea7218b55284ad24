"""Running a campaign on a Dask client: skip what is on disk, sample each remaining run on the
client, simulate it on a worker, write its row the moment it returns, then the report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bms.campaign.cluster import n_workers
from bms.campaign.plots import write_plots
from bms.campaign.report import build_report, write_report
from bms.campaign.rows import failed_row, ok_row, violation_text
from bms.campaign.sampling import SampledRun, sample_run
from bms.campaign.spec import Campaign, fingerprint
from bms.campaign.store import RunStore, scenario_name, write_parquet
from bms.campaign.verdict import Limits
from bms.campaign.worker import simulate_on_worker
from bms.chemistry import Chemistry, load_chemistry
from bms.errors import BmsError
from bms.sim.scenario import scenario_to_toml


@dataclass
class CampaignResult:
    out: Path
    report: dict[str, Any]
    computed: int = 0  # runs finished by this invocation (ok or failed)
    failed: int = 0
    skipped: int = 0  # runs already done on disk
    wall_s: float = 0.0
    files: list[Path] = field(default_factory=list)


def limits_for(c: Campaign, chem: Chemistry) -> Limits:
    return Limits(
        cell_v=c.abs_max.get("cell_v", chem.abs_max.cell_v),
        core_temp_c=c.abs_max.get("core_temp_c", chem.abs_max.core_temp_c),
    )


def _campaign_text(c: Campaign) -> str:
    p = Path(c.source)
    return p.read_text() if p.is_file() else tomli_w.dumps(c.raw)


def _progress(console: Console | None) -> Progress | None:
    if console is None:
        return None
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed [red]{task.fields[failed]}[/]"),
        TextColumn("{task.fields[rate]} runs/min"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _violation_header(c: Campaign, row: dict[str, Any], out: Path) -> str:
    def src(k: str) -> str:
        return "campaign" if k in c.abs_max else "chemistry"

    return (
        f"Run {row['index']} of campaign '{c.name}' (seed {c.seed}) violated:\n"
        f"{violation_text(row)}\n"
        f"(limits: cell {row['limit_cell_v']:g} V from the {src('cell_v')} [abs_max], core "
        f"{row['limit_core_temp_c']:g} C from the {src('core_temp_c')} [abs_max])\n"
        f"Re-run: bms simulate --scenario {out / 'violations' / scenario_name(row['index'])}"
    )


def run_campaign(
    c: Campaign,
    out: Path,
    client: Any,
    console: Console | None = None,
    scheduler: str = "local",
) -> CampaignResult:
    """Every run of `c` not yet done in `out`, on the Dask `client`; returns the report."""
    t0 = time.perf_counter()
    fp = fingerprint(c)
    with RunStore.open(out, fp, c.name, _campaign_text(c)) as store:
        done = store.done()
        todo = [i for i in range(c.runs) if i not in done]
        result = CampaignResult(out=out, report={}, skipped=c.runs - len(todo))
        chems = {name: load_chemistry(name) for name in c.chemistries()}
        bar = _progress(console)
        if bar is not None:
            bar.start()
            task = bar.add_task(c.name, total=c.runs, completed=result.skipped, failed=0, rate="-")
        futures: list[Any] = []
        try:
            sampled: dict[str, SampledRun] = {}
            pending_errors: list[dict[str, Any]] = []
            chem_future: dict[str, Any] = {}
            if todo:
                names = list(chems)
                scattered = client.scatter([chems[n] for n in names], broadcast=True, hash=False)
                chem_future = dict(zip(names, scattered, strict=True))
            for i in todo:
                try:
                    s = sample_run(c, i)
                except BmsError as exc:
                    pending_errors.append(failed_row(i, f"invalid scenario: {exc}"))
                    continue
                if s.scenario.chemistry not in chem_future:
                    pending_errors.append(failed_row(i, f"chemistry {s.scenario.chemistry} was not loaded"))
                    continue
                fut = client.submit(
                    simulate_on_worker,
                    s.scenario,
                    chem_future[s.scenario.chemistry],
                    key=f"bms-campaign-{fp[:12]}-run{i:06d}",
                    retries=1,
                )
                sampled[fut.key] = s
                futures.append(fut)

            def record(row: dict[str, Any], scn_toml: str | None) -> None:
                header = _violation_header(c, row, out) if row.get("violation") else None
                store.write_run(row, scn_toml, header)
                result.computed += 1
                result.failed += row["status"] != "ok"
                if bar is not None:
                    minutes = (time.perf_counter() - t0) / 60
                    bar.update(
                        task,
                        advance=1,
                        failed=result.failed,
                        rate=f"{result.computed / minutes:.1f}" if minutes > 0 else "-",
                    )

            for row in pending_errors:
                record(row, None)
            if futures:
                from distributed import as_completed

                for fut in as_completed(futures):
                    s = sampled.pop(fut.key)
                    try:
                        res = fut.result()
                    except Exception as exc:  # the worker died, the task was lost, ...
                        res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                    fut.release()
                    scn_toml = scenario_to_toml(s.scenario)
                    chem = chems[s.scenario.chemistry]
                    if res["ok"]:
                        row = ok_row(s, res, limits_for(c, chem))
                    else:
                        row = failed_row(s.index, res["error"], s, res)
                    record(row, scn_toml)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        finally:
            if bar is not None:
                bar.stop()
        result.wall_s = time.perf_counter() - t0
        rows = store.rows()
        execution = {
            "scheduler": scheduler,
            "workers": n_workers(client),
            "computed_now": result.computed,
            "failed_now": result.failed,
            "skipped_done": result.skipped,
            "wall_s": round(result.wall_s, 2),
            "runs_per_min": round(result.computed / result.wall_s * 60, 1) if result.computed else None,
        }
        result.report = build_report(c, rows, execution)
        ordered = [rows[i] for i in sorted(rows) if i < c.runs]
        result.files = [
            write_report(result.report, out),
            write_parquet(ordered, out / "results.parquet"),
            *write_plots(ordered, out, c.name),
        ]
    return result
