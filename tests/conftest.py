"""Shared fixtures: quiet, fast trainer settings and small series."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from darts import TimeSeries

for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "darts"):
    logging.getLogger(name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message=".*litlogger.*")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

QUIET_TRAINER = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}


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


def noisy_sine(length: int = 400, period: float = 24.0, noise: float = 0.1, seed: int = 0, n_components: int = 1,
               start=None) -> TimeSeries:
    """A float32 (multivariate) noisy sine with an hourly DatetimeIndex."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    phases = np.arange(n_components)[None, :] * 0.7
    values = np.sin(2 * np.pi * t / period + phases) + noise * rng.normal(size=(length, n_components))
    times = pd.date_range(start or "2024-01-01", periods=length, freq="h")
    return TimeSeries.from_times_and_values(times, values.astype("float32"),
                                            columns=[f"c{i}" for i in range(n_components)])


@pytest.fixture
def shared_data_dir() -> Path:
    """The benchmark data folder beside the checkout (CI has it; a user's clone may not)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA
