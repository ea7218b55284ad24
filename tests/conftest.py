from __future__ import annotations

import os
from pathlib import Path

import pytest

from bms.bench import shipped_cell
from bms.cells import CellModel

REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("BMS_REFERENCE_DATA", REPO / "tests" / "data" / "reference" / "chen2020-25c"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="session")
def lgm50() -> CellModel:
    """The shipped LG M50 cell model (shared: tests must not modify it)."""
    return shipped_cell()
