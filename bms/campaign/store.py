"""A campaign's output folder, written so that an interrupted campaign loses nothing:

    DIR/manifest.json        the campaign's fingerprint (a folder holds one campaign's results)
    DIR/campaign.toml        a copy of the campaign file
    DIR/scenarios/run-NNNNNN.toml   every finished run's scenario (`bms simulate --scenario` reads it)
    DIR/results.jsonl        one JSON row per finished run, appended, flushed and fsync'd as each
                             run finishes; the authority on what is done
    DIR/results.parquet      all rows (the latest per run), columnar, rewritten at the end
    DIR/violations/run-NNNNNN.toml  the scenario of every violating run, with what it violated
    DIR/.lock                held while a campaign writes here

A run counts as done once its row is in results.jsonl; its scenario file is written (atomically)
before the row. A kill mid-append leaves at most a partial last line, which is dropped when the
folder is opened again; a run whose row is missing is simply run again. Failed runs are run again
on the next invocation (their rows stay, the latest row of a run wins).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from bms.errors import BmsError

RESULTS = "results.jsonl"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _check_manifest(out: Path, fingerprint: str) -> bool:
    """True if `out` holds this campaign (its manifest's fingerprint), False if it holds
    nothing yet (at most a lock file); BmsError for anything else: another
    campaign, a damaged manifest, or files without a manifest (another campaign's
    results.jsonl, an unrelated folder), which a campaign must not write into."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        others = sorted(p.name for p in out.iterdir() if p.name != ".lock")
        if others:
            what = f"{RESULTS} of another campaign" if RESULTS in others else ", ".join(others[:3])
            raise BmsError(
                f"--out {out} holds files but no campaign manifest ({what}); use an empty or new folder"
            )
        return False
    try:
        old = json.loads(manifest.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        old = None
    if not isinstance(old, dict):
        raise BmsError(f"{manifest}: not a campaign manifest (JSON object); not a campaign folder?")
    if old.get("fingerprint") != fingerprint:
        raise BmsError(
            f"--out {out} holds the results of another campaign ('{old.get('campaign')}', or "
            "this one with a changed file, base scenario or chemistry); use another --out"
        )
    return True


def scenario_name(index: int) -> str:
    return f"run-{index:06d}.toml"


class RunStore:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.results = out / RESULTS
        self._lock_fh: Any = None

    @classmethod
    def open(cls, out: Path, fingerprint: str, name: str, campaign_text: str) -> RunStore:
        """Create the folder or reopen it for the same campaign (refused for another one, for a
        folder that holds other files, or while another process writes to it). A refusal
        writes nothing."""
        if out.exists() and not out.is_dir():
            raise BmsError(f"--out {out} exists and is not a folder")
        if out.is_dir():
            _check_manifest(out, fingerprint)  # before the lock file: a refusal leaves no trace
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BmsError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
        st = cls(out)
        st._lock()
        manifest = out / "manifest.json"
        try:
            fresh = not _check_manifest(out, fingerprint)
        except BmsError:
            st.close()
            raise
        if fresh:
            _atomic_write(
                manifest,
                json.dumps(
                    {
                        "campaign": name,
                        "fingerprint": fingerprint,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    },
                    indent=2,
                )
                + "\n",
            )
            _atomic_write(out / "campaign.toml", campaign_text)
        (out / "scenarios").mkdir(exist_ok=True)
        st._repair()
        return st

    def _lock(self) -> None:
        fh = (self.out / ".lock").open("w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise BmsError(f"--out {self.out}: another `bms campaign` is writing there") from None
        self._lock_fh = fh

    def close(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _repair(self) -> None:
        """Drop a partial last line (a kill during the append)."""
        if not self.results.is_file():
            return
        data = self.results.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.results.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def rows(self) -> dict[int, dict[str, Any]]:
        """The latest row of every run on disk."""
        out: dict[int, dict[str, Any]] = {}
        if not self.results.is_file():
            return out
        with self.results.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    break  # a partial last line (only while another process appends)
                try:
                    row = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise BmsError(
                        f"{self.results}: line {n} is not UTF-8 text; the file is damaged"
                    ) from None
                except json.JSONDecodeError:
                    raise BmsError(
                        f"{self.results}: line {n} is not a JSON row; the file is damaged"
                    ) from None
                index = row.get("index") if isinstance(row, dict) else None
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise BmsError(
                        f"{self.results}: line {n} is not a run's row (no run index); the file is "
                        "damaged or from another program"
                    )
                if not isinstance(row.get("status"), str):
                    raise BmsError(f"{self.results}: line {n} has no run status; the file is damaged")
                out[index] = row
        return out

    def done(self) -> set[int]:
        return {i for i, r in self.rows().items() if r.get("status") == "ok"}

    def write_run(self, row: dict[str, Any], scenario_toml: str | None, violation: str | None = None) -> None:
        """The run's scenario file (and, for a violating run, its copy under violations/ with
        `violation` as a comment on top), then its row: the row is what makes the run done."""
        index = int(row["index"])
        if scenario_toml is not None:
            _atomic_write(self.out / "scenarios" / scenario_name(index), scenario_toml)
            if violation is not None:
                self.save_violation(index, scenario_toml, violation)
        line = json.dumps(row, separators=(",", ":")) + "\n"
        with self.results.open("a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def save_violation(self, index: int, scenario_toml: str, header: str) -> Path:
        d = self.out / "violations"
        d.mkdir(exist_ok=True)
        p = d / scenario_name(index)
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        _atomic_write(p, comment + scenario_toml)
        return p

    def scenario_text(self, index: int) -> str:
        return (self.out / "scenarios" / scenario_name(index)).read_text()


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as flat columns: params as param.<field>, lists joined with '|', the first
    injected fault as fault_* columns and all of them as JSON."""
    flat: dict[str, Any] = {}
    for k, v in row.items():
        if k == "params":
            flat.update({f"param.{p}": x for p, x in v.items()})
        elif k == "faults_injected":
            first = v[0] if v else {}
            for f in (
                "kind",
                "cell",
                "injected_s",
                "onset_s",
                "detected_s",
                "trip_time_s",
                "latency_s",
                "outcome",
            ):
                flat[f"fault_{f}"] = first.get(f)
            flat["faults_injected_json"] = json.dumps(v)
        elif isinstance(v, list):
            flat[k] = "|".join(str(x) for x in v)
        else:
            flat[k] = v
    return flat


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = [flat_row(r) for r in rows]
    cols: dict[str, None] = {}
    for r in flat:
        cols.update(dict.fromkeys(r))
    table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in flat])
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path
