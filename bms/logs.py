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
from collections.abc import Iterator
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


DEFAULT_CHUNK_ROWS = 65536


def iter_table(
    path: str | Path,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    repeats_ok: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """The rows of a CSV with exactly `required` (+ any of `optional`) columns, all finite
    numbers, time_s strictly increasing (non-decreasing with `repeats_ok`: a lab export
    with two rows on one rounded stamp, merged by the reader that allows it), in chunks of
    at most `chunk_rows` rows (memory is bounded by the chunk, not the file). Errors name
    the file, line and column."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
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
            rows: list[list[float]] = []
            lines: list[int] = []
            last_t: float | None = None
            last_line = 0
            n_rows = 0
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
                lines.append(lineno)
                if len(rows) == chunk_rows:
                    yield _chunk(p, header, rows, lines, last_t, last_line, repeats_ok)
                    n_rows += len(rows)
                    last_t, last_line = rows[-1][header.index("time_s")], lines[-1]
                    rows, lines = [], []
            if rows:
                yield _chunk(p, header, rows, lines, last_t, last_line, repeats_ok)
                n_rows += len(rows)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, gzip.BadGzipFile, csv.Error) as exc:
        raise LogFormatError(f"{p}: cannot be read ({exc})") from None
    if n_rows == 0:
        raise LogFormatError(f"{p}: file has a header but no data rows")


def _chunk(
    p: Path,
    header: list[str],
    rows: list[list[float]],
    lines: list[int],
    last_t: float | None,
    last_line: int,
    repeats_ok: bool = False,
) -> dict[str, np.ndarray]:
    data = np.asarray(rows, dtype=float)
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise LogFormatError(
            f"{p}: line {lines[r]} column {header[c]} is {data[r, c]} (NaN/inf rows are refused)"
        )
    cols = {h: data[:, i] for i, h in enumerate(header)}
    t = cols["time_s"]
    tt = t if last_t is None else np.concatenate([[last_t], t])
    ll = lines if last_t is None else [last_line, *lines]
    dt = np.diff(tt)
    back = dt < 0 if repeats_ok else dt <= 0
    if np.any(back):
        r = int(np.argmax(back)) + 1
        raise LogFormatError(
            f"{p}: time goes backwards or repeats at line {ll[r]} (time_s {tt[r]:g} after {tt[r - 1]:g})"
        )
    return cols


def read_table(
    path: str | Path, required: tuple[str, ...], optional: tuple[str, ...] = (), repeats_ok: bool = False
) -> dict[str, np.ndarray]:
    """The whole CSV at once (see iter_table)."""
    chunks = list(iter_table(path, required, optional, repeats_ok=repeats_ok))
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


# --- units and sign, judged by plausibility ---------------------------------------------
# A cell's voltage: LTO/graphite-free cells discharge to 1.5 V, the highest-voltage cathode
# in use (LiNi0.5Mn1.5O4 spinel) charges to 4.9 V; no Li-ion cell rests outside 1..5 V.
CELL_V_PLAUSIBLE = (1.0, 5.0)
# A cell's temperature in operation: -40..60 degC is the automotive operating range; above
# 100 degC a cell is past its separator's shutdown and into runaway (an assumed ceiling).
TEMP_C_PLAUSIBLE = (-40.0, 100.0)
KELVIN = 273.15
# Highest C-rate a cell log plausibly holds: power cells are rated 10-20C continuous (e.g.
# 35 A for a 2.8 Ah 18650); 30C leaves room for short pulses (an assumption).
MAX_C_RATE = 30.0
# Smallest plausible ohmic resistance of one cell: the largest prismatic LFP cells (300-600 Ah)
# are at 0.15-0.3 mOhm (datasheets); a log in mA makes a 20 mOhm cell look like 20 uOhm.
MIN_CELL_R_OHM = 5e-5


def check_units(cols: dict[str, np.ndarray], where: str, capacity_ah: float | None = None) -> None:
    """Refuse a log whose voltage, temperature or current is in the wrong unit, with the hint
    that fixes it. Judged on the median (voltage, temperature) and the 99th percentile of the
    current: a few bad rows are the firmware's to flag, a wrong unit moves them all."""
    v = float(np.median(cols["voltage_v"]))
    lo, hi = CELL_V_PLAUSIBLE
    if not lo <= v <= hi:
        if lo * 1e3 <= v <= hi * 1e3:
            hint = "voltage_v looks like mV: divide it by 1000"
        elif v > hi:
            hint = "is it a pack or module voltage? a cell log holds one cell's voltage"
        else:
            hint = "is it the right column, in volts?"
        raise LogFormatError(f"{where}: median voltage_v {v:g} is outside a cell's {lo:g}..{hi:g} V; {hint}")
    t = float(np.median(cols["temperature_c"]))
    lo, hi = TEMP_C_PLAUSIBLE
    if not lo <= t <= hi:
        hint = (
            f"temperature_c looks like kelvin: subtract {KELVIN}"
            if lo + KELVIN <= t <= hi + KELVIN
            else "is it the right column, in degC?"
        )
        raise LogFormatError(
            f"{where}: median temperature_c {t:g} is outside a cell's {lo:g}..{hi:g} degC; {hint}"
        )
    if capacity_ah is not None:
        i99 = float(np.percentile(np.abs(cols["current_a"]), 99))
        if i99 > MAX_C_RATE * capacity_ah:
            hint = (
                "current_a looks like mA: divide it by 1000"
                if i99 / 1e3 <= MAX_C_RATE * capacity_ah
                else "is it the right column, in A, for this cell?"
            )
            raise LogFormatError(
                f"{where}: current_a reaches {i99:g} A (99th percentile), over {MAX_C_RATE:g}C of the "
                f"{capacity_ah:g} Ah cell; {hint}"
            )


class StepEvidence:
    """The sign of the current, and its unit, from the voltage's jump at current steps: at a
    step the voltage moves by -R0*dI (current > 0 is discharge: more discharge current, lower
    voltage). Fed in order, chunk by chunk (the last row is carried over)."""

    MIN_STEPS = 10  # steps that move the voltage, before a verdict
    # 0.5 mV: five LSBs of a 16-bit cell-monitor AFE (100 uV, LTC6813 class)
    min_dv_v = 5e-4

    def __init__(self, step_a: float, max_dt_s: float = 10.0) -> None:
        self.step_a = step_a
        self.max_dt_s = max_dt_s
        self.prev: tuple[float, float, float] | None = None
        self.r: list[float] = []  # -dV/dI at each step

    def feed(self, cols: dict[str, np.ndarray]) -> None:
        t, i, v = cols["time_s"], cols["current_a"], cols["voltage_v"]
        if self.prev is not None:
            t = np.concatenate([[self.prev[0]], t])
            i = np.concatenate([[self.prev[1]], i])
            v = np.concatenate([[self.prev[2]], v])
        if len(t):
            self.prev = (float(t[-1]), float(i[-1]), float(v[-1]))
        if len(self.r) >= 1000 or len(t) < 2:
            return
        di, dv, dt = np.diff(i), np.diff(v), np.diff(t)
        # a step that does not move the voltage beyond its resolution says nothing
        m = (np.abs(di) > self.step_a) & (dt <= self.max_dt_s) & (np.abs(dv) >= self.min_dv_v)
        self.r.extend((-dv[m] / di[m]).tolist())

    def check(self, where: str) -> None:
        """Refuse a flipped sign or a current in mA once enough steps were seen."""
        if len(self.r) < self.MIN_STEPS:
            return
        r = np.asarray(self.r)
        if np.mean(r > 0) < 0.2:
            raise LogFormatError(
                f"{where}: current_a has the wrong sign: at {np.sum(r <= 0)} of {len(r)} current steps "
                "the voltage moves with the current; this bench takes current > 0 as discharge "
                "(negate current_a)"
            )
        r0 = float(np.median(r))
        if 0 < r0 < MIN_CELL_R_OHM:
            raise LogFormatError(
                f"{where}: the voltage moves {r0 * 1e3:.3g} mV per A at current steps, less than any "
                f"cell's resistance ({MIN_CELL_R_OHM * 1e3:g} mOhm); current_a looks like mA: divide "
                "it by 1000"
            )


def read_cell_log(path: str | Path, repeats_ok: bool = False) -> dict[str, np.ndarray]:
    """A cell log; truth columns are passed through when present."""
    return read_table(path, LOG_COLUMNS, TRUTH_COLUMNS, repeats_ok)


# A truth file: time_s and the true SoC (soc_true, or soc as lab exports name the cycler's
# amp-hour SoC), and the true core temperature where it is known (simulations; a lab log has
# only the surface).
TRUTH_OPTIONAL = ("soc_true", "soc", "core_temp_c_true")


def truth_columns(cols: dict[str, np.ndarray], where: str | Path) -> dict[str, np.ndarray]:
    """A truth chunk with soc_true and core_temp_c_true (nan where not known)."""
    out = dict(cols)
    if "soc" in out:
        if "soc_true" in out:
            raise LogFormatError(f"{where}: has both soc and soc_true; keep one")
        out["soc_true"] = out.pop("soc")
    if "soc_true" not in out:
        raise LogFormatError(f"{where}: missing column soc_true (or soc)")
    if "core_temp_c_true" not in out:
        out["core_temp_c_true"] = np.full(len(out["soc_true"]), np.nan)
    return out


def read_truth(path: str | Path) -> dict[str, np.ndarray]:
    return truth_columns(read_table(path, ("time_s",), TRUTH_OPTIONAL), path)


def dt_ms_from_time(time_s: np.ndarray) -> np.ndarray:
    """Per-row step lengths in ms (first row 0: it seeds the estimators)."""
    dt = np.zeros(len(time_s), dtype=np.int64)
    dt[1:] = np.rint(np.diff(time_s) * 1000.0).astype(np.int64)
    if len(dt) > 1 and np.any(dt[1:] < 1):
        r = int(np.argmax(dt[1:] < 1)) + 1
        raise LogFormatError(f"time step at row {r} is below 1 ms")
    return dt.astype(np.uint32)
