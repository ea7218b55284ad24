"""Measurement logs (CSV, optionally gzipped): reading with validation.

A cell log has exactly the columns ``time_s,current_a,voltage_v,temperature_c``
(current > 0 is discharge, temperature is the surface sensor), optionally with
the truth columns ``soc_true,core_temp_c_true``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from bms.errors import LogFormatError

LOG_COLUMNS = ("time_s", "current_a", "voltage_v", "temperature_c")
TRUTH_COLUMNS = ("soc_true", "core_temp_c_true")


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    # utf-8-sig: a byte-order mark (spreadsheets write one) is not part of the first column's name
    return path.open("r", encoding="utf-8-sig", newline="")


def read_table(
    path: str | Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Read a CSV with exactly `required` (+ any of `optional`) columns, all finite numbers,
    time_s strictly increasing. Errors name the file, row and column."""
    p = Path(path)
    if not p.is_file():
        raise LogFormatError(f"{p}: file not found")
    try:
        with _open_text(p) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise LogFormatError(f"{p}: file is empty (no header row)")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            extra = [c for c in header if c not in required and c not in optional]
            dup = sorted({c for c in header if header.count(c) > 1})
            if missing:
                raise LogFormatError(
                    f"{p}: missing column(s) {', '.join(missing)}; expected {','.join(required)}"
                )
            if extra:
                raise LogFormatError(
                    f"{p}: unexpected column(s) {', '.join(extra)}; expected {','.join(required)}"
                )
            if dup:
                raise LogFormatError(f"{p}: duplicated column(s) {', '.join(dup)}")
            rows = []
            for lineno, row in enumerate(reader, start=2):
                if not row or all(not x.strip() for x in row):
                    continue
                if len(row) != len(header):
                    raise LogFormatError(
                        f"{p}: line {lineno} has {len(row)} fields, the header has {len(header)}"
                    )
                try:
                    rows.append([float(x) for x in row])
                except ValueError:
                    raise LogFormatError(
                        f"{p}: line {lineno} has a value that is not a number: {row}"
                    ) from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile, csv.Error) as exc:
        raise LogFormatError(f"{p}: cannot be read ({exc})") from None
    if not rows:
        raise LogFormatError(f"{p}: file has a header but no data rows")
    data = np.asarray(rows, dtype=float)
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise LogFormatError(
            f"{p}: line {r + 2} column {header[c]} is {data[r, c]} (NaN/inf rows are refused)"
        )
    cols = {h: data[:, i] for i, h in enumerate(header)}
    t = cols["time_s"]
    dt = np.diff(t)
    if np.any(dt <= 0):
        r = int(np.argmax(dt <= 0)) + 1
        raise LogFormatError(
            f"{p}: time goes backwards or repeats at line {r + 2} (time_s {t[r]:g} after {t[r - 1]:g})"
        )
    return cols


def read_cell_log(path: str | Path) -> dict[str, np.ndarray]:
    """A cell log; truth columns are passed through when present."""
    return read_table(path, LOG_COLUMNS, TRUTH_COLUMNS)


def read_truth(path: str | Path) -> dict[str, np.ndarray]:
    return read_table(path, ("time_s", *TRUTH_COLUMNS))


def dt_ms_from_time(time_s: np.ndarray) -> np.ndarray:
    """Per-row step lengths in ms (first row 0: it seeds the estimators)."""
    dt = np.zeros(len(time_s), dtype=np.int64)
    dt[1:] = np.rint(np.diff(time_s) * 1000.0).astype(np.int64)
    if len(dt) > 1 and np.any(dt[1:] < 1):
        r = int(np.argmax(dt[1:] < 1)) + 1
        raise LogFormatError(f"time step at row {r} is below 1 ms")
    return dt.astype(np.uint32)
