"""Run the example notebooks in their quick mode (nbmake); skip the ETTh1 one when the data are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["CROSSSCALE_QUICK"] = "1"  # the notebooks' kernels inherit it
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEEDS_DATA = {"04_etth1_backtest.ipynb"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark notebooks that need the benchmark data as skipped when neither data folder exists."""
    if os.environ.get("CROSSSCALE_DATA_DIR") or SHARED_DATA.is_dir():
        return
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_DATA:
            item.add_marker(pytest.mark.skip(reason=f"benchmark data folder {SHARED_DATA} is absent"))
