"""Shared by the hostile-input tests: a cell fitted from the reference logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.cli import run


@pytest.fixture(scope="module")
def cell_toml(reference_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cell") / "cell.toml"
    code, _, err = run("fit", reference_dir / "char.csv.gz", "-o", out)
    assert code == 0, err
    return out
