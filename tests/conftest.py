"""Shared fixtures: quiet, fast trainer settings and small series."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from support import QUIET_TRAINER, SHARED_DATA

for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "darts"):
    logging.getLogger(name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=".*litlogger.*")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The test models are tiny: one intra-op thread is several times faster than two on a busy 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
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
    """The benchmark data folder beside the checkout (CI has it; a user's clone may not)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA
