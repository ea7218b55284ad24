"""Validation campaigns: thousands of closed-loop runs drawn from one campaign file, run on
Dask (a local cluster, or any scheduler), written run by run, judged and reported.

    spec.py           the campaign file and its validation
    distributions.py  what a field can be drawn from
    sampling.py       one run's scenario from (campaign seed, run index) alone
    worker.py         what a Dask worker runs: one simulation
    verdict.py        safety violations and false trips, defined
    rows.py           the result row of a run
    store.py          the output folder: append-only rows, scenario files, resumption
    cluster.py        the Dask client (local cluster or scheduler address)
    runner.py         skip what is done, submit the rest, write each row as it returns
    report.py         report.json aggregates;  plots.py  the PNGs
    bench.py          runs per minute on 1 and 2 workers
    cli.py            `bms campaign`
"""
