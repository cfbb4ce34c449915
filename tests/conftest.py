"""Shared fixtures: quiet, fast trainer settings and small series; the ``slow`` mark of the full sktime checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from support import QUIET_TRAINER, SHARED_DATA

from crossscale_ext._lightning import silence_lightning

silence_lightning()

#: test files whose every test is ``slow`` (files owned elsewhere; marked here rather than in the file)
SLOW_FILES = {"test_sktime_estimator_checks.py"}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """One torch thread by default: the test models are tiny, and one thread is several times faster than two on a
    busy 2-core machine. ``CROSSSCALE_TEST_THREADS=2 python -m pytest`` runs the suite with two, so that results
    compared across batchings or code paths are also checked on another floating-point path.
    """
    threads = int(os.environ.get("CROSSSCALE_TEST_THREADS", "1"))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def trainer_kwargs() -> dict:
    """Lightning settings that keep test output clean (a fresh dict per test)."""
    return dict(QUIET_TRAINER)


@pytest.fixture
def shared_data_dir() -> Path:
    """The benchmark data folder: ``$CROSSSCALE_DATA_DIR``, else ``../shared/data`` beside the checkout (CI).

    Tests that need it skip when neither exists (a user's clone): see the README's "Benchmark data".
    """
    folder = Path(os.environ.get("CROSSSCALE_DATA_DIR") or SHARED_DATA)
    if not folder.is_dir():
        pytest.skip(f"benchmark data folder {folder} is absent: set CROSSSCALE_DATA_DIR to the folder with ETTh1.csv "
                    "and the other files (CI has them in ../shared/data)")
    return folder
