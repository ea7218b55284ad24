"""The Dask client a campaign runs on: a local cluster (worker processes on this machine) by
default, or any running scheduler given by its address."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from bms.errors import BmsError

SCHEMES = ("tcp", "tls", "ws", "wss", "inproc", "ucx")


def check_address(address: str) -> None:
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None:
        raise BmsError(f"--scheduler '{address}': use 'local' or a scheduler address such as tcp://HOST:PORT")


@contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's own logging stays at errors (its shutdown chatter is not the user's problem)."""
    names = ("distributed", "distributed.worker", "distributed.nanny", "distributed.scheduler", "tornado")
    old = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in old.items():
            logging.getLogger(n).setLevel(lvl)


@contextmanager
def dask_client(
    scheduler: str = "local",
    workers: int | None = None,
    connect_timeout_s: float = 10.0,
    processes: bool = True,
) -> Iterator[Any]:
    """A connected distributed.Client. local: `workers` worker processes (default: one per
    CPU), one thread each (the simulation holds the GIL). An address: connect within
    connect_timeout_s and, if `workers` is given, wait as long for that many workers."""
    from distributed import Client, LocalCluster

    if workers is not None and workers < 1:
        raise BmsError(f"--workers must be >= 1, got {workers}")
    with quiet_dask():
        if scheduler == "local":
            n = workers or os.cpu_count() or 1
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                # no dashboard; the scheduler's HTTP routes on any free port, not 8787
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close(timeout=10)
            return
        check_address(scheduler)
        try:
            client = Client(scheduler, timeout=connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise BmsError(
                f"--scheduler {scheduler}: no Dask scheduler answered within {connect_timeout_s:g} s ({exc})"
            ) from None
        try:
            if workers:
                try:
                    client.wait_for_workers(workers, timeout=connect_timeout_s)
                except TimeoutError:
                    have = len(client.scheduler_info(n_workers=-1)["workers"])
                    raise BmsError(
                        f"--scheduler {scheduler}: {have} worker(s) after {connect_timeout_s:g} s, "
                        f"--workers asked for {workers}"
                    ) from None
            yield client
        finally:
            client.close(timeout=10)


def n_workers(client: Any) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def check_workers(client: Any) -> None:
    """Every worker must import this package with the same firmware build as the client;
    otherwise runs would fail (or differ) one by one."""
    from bms.campaign.worker import probe

    mine = probe()
    try:
        theirs = client.run(probe)
    except Exception as exc:
        raise BmsError(f"the Dask workers cannot run bms: {type(exc).__name__}: {exc}") from None
    for addr, info in theirs.items():
        if info != mine:
            raise BmsError(f"Dask worker {addr} runs {info}, this client {mine}: install the same bms-bench")
