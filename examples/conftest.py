"""Run the example notebooks in their quick mode (nbmake); mark them ``notebooks``.

The notebooks run only when asked for: ``python -m pytest --nbmake examples -m notebooks`` (the default
``python -m pytest`` neither collects nor runs them). Their kernels inherit ``CROSSSCALE_QUICK=1`` (quick mode)
and ``OMP_NUM_THREADS=1`` (one torch thread, as the command line uses). The ETTh1 notebook is skipped when the
benchmark data are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NEEDS_DATA = {"04_etth1_backtest.ipynb"}


def pytest_configure(config: pytest.Config) -> None:
    """Set the kernels' environment when notebooks are to run (the kernels start after collection)."""
    if config.getoption("nbmake", default=False):
        os.environ["CROSSSCALE_QUICK"] = "1"
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every notebook ``notebooks``; skip those that need the benchmark data when it is absent."""
    has_data = bool(os.environ.get("CROSSSCALE_DATA_DIR")) or SHARED_DATA.is_dir()
    for item in items:
        if item.path.suffix != ".ipynb":
            continue
        item.add_marker(pytest.mark.notebooks)
        if item.path.name in NEEDS_DATA and not has_data:
            item.add_marker(pytest.mark.skip(reason=f"benchmark data folder {SHARED_DATA} is absent"))
