"""bms/logs.py: bad logs are refused with a message that names the problem."""

import gzip

import numpy as np
import pytest

from bms.errors import LogFormatError
from bms.logs import dt_ms_from_time, read_cell_log

HEADER = "time_s,current_a,voltage_v,temperature_c\n"


def _write(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


def test_reads_a_good_gzipped_log(tmp_path):
    p = _write(tmp_path, HEADER + "0,1,3.7,25\n1,1,3.69,25\n", "log.csv.gz")
    d = read_cell_log(p)
    assert np.allclose(d["voltage_v"], [3.7, 3.69])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (HEADER, "no data rows"),
        ("time_s,current_a,voltage_v\n0,1,3.7\n", "missing column(s) temperature_c"),
        (HEADER.strip() + ",humidity\n0,1,3.7,25,40\n", "unexpected column(s) humidity"),
        (HEADER + "0,1,3.7,25\n1,nan,3.7,25\n", "line 3 column current_a is nan"),
        (HEADER + "0,1,3.7,25\n1,1,inf,25\n", "line 3 column voltage_v is inf"),
        (HEADER + "0,1,3.7,25\n2,1,3.7,25\n1,1,3.7,25\n", "time goes backwards or repeats at line 4"),
        (HEADER + "0,1,3.7,25\n0,1,3.7,25\n", "time goes backwards or repeats at line 3"),
        (HEADER + "0,1,3.7\n", "line 2 has 3 fields"),
        (HEADER + "0,1,3.7,warm\n", "not a number"),
    ],
)
def test_bad_logs_are_refused(tmp_path, text, fragment):
    with pytest.raises(LogFormatError) as exc:
        read_cell_log(_write(tmp_path, text))
    assert fragment in str(exc.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(LogFormatError, match="file not found"):
        read_cell_log(tmp_path / "nope.csv")
    p = tmp_path / "broken.csv.gz"
    p.write_bytes(b"not gzip at all")
    with pytest.raises(LogFormatError, match="cannot be read"):
        read_cell_log(p)


def test_step_lengths():
    assert list(dt_ms_from_time(np.array([0.0, 0.8000000000001819, 1.8, 61.8]))) == [0, 800, 1000, 60000]
    with pytest.raises(LogFormatError, match="below 1 ms"):
        dt_ms_from_time(np.array([0.0, 0.0002]))
